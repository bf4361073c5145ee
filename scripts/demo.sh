#!/usr/bin/env bash
# The end-to-end demo on a fresh machine: install, then run an OpenAI app under
# opentelemetry-instrument against a local stand-in and print each call's cost and trace totals.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python examples/demo.py
