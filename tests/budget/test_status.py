"""budget_status(), the status table and the remaining-budget gauge, over real guards and ledgers."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from budget_support import RedisServer
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import genai_cost
from conftest import metric_points
from genai_cost import attributes as attr
from genai_cost.budget import install_guard
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import open_ledger
from genai_cost.budget.ledger.memory import MemoryLedger
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.budget.status import format_table, register_remaining_gauge, status_json

# 10 days into December 2026 (31 days), in UTC.
NOW = datetime(2026, 12, 11, tzinfo=UTC).timestamp()
CALL = {attr.REQUEST_MODEL: "gpt-4o-mini", attr.PROVIDER_NAME: "openai", attr.TEAM: "search"}


def spend(guard: BudgetGuard, amount: float, **attributes: str) -> None:
    decision = guard.reserve({**CALL, **attributes}, input_tokens=10, max_output_tokens=10)
    assert decision is not None and not decision.blocked
    guard.settle(decision, amount)


@pytest.fixture
def guard() -> Iterator[BudgetGuard]:
    policies = [
        BudgetPolicy("everything", limit=100.0),
        BudgetPolicy("search-daily", limit=5.0, window="day", match={"team": "search"}, action="warn"),
        BudgetPolicy("per-user", limit=1.0, per="user", action="warn"),
    ]
    guard = BudgetGuard(policies, MemoryLedger(), clock=lambda: NOW)
    yield guard
    guard.close()


def test_budget_status_reads_the_installed_guard(guard: BudgetGuard) -> None:
    spend(guard, 10.0)
    spend(guard, 0.25, **{attr.USER_ID: "alice"})
    previous = install_guard(guard)
    try:
        rows = {(s.name, s.scope): s for s in genai_cost.budget_status()}
    finally:
        install_guard(previous)
    everything = rows["everything", ""]
    assert everything.spent == pytest.approx(10.25, abs=1e-9)
    assert everything.remaining == pytest.approx(89.75, abs=1e-9)
    assert everything.reserved == 0
    assert everything.reset_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert everything.projected == pytest.approx(10.25 / 10 * 31, abs=1e-9)  # this pace over December
    daily = rows["search-daily", ""]
    assert daily.window_name == "2026-12-11" and daily.reset_at == datetime(2026, 12, 12, tzinfo=UTC)
    assert daily.remaining == 0  # over its limit (warn): nothing left, never negative
    assert rows["per-user", "alice"].spent == pytest.approx(0.25, abs=1e-9)
    assert ("per-user", "") not in rows  # fan-outs list the scopes that have spent


def test_budget_status_without_budgets_is_empty() -> None:
    previous = install_guard(None)
    try:
        assert genai_cost.budget_status() == []
    finally:
        install_guard(previous)


def test_table_and_json(guard: BudgetGuard) -> None:
    spend(guard, 10.0)
    spend(guard, 0.5, **{attr.USER_ID: "bob"})
    statuses = guard.status()
    table = format_table(statuses, datetime.fromtimestamp(NOW, UTC)).splitlines()
    header = "budget window spent reserved limit remaining used resets projected/month action status"
    assert table[0].split() == header.split()
    everything = next(line for line in table if line.startswith("everything"))
    expected = "everything 2026-12 10.5 0 100 USD 89.5 10.5% 2027-01-01 00:00Z (in 21d 0h) 32.55 block ok"
    assert everything.split() == expected.split()
    assert any(line.startswith("per-user[bob]") for line in table)
    [row] = [r for r in status_json(statuses) if r["name"] == "everything"]
    assert row["spent"] == pytest.approx(10.5) and row["reset_at"] == "2027-01-01T00:00:00+00:00"


def gauge_points(reader: InMemoryMetricReader) -> dict[tuple[Any, ...], float]:
    points = metric_points(reader, attr.METRIC_BUDGET_REMAINING)
    return {
        (p.attributes[attr.BUDGET_NAME], p.attributes.get(attr.BUDGET_SCOPE), p.attributes[attr.BUDGET_WINDOW]): p.value
        for p in points
    }


def test_remaining_gauge_follows_spend(guard: BudgetGuard) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    current: list[BudgetGuard | None] = [guard]
    register_remaining_gauge(lambda: current[0], provider)
    spend(guard, 1.5)
    assert gauge_points(reader) == {
        ("everything", None, "month"): pytest.approx(98.5, abs=1e-9),
        ("search-daily", None, "day"): pytest.approx(3.5, abs=1e-9),
    }
    spend(guard, 0.5, **{attr.USER_ID: "carol"})
    points = gauge_points(reader)
    assert points["everything", None, "month"] == pytest.approx(98.0, abs=1e-9)
    assert points["per-user", "carol", "month"] == pytest.approx(0.5, abs=1e-9)
    current[0] = None  # budgets switched off: the gauge reports nothing
    assert gauge_points(reader) == {}
    provider.shutdown()


def test_gauge_skips_budgets_it_cannot_read(tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    guard = BudgetGuard([BudgetPolicy("everything", limit=1.0)], open_ledger(server.url), clock=lambda: NOW)
    try:
        register_remaining_gauge(lambda: guard, provider)
        spend(guard, 0.25)
        assert gauge_points(reader) == {("everything", None, "month"): pytest.approx(0.75, abs=1e-9)}
        server.stop()
        assert gauge_points(reader) == {}  # Redis is down: no made-up figure
        [row] = guard.status()
        assert row.status is not None and row.status.startswith("ledger unavailable")
    finally:
        server.stop()
        guard.close()
        provider.shutdown()
