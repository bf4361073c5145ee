# Sourced by each bench's setup.sh (from the repository root): the steps every bench's venvs share.
# OpenLIT pins old SDK majors (openai<3, anthropic<1) beside a dozen framework instrumentations, so
# each bench gives it a venv of its own with the exact SDK / OpenTelemetry / httpx2 / pydantic
# versions of the bench's main venv (a constraints file made from it), then openlit --no-deps.
PYTHON=${PYTHON:-python3}
PIP_QUIET=(--quiet --disable-pip-version-check)
OPENLIT="openlit==1.45.0"
# What the OpenLIT venv must match in the main venv, besides the provider SDK itself.
SHARED_PINS='opentelemetry-(api|sdk|semantic-conventions|instrumentation|exporter-otlp-proto-http|exporter-otlp-proto-common|proto)|httpx2|httpcore2|pydantic|pydantic_core|wrapt|jiter|anyio|protobuf|typing_extensions'

# venv_install VENV PACKAGE...: create VENV if absent, then pip install into it.
venv_install() {
  local venv=$1
  shift
  if [ ! -x "$venv/bin/python" ]; then
    "$PYTHON" -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install "${PIP_QUIET[@]}" "$@"
}

# pinned_venv MAIN_VENV VENV SDK_PINS PACKAGE...: a venv with MAIN_VENV's versions of SDK_PINS (a regex
# alternation) and SHARED_PINS, genai-cost editable, and PACKAGEs (a peer that cannot share MAIN_VENV).
pinned_venv() {
  local main=$1 venv=$2 pins=$3
  shift 3
  local constraints
  constraints=$(mktemp)
  "$main/bin/python" -m pip freeze --exclude-editable 2>/dev/null | grep -iE "^($pins|$SHARED_PINS)==" > "$constraints"
  venv_install "$venv" -c "$constraints" -e . "$@"
  rm -f "$constraints"
}

# openlit_venv MAIN_VENV OPENLIT_VENV SDK_PINS PACKAGE...: OpenLIT's venv, pinned to MAIN_VENV's
# versions of SDK_PINS (a regex alternation) and SHARED_PINS; PACKAGEs are what openlit imports.
openlit_venv() {
  local venv=$2
  pinned_venv "$@"
  "$venv/bin/python" -m pip install "${PIP_QUIET[@]}" --no-deps "$OPENLIT"
}

# print_versions VENV DISTRIBUTION...: which of these each venv holds, for the bench's notes.
print_versions() {
  local venv=$1
  shift
  "$venv/bin/python" - "$@" <<'PY'
import importlib.metadata as md, sys
found = []
for name in sys.argv[1:]:
    try:
        found.append(f"{name}=={md.version(name)}")
    except md.PackageNotFoundError:
        pass
print(sys.prefix + ": " + ", ".join(found))
PY
}
