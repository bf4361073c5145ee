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
"$venv/bin/python" -m pytest -q -p no:cacheprovider \
    tests/instrumentation tests/unit tests/pricing tests/processor tests/zero_code tests/testing "$@"
