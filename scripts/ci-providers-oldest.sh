#!/usr/bin/env bash
# The second-wave providers' tests at their oldest supported SDK releases (issue 15), each in a
# venv of its own (.venv-oldest-<sdk>, reused when present: idempotent). Beside each SDK, the
# OpenLLMetry instrumentation that supports that release, so its foreign-span test runs too.
# About 6-8 minutes with a warm pip cache on a 2-core machine.
#
#   bash scripts/ci-providers-oldest.sh            # all six
#   bash scripts/ci-providers-oldest.sh groq       # one
set -euo pipefail
cd "$(dirname "$0")/.."   # the repository root

declare -A PINS=(
  # 1.9.3: the first release that keeps usage.prompt_tokens_details (prompt-cache hits).
  [mistral]="mistralai==1.9.3 opentelemetry-instrumentation-mistralai>=0.62,<0.63"
  # groq 0.9.0 predates httpx 0.28 (it passes proxies= to httpx.Client).
  [groq]="groq==0.9.0 httpx<0.28 opentelemetry-instrumentation-groq>=0.62,<0.63"
  # 5.9: the first with the v2 client; OpenLLMetry's cohere instrumentation supports cohere < 6.
  [cohere]="cohere==5.9.0 opentelemetry-instrumentation-cohere>=0.62,<0.63"
  # 2.0: the first Stainless-generated SDK.
  [together]="together==2.0.0"
  # 0.6.0: the oldest the pyproject allows (>=0.6), beside OpenLLMetry's ollama instrumentation.
  [ollama]="ollama==0.6.0 opentelemetry-instrumentation-ollama>=0.62,<0.63"
  # 1.110.0: the oldest allowed (>=1.110; the withdrawn 1.82.7/1.82.8 are below it). Its tests
  # route to openai and anthropic and make the mixed app's direct Ollama and Mistral calls.
  [litellm]="litellm==1.110.0 anthropic ollama>=0.6 mistralai>=1.9.3"
)

for sdk in "${@:-mistral groq cohere together ollama litellm}"; do
  for name in $sdk; do
    venv=".venv-oldest-$name"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    # shellcheck disable=SC2086  # the pins are words
    "$venv/bin/pip" install -q -e . pytest pytest-asyncio hypothesis ${PINS[$name]}
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "tests/instrumentation/$name"
  done
done
