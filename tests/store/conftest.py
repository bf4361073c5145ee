"""tests/store is a package (so this conftest never shadows the root one, which other suites
import as ``conftest``); its helpers and the gateway tests' helpers are imported by name."""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for folder in (_HERE, _HERE.parent / "gateway", _HERE.parent / "instrumentation" / "openai"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
