"""The guard's decisions over a real in-memory ledger: nesting, fan-out, thresholds, actions,
and what an unreachable ledger does under each fail mode."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from budget_support import CALL, free_port, spend

from genai_cost import BudgetExceeded
from genai_cost import attributes as attr
from genai_cost.budget.estimate import estimate_cost
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import lease_at, to_micros
from genai_cost.budget.ledger.memory import MemoryLedger
from genai_cost.budget.ledger.redis import RedisLedger
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.budget.state import BudgetAlert

NOW = datetime(2026, 12, 11, 12, tzinfo=UTC).timestamp()
# What spend() reserves: 1000 tokens in, 500 out, at gpt-4o-mini's price.
ESTIMATE = estimate_cost("gpt-4o-mini", 1000, 500, provider_name="openai")


def make_guard(*policies: BudgetPolicy, ledger: object = None, **kwargs: object) -> BudgetGuard:
    return BudgetGuard(policies, ledger or MemoryLedger(), clock=lambda: NOW, **kwargs)  # type: ignore[arg-type]


def test_the_estimate_is_input_plus_max_output_at_the_models_price() -> None:
    guard = make_guard(BudgetPolicy("b", limit=1.0))
    decision = guard.reserve(CALL, input_tokens=1000, max_output_tokens=500)
    assert decision is not None and decision.decision == "allow"
    assert ESTIMATE is not None and decision.estimate == pytest.approx(1000 * 0.15e-6 + 500 * 0.6e-6)
    (status,) = guard.status()
    assert status.reserved == pytest.approx(math.ceil(ESTIMATE * 1e6) / 1e6)
    guard.settle(decision, 0.0001)
    (status,) = guard.status()
    assert (status.spent, status.reserved) == (pytest.approx(0.0001), 0.0)


def test_no_max_tokens_assumes_the_configured_default_output() -> None:
    guard = make_guard(BudgetPolicy("b", limit=1.0), default_max_output_tokens=1000)
    decision = guard.reserve(CALL, input_tokens=0, max_output_tokens=None)
    assert decision is not None and decision.estimate == pytest.approx(1000 * 0.6e-6)


def test_a_call_must_pass_every_matching_budget() -> None:
    guard = make_guard(
        BudgetPolicy("company", limit=1.0),
        BudgetPolicy("search", limit=0.001, match={"team": "search"}),
        BudgetPolicy("other-team", limit=0.0, match={"team": "ads"}),
    )
    search = {attr.TEAM: "search"}
    assert spend(guard, 0.0009, **search).decision == "allow"
    blocked = spend(guard, 0.0, **search)
    assert (blocked.decision, blocked.budget.name) == ("block", "search")
    # A blocked call reserved nothing anywhere: the company budget still shows only real spend.
    rows = {s.name: s for s in guard.status()}
    assert rows["company"].spent == pytest.approx(0.0009) and rows["company"].reserved == 0
    # Calls of another team are not covered by "search"; "ads" (limit 0) covers only its own.
    assert spend(guard, 0.0001, **{attr.TEAM: "infra"}).decision == "allow"
    assert spend(guard, 0.0, **{attr.TEAM: "ads"}).budget.name == "other-team"


def test_patterns_match_models_and_providers() -> None:
    guard = make_guard(BudgetPolicy("mini", limit=0.0, match={"model": "gpt-4o-mini*", "provider": "openai"}))
    assert spend(guard, 0.0).decision == "block"
    assert guard.reserve({**CALL, attr.REQUEST_MODEL: "gpt-4o"}, input_tokens=1, max_output_tokens=1) is None


def test_fan_out_gives_each_user_their_own_budget() -> None:
    guard = make_guard(BudgetPolicy("per-user", limit=0.0005, per="user"))
    assert spend(guard, 0.0005, **{attr.USER_ID: "alice"}).decision == "allow"
    alice = spend(guard, 0.0, **{attr.USER_ID: "alice"})
    assert (alice.decision, alice.budget.scope) == ("block", "alice")
    assert spend(guard, 0.0001, **{attr.USER_ID: "bob"}).decision == "allow"
    # A call without a user is outside a per-user budget.
    assert guard.reserve(CALL, input_tokens=1, max_output_tokens=1) is None
    assert {(s.scope, s.spent) for s in guard.status()} == {("alice", 0.0005), ("bob", 0.0001)}


def test_block_raises_with_budget_limit_spent_and_reset() -> None:
    guard = make_guard(BudgetPolicy("daily", limit=0.001, window="day"))
    spend(guard, 0.001)
    decision = spend(guard, 0.0)
    error = decision.exception()
    assert isinstance(error, BudgetExceeded)
    assert (error.budget, error.limit, error.spent, error.window) == ("daily", 0.001, pytest.approx(0.001), "day")
    assert error.reset_at == datetime(2026, 12, 12, tzinfo=UTC)
    assert error.estimate == pytest.approx(ESTIMATE)


def test_warn_and_downgrade_let_the_call_go_on() -> None:
    guard = make_guard(
        BudgetPolicy("soft", limit=0.0001, action="warn"),
        BudgetPolicy("cheap", limit=0.0001, match={"team": "search"}, action="downgrade", downgrade_to="gpt-4.1-nano"),
    )
    warned = spend(guard, 0.0002)
    assert (warned.decision, warned.budget.name, warned.model) == ("warn", "soft", "gpt-4o-mini")
    downgraded = spend(guard, 0.0002, **{attr.TEAM: "search"})
    assert (downgraded.decision, downgraded.model, downgraded.original_model) == (
        "downgrade",
        "gpt-4.1-nano",
        "gpt-4o-mini",
    )
    assert downgraded.span_attributes()[attr.BUDGET_ORIGINAL_MODEL] == "gpt-4o-mini"


def test_allow_describes_the_budget_with_least_left() -> None:
    guard = make_guard(BudgetPolicy("big", limit=10.0), BudgetPolicy("small", limit=1.0))
    decision = spend(guard, 0.5)
    assert decision.span_attributes()[attr.BUDGET_NAME] == "small"
    assert decision.budget.remaining == pytest.approx(0.5)


def test_thresholds_fire_once_per_window_each() -> None:
    alerts: list[BudgetAlert] = []
    now = [NOW]
    guard = BudgetGuard(
        [BudgetPolicy("b", limit=1.0, window="day", action="warn")], MemoryLedger(), clock=lambda: now[0]
    )
    guard.on_alert.append(alerts.append)
    crossed = [[c.threshold for c in spend(guard, cost).crossings] for cost in (0.4, 0.2, 0.0, 0.3, 0.05, 0.5, 0.0)]
    # The 6th call still fitted (0.95 + its estimate <= 1.0) and took spend past the limit; the
    # 7th is over it, and warned.
    assert crossed == [[], [50.0], [], [80.0], [95.0], [], []]
    assert [a.kind for a in alerts] == ["threshold", "threshold", "threshold", "warn"]
    now[0] += 86_400  # the next day: thresholds arm again
    assert [c.threshold for c in spend(guard, 0.85).crossings] == [50.0, 80.0]
    assert alerts[-1].window_name == "2026-12-12" and alerts[-1].dedup_key == "b||2026-12-12|threshold:80"


def test_release_gives_a_failed_calls_estimate_back() -> None:
    guard = make_guard(BudgetPolicy("b", limit=1.0))
    decision = guard.reserve(CALL, input_tokens=1000, max_output_tokens=500)
    assert decision is not None
    guard.release(decision)
    guard.release(decision)  # twice is harmless
    guard.settle(decision, 1.0)  # and so is settling after release: nothing is counted twice
    (status,) = guard.status()
    assert (status.spent, status.reserved) == (0.0, 0.0)


def test_an_unknown_model_reserves_nothing_but_cannot_start_past_the_limit() -> None:
    guard = make_guard(BudgetPolicy("b", limit=0.001))
    unknown = {**CALL, attr.REQUEST_MODEL: "no-such-model-xyz"}
    decision = guard.reserve(unknown, input_tokens=1000, max_output_tokens=500)
    assert decision is not None and (decision.decision, decision.estimate) == ("allow", None)
    guard.settle(decision, 0.001)
    assert guard.reserve(unknown, input_tokens=1, max_output_tokens=1).decision == "block"


def test_a_failing_alert_sink_does_not_break_the_call() -> None:
    guard = make_guard(BudgetPolicy("b", limit=0.0))

    def broken(alert: BudgetAlert) -> None:
        raise RuntimeError("sink down")

    seen: list[BudgetAlert] = []
    guard.on_alert += [broken, seen.append]
    assert spend(guard, 0.0).decision == "block"
    assert [a.kind for a in seen] == ["block"]


def test_money_is_integer_micro_units() -> None:
    assert to_micros(0.1 + 0.2) == 300_000
    ledger = MemoryLedger()
    guard = make_guard(BudgetPolicy("b", limit=1.0), ledger=ledger)
    for _ in range(10):
        spend(guard, 0.1)
    (balance,) = ledger.balances("", lease_at(NOW)).values()
    assert balance.spent == 1_000_000 and isinstance(balance.spent, int)


@pytest.mark.parametrize(("mode", "expected"), [("open", "allow"), ("closed", "block")])
def test_an_unreachable_ledger_applies_the_fail_mode(mode: str, expected: str) -> None:
    # A real Redis client pointed at a port nobody listens on.
    ledger = RedisLedger(f"redis://127.0.0.1:{free_port()}/0", timeout=0.05)
    guard = make_guard(BudgetPolicy("b", limit=1.0), ledger=ledger, fail_mode=mode)
    decision = spend(guard, 0.001)
    assert decision.decision == expected
    assert decision.status.startswith(f"fail_{mode}: ledger unavailable")
    assert decision.span_attributes()[attr.BUDGET_STATUS] == decision.status
    assert attr.BUDGET_SPENT not in decision.span_attributes()  # unknown, not zero
    # Within retry_after the guard does not even try the ledger again.
    again = spend(guard, 0.001)
    assert again.decision == expected and "moments ago" in again.status
    if mode == "closed":
        assert "fail_closed" in str(decision.exception())
    (status,) = guard.status()
    assert status.status is not None and "unavailable" in status.status


def test_a_downgrade_is_judged_by_hard_budgets_at_the_cheaper_models_price() -> None:
    # The requested gpt-4o would not fit the hard per-user budget, but the team budget swaps it
    # for gpt-4o-mini, which does: the call goes on, downgraded, reserving mini's estimate.
    guard = make_guard(
        BudgetPolicy("premium", limit=0.0, match={"model": "gpt-4o"}, action="downgrade", downgrade_to="gpt-4o-mini"),
        BudgetPolicy("per-user", limit=0.001, per="user"),
    )
    call = {**CALL, attr.REQUEST_MODEL: "gpt-4o", attr.USER_ID: "alice"}
    decision = guard.reserve(call, input_tokens=1000, max_output_tokens=500)
    assert decision is not None
    assert (decision.decision, decision.model, decision.budget.name) == ("downgrade", "gpt-4o-mini", "premium")
    assert decision.estimate == pytest.approx(ESTIMATE)
    # Without the downgrade budget the same call is blocked by the per-user one.
    strict = make_guard(BudgetPolicy("per-user", limit=0.001, per="user"))
    assert strict.reserve(call, input_tokens=1000, max_output_tokens=500).decision == "block"
