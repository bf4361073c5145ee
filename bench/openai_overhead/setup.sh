#!/usr/bin/env bash
# Builds the benchmark's own venvs, leaving the project's .venv untouched. Idempotent.
#
#   bench/.venv          genai-cost (editable), openai 3.x, the official
#                        opentelemetry-instrumentation-genai-openai, OpenLLMetry, OpenInference, py-spy
#   bench/.venv-openlit  OpenLIT alone: it pins openai<3 (and anthropic<1, and a dozen web-framework
#                        instrumentations), so it cannot be installed beside openai 3.x. It gets the
#                        exact openai / OpenTelemetry / httpx2 / pydantic versions of bench/.venv
#                        (a constraints file made from it) and then openlit itself with --no-deps plus
#                        the few packages it imports on the OpenAI path. Its OpenAI instrumentation
#                        runs fine on openai 3.x for chat completions (checked by worker.py: one span
#                        per call, and the caller gets the right answer).
set -euo pipefail
cd "$(dirname "$0")/../.."   # the repository root
PYTHON=${PYTHON:-python3}
PIP_QUIET=(--quiet --disable-pip-version-check)

OFFICIAL="opentelemetry-instrumentation-genai-openai==1.3b0"
OPENLLMETRY="opentelemetry-instrumentation-openai>=0.62,<0.63"
OPENINFERENCE="openinference-instrumentation-openai"
OPENLIT="openlit==1.45.0"

if [ ! -x bench/.venv/bin/python ]; then
  "$PYTHON" -m venv bench/.venv
fi
bench/.venv/bin/python -m pip install "${PIP_QUIET[@]}" -e . "openai>=3" "$OFFICIAL" "$OPENLLMETRY" "$OPENINFERENCE" py-spy

constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
bench/.venv/bin/python -m pip freeze --exclude-editable 2>/dev/null \
  | grep -iE '^(openai|opentelemetry-(api|sdk|semantic-conventions|instrumentation|exporter-otlp-proto-http|exporter-otlp-proto-common|proto)|httpx2|httpcore2|pydantic|pydantic_core|wrapt|jiter|anyio|protobuf|typing_extensions)==' \
  > "$constraints"

if [ ! -x bench/.venv-openlit/bin/python ]; then
  "$PYTHON" -m venv bench/.venv-openlit
fi
bench/.venv-openlit/bin/python -m pip install "${PIP_QUIET[@]}" -c "$constraints" -e . openai requests schedule xmltodict pydantic
bench/.venv-openlit/bin/python -m pip install "${PIP_QUIET[@]}" --no-deps "$OPENLIT"

for venv in bench/.venv bench/.venv-openlit; do
  "$venv/bin/python" - <<'EOF'
import importlib.metadata as md, sys
names = ["openai", "opentelemetry-sdk", "httpx2", "genai-cost", "opentelemetry-instrumentation-genai-openai",
         "opentelemetry-instrumentation-openai", "openinference-instrumentation-openai", "openlit"]
found = []
for n in names:
    try:
        found.append(f"{n}=={md.version(n)}")
    except md.PackageNotFoundError:
        pass
print(sys.prefix + ": " + ", ".join(found))
EOF
done
