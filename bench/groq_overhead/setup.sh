#!/usr/bin/env bash
# Builds this benchmark's venv, leaving the project's .venv and the other benches' untouched.
# Idempotent.
#
#   bench/.venv-groq   genai-cost (editable), groq 1.x, OpenLLMetry's opentelemetry-instrumentation-groq
set -euo pipefail
cd "$(dirname "$0")/../.."   # the repository root
source bench/harness/venvs.sh

venv_install bench/.venv-groq -e . "groq>=1,<2" "opentelemetry-instrumentation-groq>=0.62,<0.63"
print_versions bench/.venv-groq groq opentelemetry-sdk httpx genai-cost opentelemetry-instrumentation-groq
