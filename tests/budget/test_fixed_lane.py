"""The guard's common call (every budget covers every call, in-memory ledger) goes through the
ledger's fixed ``Lane``; whatever does not simply fit falls back to the general path. Both must
keep one account and decide exactly as the general path alone would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from budget_support import CALL

from genai_cost.budget.estimate import estimate_cost
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger.memory import MemoryLedger
from genai_cost.budget.policy import BudgetPolicy

NOW = datetime(2026, 12, 11, 12, tzinfo=UTC).timestamp()
ESTIMATE = estimate_cost("gpt-4o-mini", 1000, 500, provider_name="openai")


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_calls_that_fit_take_the_lane_and_share_the_ledgers_account() -> None:
    ledger = MemoryLedger()
    guard = BudgetGuard([BudgetPolicy("b", limit=1.0)], ledger, clock=lambda: NOW)
    first = guard.reserve(CALL, input_tokens=1000, max_output_tokens=500)
    assert first is not None and first.decision == "allow" and first.ticket.lane is not None
    second = guard.reserve(CALL, input_tokens=1000, max_output_tokens=500)
    assert second is not None and second.budget is not None
    # The second call saw the first one's reservation.
    assert second.budget.reserved == pytest.approx(first.ticket.estimate / 1e6)
    guard.settle(first, 0.25)
    guard.release(second)
    (status,) = guard.status()
    assert (status.spent, status.reserved) == (pytest.approx(0.25), 0.0)
    assert first.span_attributes()["genai_cost.budget.spent"] == pytest.approx(0.25)


def test_a_call_that_does_not_fit_reserves_nothing_on_the_lane_and_is_decided_by_the_general_path() -> None:
    assert ESTIMATE is not None
    ledger = MemoryLedger()
    guard = BudgetGuard([BudgetPolicy("hard", limit=ESTIMATE * 1.5, action="block")], ledger, clock=lambda: NOW)
    allowed = guard.reserve(CALL, input_tokens=1000, max_output_tokens=500)
    assert allowed is not None and allowed.decision == "allow"
    blocked = guard.reserve(CALL, input_tokens=1000, max_output_tokens=500)
    assert blocked is not None and blocked.decision == "block"
    (status,) = guard.status()
    # Only the first call's estimate is held: the refused one left nothing behind.
    assert status.reserved == pytest.approx(allowed.ticket.estimate / 1e6)


def test_a_soft_budget_over_its_limit_warns_through_the_general_path() -> None:
    guard = BudgetGuard([BudgetPolicy("soft", limit=0.000001, action="warn")], MemoryLedger(), clock=lambda: NOW)
    decision = guard.reserve(CALL, input_tokens=1000, max_output_tokens=500)
    assert decision is not None and decision.decision == "warn" and decision.ticket.lane is None


def test_nested_budgets_describe_the_one_with_least_left() -> None:
    guard = BudgetGuard(
        [BudgetPolicy("wide", limit=100.0), BudgetPolicy("narrow", limit=5.0, window="day")],
        MemoryLedger(),
        clock=lambda: NOW,
    )
    decision = guard.reserve(CALL, input_tokens=10, max_output_tokens=10)
    assert decision is not None and decision.ticket.lane is not None
    assert decision.budget is not None and decision.budget.name == "narrow"
    guard.settle(decision, 1.0)
    assert {row.name: row.spent for row in guard.status()} == {"wide": 1.0, "narrow": 1.0}


def test_the_lane_follows_the_window_over_a_boundary() -> None:
    clock = Clock(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp())
    guard = BudgetGuard([BudgetPolicy("day", limit=10.0, window="day")], MemoryLedger(), clock=clock)
    before = guard.reserve(CALL, input_tokens=10, max_output_tokens=10)
    assert before is not None
    guard.settle(before, 2.0)
    clock.now += 2  # 2027-01-01
    after = guard.reserve(CALL, input_tokens=10, max_output_tokens=10)
    assert after is not None and after.budget is not None
    assert (after.budget.window_name, after.budget.spent) == ("2027-01-01", 0.0)
    guard.settle(after, 3.0)
    (status,) = guard.status()
    assert (status.window_name, status.spent) == ("2027-01-01", 3.0)


def test_thresholds_still_fire_once_through_the_lane() -> None:
    guard = BudgetGuard([BudgetPolicy("b", limit=10.0, thresholds=(50, 80))], MemoryLedger(), clock=lambda: NOW)
    alerts = []
    guard.on_alert.append(alerts.append)
    crossed = []
    for cost in (4.0, 2.0, 1.0, 2.0):
        decision = guard.reserve(CALL, input_tokens=10, max_output_tokens=10)
        assert decision is not None
        crossed.append([c.threshold for c in guard.settle(decision, cost)])
    assert crossed == [[], [50], [], [80]]
    assert [a.threshold for a in alerts if a.kind == "threshold"] == [50, 80]


@pytest.mark.parametrize("cost", [float("nan"), float("inf"), -1.0, 1e300])
def test_an_implausible_cost_never_reaches_the_ledger_through_the_lane(cost: float) -> None:
    guard = BudgetGuard([BudgetPolicy("b", limit=10.0)], MemoryLedger(), clock=lambda: NOW)
    decision = guard.reserve(CALL, input_tokens=10, max_output_tokens=10)
    assert decision is not None and decision.ticket.lane is not None
    guard.settle(decision, cost)
    (status,) = guard.status()
    assert (status.spent, status.reserved) == (0.0, 0.0)
