"""Budgets end to end: the real openai SDK speaking HTTP to the local stand-in, instrumented by
genai-cost, with a guard over a real ledger. A blocked call sends no HTTP request."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "instrumentation" / "openai"))
from budget_support import free_port
from openai_support import MESSAGES, aclient, client, instrumented, no_content_capture

from conftest import attrs, only_span
from genai_cost import BudgetExceeded
from genai_cost import attributes as attr
from genai_cost.budget import install_guard
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import Ledger, lease_at, to_micros
from genai_cost.budget.ledger.memory import MemoryLedger
from genai_cost.budget.ledger.redis import RedisLedger
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.context import cost_context
from genai_cost.testing import StubProvider

__all__ = ["aclient", "client", "instrumented", "no_content_capture"]


class Budgets:
    """Installs a guard for one test and takes it away again."""

    def __init__(self) -> None:
        self.guard: BudgetGuard | None = None

    def set(self, *policies: BudgetPolicy, ledger: Ledger | None = None, fail_mode: str = "open") -> BudgetGuard:
        self.guard = BudgetGuard(policies, ledger or MemoryLedger(), fail_mode=fail_mode)
        install_guard(self.guard)
        return self.guard

    def balance(self, key_prefix: str = "") -> tuple[int, int]:
        assert self.guard is not None
        (balance,) = self.guard.ledger.balances(key_prefix, lease_at(time.time())).values()
        return balance.spent, balance.reserved


@pytest.fixture
def budgets() -> Iterator[Budgets]:
    holder = Budgets()
    yield holder
    install_guard(None)
    if holder.guard is not None:
        holder.guard.close()


def test_a_blocked_call_raises_sends_nothing_and_still_has_its_span(
    client: openai.OpenAI, stub: StubProvider, budgets: Budgets, span_exporter
) -> None:
    budgets.set(BudgetPolicy("zero", limit=0.0, window="day"))
    with pytest.raises(BudgetExceeded) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=50)
    assert stub.requests == []
    assert (raised.value.budget, raised.value.limit, raised.value.window) == ("zero", 0.0, "day")
    span = only_span(span_exporter)
    a = attrs(span)
    assert a[attr.BUDGET_DECISION] == "block"
    assert (a[attr.BUDGET_NAME], a[attr.BUDGET_LIMIT], a[attr.BUDGET_WINDOW]) == ("zero", 0.0, "day")
    assert a[attr.BUDGET_REMAINING] == 0.0
    assert a[attr.ERROR_TYPE] == "genai_cost.BudgetExceeded"
    assert attr.COST_AMOUNT not in a


async def test_blocked_streams_and_async_calls_send_nothing(
    client: openai.OpenAI, aclient: openai.AsyncOpenAI, stub: StubProvider, budgets: Budgets
) -> None:
    budgets.set(BudgetPolicy("zero", limit=0.0))
    with pytest.raises(BudgetExceeded):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises(BudgetExceeded):
        client.responses.create(model="gpt-4o-mini", input="hi")
    with pytest.raises(BudgetExceeded):
        await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    with pytest.raises(BudgetExceeded):
        await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert stub.requests == []


def test_allowed_calls_settle_their_exact_cost(
    client: openai.OpenAI, stub: StubProvider, budgets: Budgets, span_exporter
) -> None:
    budgets.set(BudgetPolicy("team", limit=1.0, match={"team": "search"}))
    with cost_context(team="search"):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=100)
    assert len(stub.requests) == 1
    a = attrs(only_span(span_exporter))
    assert a[attr.BUDGET_DECISION] == "allow" and a[attr.BUDGET_NAME] == "team"
    spent, reserved = budgets.balance()
    assert (spent, reserved) == (to_micros(a[attr.COST_AMOUNT]), 0)
    # The span reports the budget after this call.
    assert a[attr.BUDGET_SPENT] == spent / 1e6
    assert a[attr.BUDGET_REMAINING] == pytest.approx(1.0 - spent / 1e6)
    assert a[attr.BUDGET_ESTIMATE] > a[attr.COST_AMOUNT]


def test_a_stream_settles_when_it_ends(
    client: openai.OpenAI, stub: StubProvider, budgets: Budgets, span_exporter
) -> None:
    budgets.set(BudgetPolicy("b", limit=1.0))
    for _ in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
        pass
    a = attrs(only_span(span_exporter))
    assert budgets.balance() == (to_micros(a[attr.COST_AMOUNT]), 0)


def test_a_failed_call_releases_its_reservation(
    client: openai.OpenAI, stub: StubProvider, budgets: Budgets, span_exporter
) -> None:
    budgets.set(BudgetPolicy("b", limit=1.0))
    stub.enqueue("/v1/chat/completions", status=500)
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert budgets.balance() == (0, 0)
    assert attrs(only_span(span_exporter))[attr.BUDGET_DECISION] == "allow"


def test_downgrade_sends_the_cheaper_model_and_records_the_original(
    client: openai.OpenAI, stub: StubProvider, budgets: Budgets, span_exporter
) -> None:
    budgets.set(
        BudgetPolicy("premium", limit=0.0, match={"model": "gpt-4o"}, action="downgrade", downgrade_to="gpt-4o-mini")
    )
    client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=20)
    assert stub.last_request.body["model"] == "gpt-4o-mini"
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == "chat gpt-4o-mini"
    assert (a[attr.BUDGET_DECISION], a[attr.BUDGET_ORIGINAL_MODEL], a[attr.REQUEST_MODEL]) == (
        "downgrade",
        "gpt-4o",
        "gpt-4o-mini",
    )
    assert a[attr.PRICE_MODEL].startswith("gpt-4o-mini")


def test_warn_lets_the_call_through(client: openai.OpenAI, stub: StubProvider, budgets: Budgets, span_exporter) -> None:
    budgets.set(BudgetPolicy("soft", limit=0.0, action="warn"))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(stub.requests) == 1
    a = attrs(only_span(span_exporter))
    assert (a[attr.BUDGET_DECISION], a[attr.BUDGET_NAME]) == ("warn", "soft")
    assert a[attr.COST_AMOUNT] > 0


def test_a_threshold_crossing_adds_a_span_event(
    client: openai.OpenAI, stub: StubProvider, budgets: Budgets, span_exporter
) -> None:
    # The default reply costs far less than a cent: a limit just above one call's cost.
    budgets.set(BudgetPolicy("tiny", limit=0.00002, thresholds=(10,), action="warn"))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=10)
    (event,) = [e for e in only_span(span_exporter).events if e.name == attr.BUDGET_THRESHOLD_EVENT]
    assert event.attributes[attr.BUDGET_NAME] == "tiny"
    assert event.attributes[attr.BUDGET_THRESHOLD_PERCENT] == 10.0


def test_fail_open_calls_go_on_and_say_why(
    client: openai.OpenAI, stub: StubProvider, budgets: Budgets, span_exporter
) -> None:
    budgets.set(BudgetPolicy("b", limit=1.0), ledger=RedisLedger(f"redis://127.0.0.1:{free_port()}/0", timeout=0.05))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(stub.requests) == 1
    a = attrs(only_span(span_exporter))
    assert a[attr.BUDGET_DECISION] == "allow"
    assert a[attr.BUDGET_STATUS].startswith("fail_open: ledger unavailable")


def test_fail_closed_blocks_without_a_request(client: openai.OpenAI, stub: StubProvider, budgets: Budgets) -> None:
    ledger = RedisLedger(f"redis://127.0.0.1:{free_port()}/0", timeout=0.05)
    budgets.set(BudgetPolicy("b", limit=1.0), ledger=ledger, fail_mode="closed")
    with pytest.raises(BudgetExceeded, match="fail_closed"):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert stub.requests == []


def test_embeddings_reserve_input_only(
    client: openai.OpenAI, stub: StubProvider, budgets: Budgets, span_exporter
) -> None:
    budgets.set(BudgetPolicy("b", limit=1.0))
    client.embeddings.create(model="text-embedding-3-small", input="hello world " * 30)
    a = attrs(only_span(span_exporter))
    # 360 characters: 120 tokens at the conservative 3 bytes a token; no output.
    assert a[attr.BUDGET_ESTIMATE] == pytest.approx(120 * 0.02e-6)


def test_without_budgets_spans_carry_no_budget_attributes(
    client: openai.OpenAI, stub: StubProvider, span_exporter
) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert not [k for k in attrs(only_span(span_exporter)) if k.startswith("genai_cost.budget.")]


def test_the_estimate_uses_max_tokens_times_choices(
    client: openai.OpenAI, stub: StubProvider, budgets: Budgets, span_exporter
) -> None:
    from genai_cost.budget.estimate import count_input_tokens

    budgets.set(BudgetPolicy("b", limit=1.0))
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=100, n=2)
    a = attrs(only_span(span_exporter))
    assert a[attr.BUDGET_ESTIMATE] == pytest.approx(count_input_tokens(MESSAGES) * 0.15e-6 + 200 * 0.6e-6)


async def test_async_calls_and_downgraded_streams_settle_too(
    aclient: openai.AsyncOpenAI, stub: StubProvider, budgets: Budgets, span_exporter
) -> None:
    budgets.set(
        BudgetPolicy("premium", limit=0.0, match={"model": "gpt-4o"}, action="downgrade", downgrade_to="gpt-4o-mini")
    )
    await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    stream = await aclient.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True)
    async for _ in stream:
        pass
    assert [r.body["model"] for r in stub.requests] == ["gpt-4o-mini", "gpt-4o-mini"]
    # Only the gpt-4o call is under the "premium" budget; it was downgraded and settled.
    (span,) = [s for s in span_exporter.get_finished_spans() if attr.BUDGET_DECISION in (s.attributes or {})]
    a = attrs(span)
    assert (a[attr.BUDGET_DECISION], a[attr.BUDGET_ORIGINAL_MODEL]) == ("downgrade", "gpt-4o")
    assert budgets.balance() == (to_micros(a[attr.COST_AMOUNT]), 0)
