#!/usr/bin/env bash
# Builds this benchmark's venvs, leaving the project's .venv and the other benches' untouched.
# Idempotent.
#
#   bench/.venv-cohere          genai-cost (editable), cohere 7.x
#   bench/.venv-cohere-openlit  OpenLIT 1.45 (it wraps ClientV2.chat / chat_stream), pinned to
#                               bench/.venv-cohere's versions (bench/harness/venvs.sh)
# OpenLLMetry's opentelemetry-instrumentation-cohere 0.62 instruments cohere < 6 only: no row.
set -euo pipefail
cd "$(dirname "$0")/../.."   # the repository root
source bench/harness/venvs.sh

venv_install bench/.venv-cohere -e . "cohere>=7,<8"
openlit_venv bench/.venv-cohere bench/.venv-cohere-openlit "cohere|httpx|httpcore|fastavro|tokenizers" \
  cohere requests schedule xmltodict pydantic
for venv in bench/.venv-cohere bench/.venv-cohere-openlit; do
  print_versions "$venv" cohere opentelemetry-sdk httpx genai-cost openlit
done
