"""Budgets from the YAML file, the environment and configure(): what is accepted, and errors that
name the file, the key and the problem."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider

import genai_cost
from genai_cost import runtime
from genai_cost.budget import active_guard, install_guard
from genai_cost.budget.ledger.sqlite import SQLiteLedger
from genai_cost.config import ConfigError, load_file, load_settings
from genai_cost.context import set_default_attribution
from genai_cost.pricing import catalog, set_catalog

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
budgets:
  ledger: sqlite://DB
  fail_mode: closed
  timezone: Asia/Tokyo
  default_max_output_tokens: 1000
  policies:
    - {name: company, limit: 500}
    - name: search
      match: {team: search, model: "gpt-4o*"}
      limit: 20
      window: day
      thresholds: [80, 50]
      action: downgrade
      downgrade_to: gpt-4o-mini
      timezone: UTC
    - {name: per-user, per: user, limit: 2, window: hour, action: warn}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "genai-cost.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_budgets_section_is_read(tmp_path: Path) -> None:
    budgets = load_file(write(tmp_path, GOOD.replace("DB", str(tmp_path / "l.db")))).budgets
    assert (budgets.ledger, budgets.fail_mode, budgets.default_max_output_tokens) == (
        f"sqlite://{tmp_path / 'l.db'}",
        "closed",
        1000,
    )
    company, search, per_user = budgets.policies
    assert (company.window, company.action, company.timezone, company.thresholds) == (
        "month",
        "block",
        "Asia/Tokyo",  # the section's zone is every policy's default
        (50.0, 80.0, 95.0),
    )
    assert (search.match, search.thresholds, search.downgrade_to, search.timezone) == (
        {"team": "search", "model": "gpt-4o*"},
        (50.0, 80.0),
        "gpt-4o-mini",
        "UTC",
    )
    assert (per_user.per, per_user.window, per_user.action) == ("user", "hour", "warn")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("policies: [{name: a, limit: 1, windw: day}]", "budgets.policies[0].windw: unknown key; allowed: name, limit"),
        ("policies: [{limit: 1}]", "budgets.policies[0].name: is required"),
        ("policies: [{name: a, limit: -1}]", "budgets.policies[0].limit: must be >= 0.0, got -1"),
        (
            "policies: [{name: a, limit: 1, window: week}]",
            "budgets.policies[0].window: expected one of hour, day, month",
        ),
        ("policies: [{name: a, limit: 1, action: downgrade}]", "budgets.policies[0].downgrade_to: is required"),
        ("policies: [{name: a, limit: 1, downgrade_to: x}]", "budgets.policies[0].downgrade_to: only applies"),
        ("policies: [{name: a, limit: 1, match: {colour: red}}]", "budgets.policies[0].match.colour: unknown key"),
        ("policies: [{name: a, limit: 1, per: country}]", "budgets.policies[0].per: expected one of project"),
        ("policies: [{name: a, limit: 1, thresholds: [150]}]", "budgets.policies[0].thresholds[0]: must be between"),
        ("policies: [{name: a, limit: 1, timezone: Mars/Olympus}]", "budgets.policies[0].timezone: unknown time zone"),
        ("policies: [{name: 'a b', limit: 1}]", "budgets.policies[0].name: expected letters"),
        ("policies: [{name: a, limit: 1}, {name: a, limit: 2}]", "budgets.policies: is used by two budgets"),
        ("ledger: postgres://db", "budgets.ledger: expected memory, sqlite:///path or redis://"),
        ("fail_mode: maybe", "budgets.fail_mode: expected one of open, closed, got 'maybe'"),
        ("timeout: 60", "budgets.timeout: must be between"),
    ],
)
def test_bad_budgets_name_file_key_and_problem(tmp_path: Path, section: str, message: str) -> None:
    path = write(tmp_path, "budgets:\n  " + section + "\n")
    with pytest.raises(ConfigError) as raised:
        load_file(path)
    assert str(raised.value).startswith(f"{path}: ")
    assert message in str(raised.value)


def test_the_environment_chooses_the_ledger_and_fail_mode(tmp_path: Path) -> None:
    path = write(tmp_path, "budgets:\n  policies: [{name: a, limit: 1}]\n")
    env = {
        "GENAI_COST_CONFIG": str(path),
        "GENAI_COST_LEDGER": "redis://cache:6379/2",
        "GENAI_COST_BUDGET_FAIL_MODE": "closed",
    }
    budgets = load_settings(env).budgets
    assert (budgets.ledger, budgets.fail_mode, len(budgets.policies)) == ("redis://cache:6379/2", "closed", 1)
    with pytest.raises(ConfigError, match="GENAI_COST_LEDGER: expected memory"):
        load_settings({"GENAI_COST_LEDGER": "mysql://x"})
    with pytest.raises(ConfigError, match="GENAI_COST_BUDGET_FAIL_MODE: expected open or closed"):
        load_settings({"GENAI_COST_BUDGET_FAIL_MODE": "sometimes"})


@pytest.fixture
def restore_globals() -> Iterator[None]:
    saved_catalog, saved_aliases = catalog(), runtime.amount_aliases
    yield
    install_guard(None)
    set_catalog(saved_catalog)
    runtime.amount_aliases = saved_aliases
    set_default_attribution({})


def test_configure_in_code_installs_the_guard(tmp_path: Path, restore_globals: None) -> None:
    genai_cost.configure(
        tracer_provider=TracerProvider(),
        instrument=False,
        budgets=[genai_cost.BudgetPolicy("company", limit=5.0), {"name": "per-user", "per": "user", "limit": 1.0}],
        ledger=f"sqlite://{tmp_path / 'ledger.db'}",
        budget_fail_mode="closed",
    )
    guard = active_guard()
    assert guard is not None and isinstance(guard.ledger, SQLiteLedger)
    assert [p.name for p in guard.policies] == ["company", "per-user"] and guard.fail_mode == "closed"
    # Configuring again without budgets takes the guard away.
    genai_cost.configure(tracer_provider=TracerProvider(), instrument=False, budgets=[])
    assert active_guard() is None


def test_a_ledger_that_cannot_be_opened_is_a_config_error(tmp_path: Path, restore_globals: None) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(ConfigError, match=r"budgets\.ledger: cannot open 'sqlite://.*not-a-directory/ledger\.db'"):
        genai_cost.configure(
            tracer_provider=TracerProvider(),
            instrument=False,
            budgets=[{"name": "a", "limit": 1}],
            ledger=f"sqlite://{blocker / 'ledger.db'}",
        )


@pytest.mark.parametrize(
    ("budgets", "message"),
    [
        ([{"name": "a", "limit": 1, "action": "stop"}], "budget 'a': action: expected one of warn, block, downgrade"),
        ([{"name": "a", "limt": 1}], "budgets: "),
    ],
)
def test_configure_rejects_bad_budgets_by_key(budgets: list, message: str, restore_globals: None) -> None:
    with pytest.raises(ConfigError) as raised:
        genai_cost.configure(tracer_provider=TracerProvider(), instrument=False, budgets=budgets)
    assert str(raised.value).startswith("configure(): ") and message in str(raised.value)


def test_the_example_runs() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "budgets" / "budgets.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    decisions = [line.split()[0] for line in lines if line.startswith("  ") and not line.startswith("  call")]
    assert decisions[0] == "allow" and "downgrade" in decisions and decisions[-1] == "block"
    assert "blocked, no request sent" in done.stdout
    assert "per-user[alice]" in done.stdout
