#!/usr/bin/env bash
# Minimal installs, as a new user gets them: a fresh venv holding the project (a non-editable
# `pip install .` of this checkout) and ONE provider SDK — openai, then anthropic. In each, an app
# under `opentelemetry-instrument` calls the local stand-in; the check passes when its call is
# priced (span received over OTLP/HTTP), stderr is empty, and no other SDK got imported; also with
# GENAI_COST_ENABLED=false, and for `genai_cost.configure()` in code.
#
#   bash scripts/ci-minimal.sh          # ends with "N passed, N failed"; exit 1 on any failure
#
# Venvs are rebuilt each run under ${GENAI_COST_MINIMAL_DIR:-${TMPDIR:-/tmp}/genai-cost-minimal}.
set -uo pipefail
cd "$(dirname "$0")/.."
root="${GENAI_COST_MINIMAL_DIR:-${TMPDIR:-/tmp}/genai-cost-minimal}"
python="${PYTHON:-python3}"
passed=0
failed=0

check() {  # check LABEL COMMAND...: pass when COMMAND exits 0; its output is shown on failure
    local label="$1"
    shift
    local out
    if out="$("$@" 2>&1)"; then
        passed=$((passed + 1))
        echo "ok   $label"
    else
        failed=$((failed + 1))
        echo "FAIL $label"
        echo "$out" | sed 's/^/     /'
    fi
}

only_stdout() {  # only_stdout COMMAND...: fails when COMMAND exits non-zero or writes to stderr
    local err
    err="$(mktemp)"
    "$@" 2>"$err"
    local rc=$?
    if [ -s "$err" ]; then
        echo "stderr was not empty:"
        cat "$err"
        rc=1
    fi
    rm -f "$err"
    return $rc
}

start=$(date +%s)
for sdk in openai anthropic; do
    venv="$root/$sdk"
    rm -rf "$venv"
    mkdir -p "$root"
    if ! { "$python" -m venv "$venv" && "$venv/bin/pip" install -q --disable-pip-version-check . "$sdk"; } \
        >"$root/$sdk-install.log" 2>&1; then
        failed=$((failed + 1))
        echo "FAIL $sdk: installing the project and $sdk into a fresh venv (log: $root/$sdk-install.log)"
        tail -20 "$root/$sdk-install.log" | sed 's/^/     /'
        continue
    fi
    py="$venv/bin/python"
    others=$("$py" -c "import importlib.util as u; print([m for m in ('openai','anthropic','google.genai','botocore') if u.find_spec(m)])")
    check "$sdk venv holds only $sdk of the SDKs: $others" test "$others" = "['$sdk']"
    check "$sdk under opentelemetry-instrument: priced, stderr empty" "$py" -m genai_cost.testing.first_run "$sdk"
    check "$sdk under opentelemetry-instrument, GENAI_COST_ENABLED=false: stderr empty" \
        "$py" -m genai_cost.testing.first_run "$sdk" --unpriced --env GENAI_COST_ENABLED=false
    check "$sdk: genai_cost.configure() in code, stderr empty" only_stdout env OTEL_SDK_DISABLED=false "$py" -c \
        "import genai_cost; genai_cost.configure(exporters=[]); import $sdk"
done
echo "ci-minimal took $(($(date +%s) - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
