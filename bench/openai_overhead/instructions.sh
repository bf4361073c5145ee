#!/usr/bin/env bash
# Instructions per SDK-free call, counted by callgrind: repeatable to <1% whatever the machine's load,
# unlike any timing. The --micro set-up of profile_genai_cost.py, run with 700 and with 200 calls;
# the difference over 500, summed over all threads (export and metrics threads included).
#
#   bash bench/openai_overhead/instructions.sh chat full        # ~1 min each
#   bash bench/openai_overhead/instructions.sh stream no-budget
#   bash bench/openai_overhead/instructions.sh chat floor
#
# Also printed: the caller's thread alone (callgrind's thread 1, the main thread that makes the
# calls): what the call itself costs, without the export and metrics threads' work.
set -euo pipefail
cd "$(dirname "$0")"
MODE=${1:-chat}
CONFIG=${2:-full}
PYTHON=${PYTHON:-../.venv/bin/python}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
  valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out/cg.$1" \
    "$PYTHON" profile_genai_cost.py --mode "$MODE" --instructions "$CONFIG:$1" >/dev/null 2>&1
  all=$(cat "$out"/cg."$1"-* | awk '/^summary:/ {s += $2} END {printf "%.0f", s}')
  caller=$(awk '/^summary:/ {printf "%.0f", $2}' "$out"/cg."$1"-01)
  echo "$all $caller"
}
read -r low low_caller <<<"$(count 200)"
read -r high high_caller <<<"$(count 700)"
echo "$MODE $CONFIG: $(( (high - low) / 500 )) instructions per call, $(( (high_caller - low_caller) / 500 )) on the caller's thread"
