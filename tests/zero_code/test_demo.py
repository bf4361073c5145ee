"""The README's first command: ``examples/demo.py`` (what ``scripts/demo.sh`` runs once installed)
prints each call's cost, each trace's total and one exported span's attributes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


def test_demo_shows_priced_calls_trace_totals_and_a_span() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GENAI_COST_", "OTEL_", "OPENAI_"))}
    done = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, env=environment, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert len(re.findall(r"trace total +\$0\.\d{8}  over 3 calls", out)) == 2, out
    assert "one call's span as exported ('chat gpt-4o-mini', kind CLIENT):" in out, out
    span = out.split("one call's span as exported", 1)[1]
    for line in ("genai_cost.status               'priced'", "genai_cost.currency             'USD'"):
        assert line in span, span
    assert re.search(r"genai_cost.amount +\d", span), span
