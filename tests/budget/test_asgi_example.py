"""The README's web-app example runs as documented: one command, everything local."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "budgets" / "http_app.py"


def test_http_app_example() -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("GENAI_COST_", "OTEL_"))}
    result = subprocess.run(
        [sys.executable, str(EXAMPLE)], capture_output=True, text=True, env=environment, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    statuses = [line.split("-> ")[1] for line in lines if "GET /answer" in line]
    run = f"the example printed:\n{result.stdout}\nand logged:\n{result.stderr}"
    assert statuses[:3] == ["200", "200", "200"], run
    assert len(statuses) == 6, run
    assert all(s.startswith("429 Retry-After: ") and s.endswith("budget 'search-daily'") for s in statuses[3:5]), run
    assert statuses[5] == "200", run  # team ads: no budget covers it
    assert "the provider saw 4 requests: the blocked ones never left the app" in lines
    slack = lines[lines.index("the Slack channel got:") + 1 :]
    assert any("passed 50% of its limit" in line for line in slack)
    assert any(":no_entry: budget search-daily blocked a call" in line for line in slack)
    assert any(line.startswith("search-daily ") and line.rstrip().endswith("block   ok") for line in lines)
