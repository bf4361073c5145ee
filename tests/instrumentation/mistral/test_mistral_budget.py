"""Budgets on Mistral calls: a block never reaches the provider (sync, async, streams, embeddings),
a downgrade sends the cheaper model, an agent (which picks its own model) is warned instead of
downgraded, and the real cost is settled."""

from __future__ import annotations

from typing import Any

import pytest
from mistral_support import MESSAGES, attrs, client, genai_spans, instrumented, no_content_capture, only_span

from genai_cost.budget import BudgetExceeded
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.testing import StubProvider

__all__ = ["client", "instrumented", "no_content_capture"]

EXPENSIVE = "mistral-large-2512"
CHEAP = "ministral-8b-2512"
DOWNGRADE = BudgetPolicy("mistral", limit=0.0, action="downgrade", downgrade_to=CHEAP)


@pytest.mark.parametrize("budget", [BudgetPolicy("mistral", limit=0.0)], indirect=True)
async def test_a_blocked_call_never_reaches_the_provider(
    budget: BudgetGuard, client: Any, stub: StubProvider, span_exporter: Any
) -> None:
    with pytest.raises(BudgetExceeded):
        client.chat.complete(model=EXPENSIVE, messages=MESSAGES, max_tokens=64)
    with pytest.raises(BudgetExceeded):
        client.chat.stream(model=EXPENSIVE, messages=MESSAGES, max_tokens=64)
    with pytest.raises(BudgetExceeded):
        await client.chat.complete_async(model=EXPENSIVE, messages=MESSAGES, max_tokens=64)
    with pytest.raises(BudgetExceeded):
        await client.chat.stream_async(model=EXPENSIVE, messages=MESSAGES, max_tokens=64)
    with pytest.raises(BudgetExceeded):
        client.embeddings.create(model="mistral-embed", inputs=["x" * 4000])
    with pytest.raises(BudgetExceeded):
        client.fim.complete(model="codestral-2508", prompt="def f(", max_tokens=64)
    assert stub.requests == []
    assert [attrs(s)["genai_cost.budget.decision"] for s in genai_spans(span_exporter)] == ["block"] * 6


@pytest.mark.parametrize("budget", [DOWNGRADE], indirect=True)
async def test_downgrade_sends_the_cheaper_model(
    budget: BudgetGuard, client: Any, stub: StubProvider, span_exporter: Any
) -> None:
    for run in (
        lambda: client.chat.complete(model=EXPENSIVE, messages=MESSAGES, max_tokens=64),
        lambda: list(client.chat.stream(model=EXPENSIVE, messages=MESSAGES, max_tokens=64)),
    ):
        run()
        assert stub.last_request.body["model"] == CHEAP
    response = await client.chat.complete_async(model=EXPENSIVE, messages=MESSAGES, max_tokens=64)
    assert response.model == CHEAP
    for span in genai_spans(span_exporter):
        a = attrs(span)
        assert a["genai_cost.budget.decision"] == "downgrade"
        assert a["genai_cost.budget.original_model"] == EXPENSIVE
        assert a["gen_ai.request.model"] == CHEAP and a["genai_cost.price.model"] == CHEAP
        assert a["genai_cost.status"] == "priced"


@pytest.mark.parametrize(
    "budget", [BudgetPolicy("agents", limit=0.0, action="downgrade", downgrade_to=CHEAP)], indirect=True
)
def test_an_agent_cannot_be_downgraded(
    budget: BudgetGuard, client: Any, stub: StubProvider, span_exporter: Any
) -> None:
    client.agents.complete(agent_id="ag_stub_1", messages=MESSAGES)
    assert "model" not in stub.last_request.body
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.budget.decision"] == "warn"


@pytest.mark.parametrize("budget", [BudgetPolicy("mistral", limit=10.0)], indirect=True)
def test_an_allowed_stream_settles_its_real_cost(budget: BudgetGuard, client: Any, span_exporter: Any) -> None:
    list(client.chat.stream(model=CHEAP, messages=MESSAGES, max_tokens=64))
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.budget.decision"] == "allow"
    assert a["genai_cost.budget.spent"] == pytest.approx(a["genai_cost.amount"], abs=1e-6)
