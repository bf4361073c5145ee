"""Post-hoc spend (``BudgetGuard.record``): a cost already incurred is added to every matching
budget's window of the call's start time, on memory, a SQLite file and a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from budget_support import CALL, RedisServer, ledger_url_for, redis_server

from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import open_ledger, to_micros
from genai_cost.budget.policy import BudgetPolicy

__all__ = ["redis_server"]

NOON = datetime(2027, 3, 10, 12, 0, tzinfo=UTC).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "sqlite", "redis"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return ledger_url_for(request.param, request, tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock(NOON)


@pytest.fixture
def guard(ledger_url: str, clock: Clock) -> Iterator[BudgetGuard]:
    policies = [
        BudgetPolicy("daily", limit=1.0, window="day", thresholds=(50, 80), action="block"),
        BudgetPolicy("search", limit=10.0, window="month", match={"team": "search"}),
    ]
    opened = BudgetGuard(policies, open_ledger(ledger_url, timeout=2.0), clock=clock)
    yield opened
    opened.close()


def spent(guard: BudgetGuard) -> dict[str, int]:
    return {f"{s.name}/{s.window_name}": to_micros(s.spent) for s in guard.status()}


def test_record_adds_exact_micro_units_to_every_matching_budget(guard: BudgetGuard) -> None:
    for cost in (0.000123, 0.0471, 0.3333337, 0.000001):  # 123 + 47_100 + 333_334 + 1 micro-units
        decision = guard.record({**CALL, "genai_cost.team": "search"}, cost)
        assert decision is not None and decision.decision == "allow" and decision.status is None
    assert spent(guard) == {"daily/2027-03-10": 380_558, "search/2027-03": 380_558}
    assert guard.record({**CALL, "genai_cost.team": "other"}, 0.5).budget.name == "daily"  # only daily covers it
    assert spent(guard) == {"daily/2027-03-10": 880_558, "search/2027-03": 380_558}


def test_record_never_blocks_and_fires_each_threshold_once(guard: BudgetGuard) -> None:
    alerts = []
    guard.on_alert.append(alerts.append)
    decisions = [guard.record(CALL, 0.3) for _ in range(5)]  # 0.3, 0.6, 0.9, 1.2, 1.5 of 1.0
    crossed = [[c.threshold for c in d.crossings] for d in decisions]
    assert crossed == [[], [50], [80], [], []]
    assert [d.decision for d in decisions] == ["allow", "allow", "allow", "warn", "warn"]
    assert decisions[-1].budget.spent == pytest.approx(1.5) and decisions[-1].budget.remaining == 0.0
    assert [(a.kind, a.threshold) for a in alerts if a.kind == "threshold"] == [("threshold", 50), ("threshold", 80)]
    assert spent(guard)["daily/2027-03-10"] == 1_500_000


def test_a_late_batch_lands_in_the_window_of_its_calls(guard: BudgetGuard, clock: Clock) -> None:
    yesterday = NOON - 86_400
    guard.record(CALL, 0.25, at=NOON - 60)
    clock.now = NOON + 86_400 - 12 * 3600 + 30  # just after midnight: a new day
    late = guard.record(CALL, 0.5, at=NOON - 120)  # a call of the day before, exported late
    assert late.budget.window_name == "2027-03-10" and late.budget.spent == pytest.approx(0.75)
    assert [c.threshold for c in late.crossings] == [50]
    assert guard.record(CALL, 0.1, at=yesterday) is None  # that window closed long ago: not touched
    assert guard.record(CALL, 0.1, at=clock.now + 3600).budget.window_name == "2027-03-11"  # skew counts as now
    assert spent(guard) == {"daily/2027-03-11": 100_000, "search/2027-03": 0}


def test_an_unreachable_ledger_records_nothing_and_says_so(tmp_path: Path, redis_server: RedisServer) -> None:
    guard = BudgetGuard([BudgetPolicy("daily", limit=1.0, window="day")], open_ledger(redis_server.url, timeout=0.2))
    try:
        redis_server.stop()
        decision = guard.record(CALL, 0.2)
        assert decision is not None and decision.decision == "allow"
        assert decision.status.startswith("not recorded: ledger unavailable")
        assert "genai_cost.budget.spent" not in decision.span_attributes()
        again = guard.record(CALL, 0.2)  # within retry_after: the ledger is not asked again
        assert again.status == "not recorded: the ledger was unreachable moments ago"
    finally:
        redis_server.start()
        guard.close()


def test_a_batch_is_recorded_in_order_in_one_operation(guard: BudgetGuard, clock: Clock) -> None:
    search = {**CALL, "genai_cost.team": "search"}
    calls = [
        (search, 0.3, None),
        (CALL, 0.3, None),
        ({"gen_ai.request.model": "x"}, 0.1, NOON - 60),
        (search, 0.5, None),
    ]
    alerts = []
    guard.on_alert.append(alerts.append)
    first, second, third, fourth = guard.record_many(calls)
    assert (first.budget.name, first.budget.spent) == ("daily", pytest.approx(0.3))
    assert second.budget.spent == pytest.approx(0.6) and [c.threshold for c in second.crossings] == [50]
    assert third.budget.spent == pytest.approx(0.7)  # every call matches the plain daily budget
    assert fourth.decision == "warn" and fourth.budget.spent == pytest.approx(1.2)
    assert [c.threshold for c in fourth.crossings] == [80]
    assert [a.threshold for a in alerts if a.kind == "threshold"] == [50, 80]
    assert spent(guard) == {"daily/2027-03-10": 1_200_000, "search/2027-03": 800_000}
    assert guard.record_many([]) == []
