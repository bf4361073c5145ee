#!/usr/bin/env bash
# The "oldest" set: builds a venv with the lowest supported release of every SDK and of
# OpenTelemetry (tests/requirements/oldest.txt, the same versions as pyproject.toml's lower
# bounds) and runs the instrumentation and core tests in it. Extra args go to pytest.
#
#   bash scripts/test-oldest.sh            # venv in .venv-oldest (rebuilt when oldest.txt changes)
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
trap 'echo "test-oldest took $(($(date +%s) - start)) s"' EXIT
venv=.venv-oldest
constraints=tests/requirements/oldest.txt
stamp="$venv/.oldest-$(sha256sum "$constraints" pyproject.toml | sha256sum | cut -c1-16)"
if [ ! -e "$stamp" ]; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -c "$constraints" -e . \
        openai anthropic google-genai boto3 botocore opentelemetry-distro opentelemetry-instrumentation-botocore \
        "pytest>=8" "pytest-asyncio>=0.23" "hypothesis>=6" 2> >(grep -v "^WARNING: Location" >&2)
    touch "$stamp"
fi
"$venv/bin/pip" freeze --disable-pip-version-check | grep -iE "^(openai|anthropic|google-genai|boto3|botocore|opentelemetry-(api|sdk|instrumentation)|wrapt|genai-prices)==" | tr '\n' ' '
echo
# The second-wave providers have their own oldest set (scripts/ci-providers-oldest.sh): their
# SDKs are not in this venv.
second_wave=()
for sdk in mistral groq cohere together ollama litellm; do second_wave+=(--ignore "tests/instrumentation/$sdk"); done
second_wave+=(--ignore tests/zero_code/test_zero_code_ollama_litellm.py --ignore tests/pricing/test_self_hosted_gpu_time.py)
"$venv/bin/python" -m pytest -q -p no:cacheprovider "${second_wave[@]}" \
    tests/instrumentation tests/unit tests/pricing tests/processor tests/zero_code tests/testing "$@"
