"""``genai-cost budget status`` in its own process, reading the SQLite file or the real Redis server
this process spends on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from budget_support import RedisServer, redis_server

from genai_cost import attributes as attr
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.policy import BudgetSettings
from genai_cost.budget.windows import window_at
from genai_cost.config import load_file

CONFIG = """\
budgets:
  ledger: {ledger}
  policies:
    - {{name: company, limit: 10, window: month}}
    - {{name: per-user, per: user, limit: 1, window: day, action: warn}}
"""
CALL = {attr.REQUEST_MODEL: "gpt-4o-mini", attr.PROVIDER_NAME: "openai"}
__all__ = ["redis_server"]  # a fixture, used through ledger_url


def genai_cost(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GENAI_COST_")}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "genai_cost.cli", *args],
        capture_output=True,
        text=True,
        env=environment,
        timeout=60,
        check=False,
    )


def write_config(tmp_path: Path, ledger: str) -> Path:
    path = tmp_path / "genai-cost.yaml"
    path.write_text(CONFIG.format(ledger=ledger), encoding="utf-8")
    return path


@pytest.fixture(params=["sqlite", "redis"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A shared ledger the CLI can read: a SQLite file, or a real redis-server."""
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'ledger.db'}"
    server: RedisServer = request.getfixturevalue("redis_server")
    server.flush()
    return server.url


@pytest.fixture
def guard(tmp_path: Path, ledger_url: str) -> Iterator[BudgetGuard]:
    """The application side: a guard on the SQLite ledger, from the same config file."""
    settings: BudgetSettings = load_file(write_config(tmp_path, ledger_url)).budgets
    guard = BudgetGuard.from_settings(settings)
    yield guard
    guard.close()


def spend(guard: BudgetGuard, amount: float, **attributes: str) -> Any:
    decision = guard.reserve({**CALL, **attributes}, input_tokens=10, max_output_tokens=10)
    assert decision is not None and not decision.blocked
    if amount:
        guard.settle(decision, amount)
    return decision


def test_status_json_reads_what_another_process_spent(tmp_path: Path, guard: BudgetGuard) -> None:
    spend(guard, 2.5, **{attr.USER_ID: "alice"})
    spend(guard, 0.75, **{attr.USER_ID: "bob"})
    in_flight = spend(guard, 0, **{attr.USER_ID: "bob"})  # reserved, not settled yet
    config = str(tmp_path / "genai-cost.yaml")
    result = genai_cost("--config", config, "budget", "status", "--json")
    assert result.returncode == 0, result.stderr
    rows = {(r["name"], r["scope"]): r for r in json.loads(result.stdout)}
    assert set(rows) == {("company", ""), ("per-user", "alice"), ("per-user", "bob")}
    company = rows["company", ""]
    assert company["spent"] == pytest.approx(3.25, abs=1e-9)
    assert company["reserved"] == pytest.approx(in_flight.estimate, abs=1e-6)
    assert company["remaining"] == pytest.approx(10 - 3.25 - company["reserved"], abs=1e-6)
    now = datetime.now(UTC).timestamp()
    assert company["window_name"] == window_at("month", now).name
    assert company["reset_at"] == window_at("month", now).reset_at.isoformat()
    assert company["projected"] >= company["spent"]  # this window's pace over a whole month
    assert company["status"] is None
    alice = rows["per-user", "alice"]
    assert alice["spent"] == pytest.approx(2.5, abs=1e-9) and alice["remaining"] == 0  # over (warn)
    assert alice["reset_at"] == window_at("day", now).reset_at.isoformat()
    guard.settle(in_flight, 0.01)


def test_status_table(tmp_path: Path, guard: BudgetGuard, ledger_url: str) -> None:
    spend(guard, 1.25, **{attr.USER_ID: "carol"})
    result = genai_cost("--config", str(tmp_path / "genai-cost.yaml"), "budget", "status")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"ledger {ledger_url}"
    assert lines[1].split()[:7] == ["budget", "window", "spent", "reserved", "limit", "remaining", "used"]
    company = next(line.split() for line in lines if line.startswith("company"))
    assert company[2:8] == ["1.25", "0", "10", "USD", "8.75", "12.5%"]
    assert company[-2:] == ["block", "ok"]
    carol = next(line.split() for line in lines if line.startswith("per-user[carol]"))
    assert carol[2] == "1.25" and carol[-2:] == ["warn", "ok"]


def test_ledger_from_the_environment(tmp_path: Path, guard: BudgetGuard, ledger_url: str) -> None:
    spend(guard, 0.5)
    config = write_config(tmp_path / "..", "memory")  # the file says memory; the environment wins
    result = genai_cost(
        "budget", "status", "--json", env={"GENAI_COST_CONFIG": str(config), "GENAI_COST_LEDGER": ledger_url}
    )
    assert result.returncode == 0, result.stderr
    [company] = [r for r in json.loads(result.stdout) if r["name"] == "company"]
    assert company["spent"] == pytest.approx(0.5, abs=1e-9)
    result = genai_cost("budget", "status", "--json", "--ledger", ledger_url, env={"GENAI_COST_CONFIG": str(config)})
    assert result.returncode == 0, result.stderr


def test_memory_ledger_is_explained_not_shown_as_zero(tmp_path: Path) -> None:
    result = genai_cost("--config", str(write_config(tmp_path, "memory")), "budget", "status")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "in memory" in result.stderr and "GENAI_COST_LEDGER" in result.stderr
    assert "genai_cost.budget_status()" in result.stderr


def test_no_budgets_configured(tmp_path: Path) -> None:
    empty = tmp_path / "empty.yaml"
    empty.write_text("attribution: {team: search}\n", encoding="utf-8")
    result = genai_cost("--config", str(empty), "budget", "status")
    assert result.returncode == 1
    assert "no budgets configured" in result.stderr


def test_unreadable_ledger_says_why(tmp_path: Path) -> None:
    broken = tmp_path / "not-a-db.sqlite"
    broken.write_bytes(b"this is not a SQLite database file" * 100)
    result = genai_cost("--config", str(write_config(tmp_path, f"sqlite://{broken}")), "budget", "status", "--json")
    assert result.returncode == 1
    assert result.stderr.startswith(f"genai-cost: cannot read the budget ledger sqlite://{broken}: ")
    assert "not a database" in result.stderr and "Traceback" not in result.stderr


def test_bad_config_names_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("budgets:\n  policies:\n    - {name: x, limit: 1, windw: day}\n", encoding="utf-8")
    result = genai_cost("--config", str(bad), "budget", "status")
    assert result.returncode == 2
    assert f"{bad}: budgets.policies[0].windw: unknown key" in result.stderr


def test_mistyped_sqlite_path_is_an_error_and_creates_nothing(tmp_path: Path) -> None:
    # Reading must not create: a new empty ledger would report every budget "ok" with zero spend.
    missing = tmp_path / "typo" / "dir" / "ledger.db"
    config = write_config(tmp_path, "memory")
    result = genai_cost("budget", "status", "--config", str(config), "--ledger", f"sqlite://{missing}")
    assert result.returncode == 2
    assert result.stdout == ""
    assert f"no budget ledger at {missing}" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "typo").exists()
