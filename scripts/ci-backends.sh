#!/usr/bin/env bash
# Installs the real observability backends the interop tests (tests/backends/) start themselves:
#   - Prometheus (Debian package `prometheus`): scrapes the gateway and the SDK's /metrics endpoint and
#     evaluates every dashboard query and rule.
#   - Arize Phoenix and MLflow, each in its OWN venv under .backends/ (their dependencies are heavy and
#     clash with each other and with ours); the tests find them there (or via GENAI_COST_PHOENIX_PYTHON /
#     GENAI_COST_MLFLOW_PYTHON).
# Idempotent: a second run only re-checks. Prints how long each step took.
# `scripts/ci-backends.sh prometheus` installs only Prometheus (CI's quick path); no argument = all three.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WHAT=${1:-all}
step() { local t0=$SECONDS; "$@"; echo "ci-backends: $* took $((SECONDS - t0)) s" >&2; }

install_prometheus() {
  if command -v prometheus >/dev/null 2>&1; then return; fi
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq
  # --no-install-recommends: the web console assets and node exporter are not needed to evaluate queries.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The Debian package starts a system service on :9090 where a service manager runs; tests start their own.
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
}

backend_venv() {  # name, pip requirement...
  local dir=.backends/$1; shift
  if [ ! -x "$dir/bin/python" ]; then "$PYTHON" -m venv "$dir"; fi
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
}

case "$WHAT" in
  prometheus) step install_prometheus ;;
  phoenix) step backend_venv phoenix 'arize-phoenix>=12' ;;
  mlflow) step backend_venv mlflow 'mlflow>=3.1' ;;
  all)
    # The two venvs install side by side: most of their time is pip resolving and unpacking, not CPU.
    step backend_venv phoenix 'arize-phoenix>=12' &
    phoenix=$!
    step backend_venv mlflow 'mlflow>=3.1' &
    mlflow=$!
    step install_prometheus
    wait "$phoenix"
    wait "$mlflow"
    ;;
  *) echo "usage: $0 [all|prometheus|phoenix|mlflow]" >&2; exit 2 ;;
esac
