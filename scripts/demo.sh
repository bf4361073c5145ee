#!/usr/bin/env bash
# The end-to-end demo on a fresh machine: install, then run an OpenAI app under
# opentelemetry-instrument against a local stand-in and print each call's cost and trace totals.
# Installs only what the demo uses (genai-cost and the openai SDK), not the test suite's extras.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh openai
exec .venv/bin/python examples/demo.py
