import sys
from pathlib import Path

# The gateway tests' helpers (a real gateway on free ports, real exporters, the genai-prices oracle).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "gateway"))
