#!/usr/bin/env bash
# Instructions per call of a provider bench's application, counted by callgrind over all threads
# (export and metrics threads included): 400 calls minus 100 calls, over 300. Repeatable to ~1%
# under any load, unlike timings; "bare" is the SDK alone, so VARIANT minus bare is what it adds.
#
#   bash bench/harness/instructions.sh ollama genai-cost stream     # ~1-2 min each
#   bash bench/harness/instructions.sh ollama bare stream
set -euo pipefail
cd "$(dirname "$0")/.."   # bench/
BENCH=$1 VARIANT=$2 MODE=${3:-chat}
PYTHON=${PYTHON:-.venv-$BENCH/bin/python}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/cg.$1" \
    "$PYTHON" harness/calls.py "$BENCH" "$VARIANT" "$MODE" "$1" >/dev/null 2>&1
  cat "$out"/cg."$1"-* | awk '/^summary:/ {s += $2} END {printf "%.0f\n", s}'
}
low=$(count 100)
high=$(count 400)
echo "$BENCH $VARIANT $MODE: $(( (high - low) / 300 )) instructions per call"
