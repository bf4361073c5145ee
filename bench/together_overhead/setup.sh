#!/usr/bin/env bash
# Builds this benchmark's venv, leaving the project's .venv and the other benches' untouched.
# Idempotent.
#
#   bench/.venv-together   genai-cost (editable), together 3.x. No peer: OpenLLMetry's
#                          opentelemetry-instrumentation-together 0.62 instruments together < 2, and
#                          OpenLIT 1.45 wraps together.resources.chat.completions.ChatCompletions,
#                          which the Stainless-generated SDK (2.0 and later) no longer has.
set -euo pipefail
cd "$(dirname "$0")/../.."   # the repository root
source bench/harness/venvs.sh

venv_install bench/.venv-together -e . "together>=3,<4"
print_versions bench/.venv-together together opentelemetry-sdk httpx genai-cost
