#!/usr/bin/env bash
# Creates .venv (if missing) and installs genai-cost into it with the extras named by $1
# (default: test, everything the suite needs; the demo asks for openai only).
# Idempotent: a second run only re-checks the install.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
EXTRAS=${1:-test}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip 2>/dev/null || true
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$EXTRAS]"
# The budget ledger tests start a real redis-server of their own (on a free port).
if [ "$EXTRAS" = test ] && ! command -v redis-server >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq redis-server >/dev/null; } ||
    echo "bootstrap: could not install redis-server; the Redis budget ledger tests need it" >&2
fi
