#!/usr/bin/env bash
# Instructions per GenAI span of the gateway's in-process work, counted by callgrind: repeatable to
# <1% whatever the machine's load. 4 rounds minus 1 round of 16 x 512 spans, over 3 x 8192 spans.
#
#   bash bench/gateway_instructions.sh priced          # ~3 min each under load
#   bash bench/gateway_instructions.sh priced window
#   bash bench/gateway_instructions.sh read | decide | pass
#   SRC=/tmp/old/src bash bench/gateway_instructions.sh priced    # another tree (git archive)
set -euo pipefail
cd "$(dirname "$0")"
STAGE=${1:-priced}
WINDOW=${2:-}
PYTHON=${PYTHON:-../.venv/bin/python}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
  PYTHONPATH=${SRC:-../src} valgrind --tool=callgrind --callgrind-out-file="$out/cg.$1" \
    "$PYTHON" gateway_instructions.py "$1" "$STAGE" $WINDOW >/dev/null 2>&1
  awk '/^summary:/ {print $2}' "$out/cg.$1"
}
low=$(count 1)
high=$(count 4)
echo "$STAGE ${WINDOW:-nowindow}: $(( (high - low) / (3 * 16 * 512) )) instructions per span"
