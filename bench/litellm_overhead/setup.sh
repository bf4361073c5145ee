#!/usr/bin/env bash
# Builds this benchmark's venv, leaving the project's .venv and the other benches' untouched.
# Idempotent.
#
#   bench/.venv-litellm   genai-cost (editable), litellm 1.110+ (its OpenTelemetry callback included)
set -euo pipefail
cd "$(dirname "$0")/../.."   # the repository root
source bench/harness/venvs.sh

venv_install bench/.venv-litellm -e . "litellm>=1.110,!=1.82.7,!=1.82.8" "opentelemetry-exporter-otlp-proto-http"
print_versions bench/.venv-litellm litellm openai opentelemetry-sdk genai-cost
