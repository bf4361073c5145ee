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
# Servers and a browser the tests start themselves, from Debian: redis-server for the budget
# ledger tests (on a free port), Chromium for the visual report's browser test (headless).
if [ "$EXTRAS" = test ] && command -v apt-get >/dev/null 2>&1; then
  missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  if [ ${#missing[@]} -gt 0 ]; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    { $SUDO apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
      echo "bootstrap: could not install ${missing[*]}; the tests that need them will fail" >&2
  fi
fi
