#!/usr/bin/env bash
# The test suite on a fresh machine: install, then run pytest (extra args are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/python -m pytest -q "$@"
