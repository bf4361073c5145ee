#!/usr/bin/env bash
# Builds this benchmark's own venvs, leaving the project's .venv and the OpenAI bench's untouched.
# Idempotent.
#
#   bench/.venv-anthropic          genai-cost (editable), anthropic 2.x, OpenLLMetry's
#                                  opentelemetry-instrumentation-anthropic
#   bench/.venv-anthropic-openlit  OpenLIT: it pins anthropic<1 (and openai<3 and a dozen framework
#                                  instrumentations), so it gets the exact anthropic / OpenTelemetry /
#                                  httpx2 / pydantic versions of bench/.venv-anthropic (a constraints
#                                  file made from it) and then openlit itself with --no-deps plus the
#                                  few packages it imports. worker.py checks its span and answer.
set -euo pipefail
cd "$(dirname "$0")/../.."   # the repository root
PYTHON=${PYTHON:-python3}
PIP_QUIET=(--quiet --disable-pip-version-check)

OPENLLMETRY="opentelemetry-instrumentation-anthropic>=0.62,<0.63"
OPENLIT="openlit==1.45.0"

if [ ! -x bench/.venv-anthropic/bin/python ]; then
  "$PYTHON" -m venv bench/.venv-anthropic
fi
bench/.venv-anthropic/bin/python -m pip install "${PIP_QUIET[@]}" -e . "anthropic>=2,<3" "$OPENLLMETRY"

constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
bench/.venv-anthropic/bin/python -m pip freeze --exclude-editable 2>/dev/null \
  | grep -iE '^(anthropic|opentelemetry-(api|sdk|semantic-conventions|instrumentation|exporter-otlp-proto-http|exporter-otlp-proto-common|proto)|httpx2|httpcore2|pydantic|pydantic_core|wrapt|jiter|anyio|protobuf|typing_extensions|docstring_parser)==' \
  > "$constraints"

if [ ! -x bench/.venv-anthropic-openlit/bin/python ]; then
  "$PYTHON" -m venv bench/.venv-anthropic-openlit
fi
bench/.venv-anthropic-openlit/bin/python -m pip install "${PIP_QUIET[@]}" -c "$constraints" -e . anthropic requests schedule xmltodict pydantic
bench/.venv-anthropic-openlit/bin/python -m pip install "${PIP_QUIET[@]}" --no-deps "$OPENLIT"

for venv in bench/.venv-anthropic bench/.venv-anthropic-openlit; do
  "$venv/bin/python" - <<'PY'
import importlib.metadata as md, sys
names = ["anthropic", "opentelemetry-sdk", "httpx2", "genai-cost", "opentelemetry-instrumentation-anthropic", "openlit"]
found = []
for n in names:
    try:
        found.append(f"{n}=={md.version(n)}")
    except md.PackageNotFoundError:
        pass
print(sys.prefix + ": " + ", ".join(found))
PY
done
