#!/usr/bin/env bash
# Builds this benchmark's venv, leaving the project's .venv and the other benches' untouched.
# Idempotent.
#
#   bench/.venv-mistral   genai-cost (editable), mistralai 3.x. No peer: OpenLLMetry's
#                         opentelemetry-instrumentation-mistralai 0.62 and OpenLIT 1.45 both wrap
#                         mistralai.chat.Chat (1.x's layout; 3.x moved it to mistralai.client.chat).
set -euo pipefail
cd "$(dirname "$0")/../.."   # the repository root
source bench/harness/venvs.sh

venv_install bench/.venv-mistral -e . "mistralai>=3,<4"
print_versions bench/.venv-mistral mistralai opentelemetry-sdk httpx2 genai-cost
