"""Budgets on Anthropic calls: the guard decides before the request (estimate from the messages,
system prompt, tools and max_tokens), a block never reaches the provider, a downgrade sends the
cheaper model -- through create() and the .stream() helpers alike -- and the real cost is settled."""

from __future__ import annotations

import gc
import warnings
from typing import Any

import anthropic
import pytest
from anthropic_support import (
    MESSAGES,
    aclient,
    attrs,
    client,
    instrumented,
    no_content_capture,
    only_span,
)

from genai_cost.budget import BudgetExceeded
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.testing import StubProvider

__all__ = ["aclient", "client", "instrumented", "no_content_capture"]

EXPENSIVE = "claude-opus-4-5"
CHEAP = "claude-haiku-4-5"
DOWNGRADE = BudgetPolicy("claude", limit=0.0, action="downgrade", downgrade_to=CHEAP)


def assert_downgraded(stub: StubProvider, span_exporter: Any) -> None:
    assert stub.last_request.body["model"] == CHEAP
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.budget.decision"] == "downgrade"
    assert a["genai_cost.budget.original_model"] == EXPENSIVE
    assert a["gen_ai.request.model"] == CHEAP
    assert a["genai_cost.price.model"] == CHEAP
    assert a["genai_cost.status"] == "priced", a.get("genai_cost.status.detail")


@pytest.mark.parametrize("budget", [BudgetPolicy("claude", limit=0.0)], indirect=True)
async def test_a_blocked_call_never_reaches_the_provider(
    budget: BudgetGuard,
    client: anthropic.Anthropic,
    aclient: anthropic.AsyncAnthropic,
    stub: StubProvider,
    span_exporter: Any,
) -> None:
    with pytest.raises(BudgetExceeded):
        client.messages.create(model=EXPENSIVE, max_tokens=64, messages=MESSAGES)
    with pytest.raises(BudgetExceeded), client.messages.stream(model=EXPENSIVE, max_tokens=64, messages=MESSAGES):
        pass
    with pytest.raises(BudgetExceeded):
        await aclient.messages.create(model=EXPENSIVE, max_tokens=64, messages=MESSAGES)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(BudgetExceeded):
            async with aclient.messages.stream(model=EXPENSIVE, max_tokens=64, messages=MESSAGES):
                pass
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]  # the helper's request was closed
    assert stub.requests == []
    spans = [s for s in span_exporter.get_finished_spans() if s.instrumentation_scope.name == "genai_cost"]
    assert [attrs(s)["genai_cost.budget.decision"] for s in spans] == ["block"] * 4


@pytest.mark.parametrize("budget", [DOWNGRADE], indirect=True)
def test_downgrade_create(
    budget: BudgetGuard, client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any
) -> None:
    message = client.messages.create(model=EXPENSIVE, max_tokens=64, messages=MESSAGES)
    assert message.model.startswith(CHEAP)
    assert_downgraded(stub, span_exporter)


@pytest.mark.parametrize("budget", [DOWNGRADE], indirect=True)
def test_downgrade_stream_helper(
    budget: BudgetGuard, client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any
) -> None:
    with client.messages.stream(model=EXPENSIVE, max_tokens=64, messages=MESSAGES) as stream:
        assert stream.get_final_message().model.startswith(CHEAP)
    assert_downgraded(stub, span_exporter)


@pytest.mark.parametrize("budget", [DOWNGRADE], indirect=True)
async def test_downgrade_async_stream_helper(
    budget: BudgetGuard, aclient: anthropic.AsyncAnthropic, stub: StubProvider, span_exporter: Any
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with aclient.messages.stream(model=EXPENSIVE, max_tokens=64, messages=MESSAGES) as stream:
            await stream.get_final_message()
        gc.collect()
    # The helper's first request coroutine (for the expensive model) was closed, not leaked.
    assert not [w for w in caught if "never awaited" in str(w.message)]
    assert_downgraded(stub, span_exporter)


@pytest.mark.parametrize("budget", [BudgetPolicy("claude", limit=10.0)], indirect=True)
def test_an_allowed_call_settles_its_real_cost(
    budget: BudgetGuard, client: anthropic.Anthropic, span_exporter: Any
) -> None:
    list(client.messages.create(model=CHEAP, max_tokens=64, messages=MESSAGES, stream=True))
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.budget.decision"] == "allow"
    assert a["genai_cost.budget.spent"] == pytest.approx(a["genai_cost.amount"], abs=1e-6)


@pytest.mark.parametrize("budget", [BudgetPolicy("claude", limit=0.0)], indirect=True)
def test_count_tokens_is_not_budgeted(budget: BudgetGuard, client: anthropic.Anthropic, span_exporter: Any) -> None:
    client.messages.count_tokens(model=EXPENSIVE, messages=MESSAGES)
    assert "genai_cost.budget.decision" not in attrs(only_span(span_exporter))
