#!/usr/bin/env bash
# Builds this benchmark's own venvs, leaving the project's .venv and the OpenAI bench's untouched.
# Idempotent.
#
#   bench/.venv-anthropic          genai-cost (editable), anthropic 2.x, OpenLLMetry's
#                                  opentelemetry-instrumentation-anthropic
#   bench/.venv-anthropic-openlit  OpenLIT: it pins anthropic<1 (and openai<3 and a dozen framework
#                                  instrumentations), so it gets the exact anthropic / OpenTelemetry /
#                                  httpx2 / pydantic versions of bench/.venv-anthropic
#                                  (bench/harness/venvs.sh) and then openlit itself with --no-deps plus
#                                  the few packages it imports. worker.py checks its span and answer.
set -euo pipefail
cd "$(dirname "$0")/../.."   # the repository root
source bench/harness/venvs.sh

OPENLLMETRY="opentelemetry-instrumentation-anthropic>=0.62,<0.63"

venv_install bench/.venv-anthropic -e . "anthropic>=2,<3" "$OPENLLMETRY"
openlit_venv bench/.venv-anthropic bench/.venv-anthropic-openlit 'anthropic|docstring_parser' \
  anthropic requests schedule xmltodict pydantic

for venv in bench/.venv-anthropic bench/.venv-anthropic-openlit; do
  print_versions "$venv" anthropic opentelemetry-sdk httpx2 genai-cost opentelemetry-instrumentation-anthropic openlit
done
