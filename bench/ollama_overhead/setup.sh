#!/usr/bin/env bash
# Builds this benchmark's venv, leaving the project's .venv and the other benches' untouched.
# Idempotent.
#
#   bench/.venv-ollama   genai-cost (editable), ollama 0.6.x, OpenLLMetry's
#                        opentelemetry-instrumentation-ollama
set -euo pipefail
cd "$(dirname "$0")/../.."   # the repository root
source bench/harness/venvs.sh

venv_install bench/.venv-ollama -e . "ollama>=0.6,<0.7" "opentelemetry-instrumentation-ollama>=0.62,<0.63"
print_versions bench/.venv-ollama ollama opentelemetry-sdk httpx genai-cost opentelemetry-instrumentation-ollama
