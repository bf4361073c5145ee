#!/usr/bin/env bash
# Builds the benchmark's own venvs, leaving the project's .venv untouched. Idempotent.
#
#   bench/.venv          genai-cost (editable), openai 3.x, the official
#                        opentelemetry-instrumentation-genai-openai, OpenLLMetry, OpenInference, py-spy
#   bench/.venv-openai-v2  the older official opentelemetry-instrumentation-openai-v2 2.4b0: it imports
#                        opentelemetry.util.genai.instruments, which opentelemetry-util-genai 1.3b0 (what
#                        genai-openai 1.3b0 needs) no longer has, so it gets util-genai 1.1b0 in a venv of
#                        its own, pinned to bench/.venv's versions otherwise (and httpx, which it imports).
#   bench/.venv-openlit  OpenLIT alone: it pins openai<3, so it cannot be installed beside openai 3.x
#                        (bench/harness/venvs.sh: the same versions as bench/.venv, openlit --no-deps,
#                        plus the few packages it imports on the OpenAI path). Its OpenAI instrumentation
#                        runs fine on openai 3.x for chat completions (checked by worker.py: one span
#                        per call, and the caller gets the right answer).
set -euo pipefail
cd "$(dirname "$0")/../.."   # the repository root
source bench/harness/venvs.sh

OFFICIAL="opentelemetry-instrumentation-genai-openai==1.3b0"
OPENLLMETRY="opentelemetry-instrumentation-openai>=0.62,<0.63"
OPENINFERENCE="openinference-instrumentation-openai"
OPENAI_V2=("opentelemetry-instrumentation-openai-v2==2.4b0" "opentelemetry-util-genai==1.1b0" httpx)

venv_install bench/.venv -e . "openai>=3" "$OFFICIAL" "$OPENLLMETRY" "$OPENINFERENCE" py-spy
openlit_venv bench/.venv bench/.venv-openlit openai openai requests schedule xmltodict pydantic
pinned_venv bench/.venv bench/.venv-openai-v2 openai openai "${OPENAI_V2[@]}"

for venv in bench/.venv bench/.venv-openai-v2 bench/.venv-openlit; do
  print_versions "$venv" openai opentelemetry-sdk httpx2 genai-cost opentelemetry-instrumentation-genai-openai \
    opentelemetry-instrumentation-openai opentelemetry-instrumentation-openai-v2 opentelemetry-util-genai \
    openinference-instrumentation-openai openlit
done
