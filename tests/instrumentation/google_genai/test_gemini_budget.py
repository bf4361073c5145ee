"""Budgets on Gemini calls: the guard's decision is taken before the request, a block never
reaches the provider, a downgrade sends the cheaper model, and the real cost is settled."""

from __future__ import annotations

from typing import Any

import pytest
from gemini_support import PROMPT, attrs, gemini_client, instrumented, only_span

from genai_cost.budget import BudgetExceeded
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.testing import StubProvider

__all__ = ["instrumented"]


@pytest.mark.parametrize("budget", [BudgetPolicy("gemini", limit=0.0)], indirect=True)
def test_a_blocked_call_never_reaches_the_provider(budget: BudgetGuard, stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    with pytest.raises(BudgetExceeded):
        client.models.generate_content(model="gemini-2.5-pro", contents=PROMPT)
    assert stub.requests == []
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.budget.decision"] == "block"
    assert a["genai_cost.budget.name"] == "gemini"


@pytest.mark.parametrize("budget", [BudgetPolicy("gemini", limit=0.0)], indirect=True)
async def test_a_blocked_async_embedding(budget: BudgetGuard, stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    with pytest.raises(BudgetExceeded):
        await client.aio.models.embed_content(model="gemini-embedding-001", contents=["a"])
    assert stub.requests == []
    assert attrs(only_span(span_exporter))["genai_cost.budget.decision"] == "block"


@pytest.mark.parametrize(
    "budget",
    [BudgetPolicy("gemini", limit=0.0, action="downgrade", downgrade_to="gemini-2.0-flash-lite")],
    indirect=True,
)
def test_a_downgrade_sends_the_cheaper_model(budget: BudgetGuard, stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    for _ in client.models.generate_content_stream(model="gemini-2.5-pro", contents=PROMPT):
        pass
    assert stub.last_request.path == "/v1beta/models/gemini-2.0-flash-lite:streamGenerateContent"
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.budget.decision"] == "downgrade"
    assert a["genai_cost.budget.original_model"] == "gemini-2.5-pro"
    assert a["gen_ai.request.model"] == "gemini-2.0-flash-lite"
    assert a["genai_cost.price.model"] == "gemini-2.0-flash-lite"


@pytest.mark.parametrize("budget", [BudgetPolicy("gemini", limit=10.0)], indirect=True)
def test_an_allowed_call_settles_its_real_cost(budget: BudgetGuard, stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.budget.decision"] == "allow"
    assert a["genai_cost.budget.spent"] == pytest.approx(a["genai_cost.amount"], abs=1e-6)
