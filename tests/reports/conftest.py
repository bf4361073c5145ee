import sys
from pathlib import Path

# traffic.py (the synthetic spend) and the gateway tests' helpers (a real gateway, real exporters).
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "gateway"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "store"))
