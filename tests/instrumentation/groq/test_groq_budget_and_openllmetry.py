"""Budgets on Groq calls (a block sends no request; a downgrade sends the cheaper model), and
OpenLLMetry's groq instrumentation active beside ours: each call is still priced exactly once."""

from __future__ import annotations

from typing import Any

import groq
import pytest
from groq_support import MESSAGES, MODEL, aclient, assert_priced, attrs, client, genai_spans, instrumented
from groq_support import no_content_capture, usage_of, wire_usage

from genai_cost.budget import BudgetExceeded
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.testing import StubProvider

__all__ = ["aclient", "client", "instrumented", "no_content_capture"]

EXPENSIVE = "llama-3.3-70b-versatile"
CHEAP = "llama-3.1-8b-instant"


@pytest.mark.parametrize("budget", [BudgetPolicy("groq", limit=0.0)], indirect=True)
async def test_a_blocked_call_never_reaches_the_provider(
    budget: BudgetGuard, client: groq.Groq, aclient: groq.AsyncGroq, stub: StubProvider, span_exporter: Any
) -> None:
    with pytest.raises(BudgetExceeded):
        client.chat.completions.create(model=EXPENSIVE, messages=MESSAGES, max_tokens=64)
    with pytest.raises(BudgetExceeded):
        client.chat.completions.create(model=EXPENSIVE, messages=MESSAGES, max_tokens=64, stream=True)
    with pytest.raises(BudgetExceeded):
        await aclient.chat.completions.create(model=EXPENSIVE, messages=MESSAGES, max_tokens=64)
    assert stub.requests == []
    assert [attrs(s)["genai_cost.budget.decision"] for s in genai_spans(span_exporter)] == ["block"] * 3


@pytest.mark.parametrize(
    "budget", [BudgetPolicy("groq", limit=0.0, action="downgrade", downgrade_to=CHEAP)], indirect=True
)
async def test_downgrade_sends_the_cheaper_model(
    budget: BudgetGuard, client: groq.Groq, aclient: groq.AsyncGroq, stub: StubProvider, span_exporter: Any
) -> None:
    client.chat.completions.create(model=EXPENSIVE, messages=MESSAGES, max_tokens=64)
    assert stub.last_request.body["model"] == CHEAP
    list(client.chat.completions.create(model=EXPENSIVE, messages=MESSAGES, max_tokens=64, stream=True))
    assert stub.last_request.body["model"] == CHEAP
    await aclient.chat.completions.create(model=EXPENSIVE, messages=MESSAGES, max_tokens=64)
    assert stub.last_request.body["model"] == CHEAP
    for span in genai_spans(span_exporter):
        a = attrs(span)
        assert a["genai_cost.budget.decision"] == "downgrade" and a["genai_cost.budget.original_model"] == EXPENSIVE
        assert a["genai_cost.price.model"] == CHEAP and a["genai_cost.status"] == "priced"


@pytest.fixture
def openllmetry() -> Any:
    from opentelemetry import trace
    from opentelemetry.instrumentation.groq import GroqInstrumentor as OpenLLMetryGroq

    instrumentor = OpenLLMetryGroq()
    instrumentor.instrument(tracer_provider=trace.get_tracer_provider())
    yield
    instrumentor.uninstrument()


def _priced_once(span_exporter: Any, stub: StubProvider) -> None:
    ours = genai_spans(span_exporter)
    theirs = genai_spans(span_exporter, "opentelemetry.instrumentation.groq")
    assert len(ours) == 1 and len(theirs) == 1, [s.name for s in span_exporter.get_finished_spans()]
    assert_priced(attrs(ours[0]), MODEL, usage_of(wire_usage(stub)))
    their = attrs(theirs[0])
    assert their["genai_cost.status"] == "duplicate", their.get("genai_cost.status.detail")
    assert "genai_cost.amount" not in their
    total = sum(s.attributes.get("genai_cost.amount") or 0 for s in span_exporter.get_finished_spans())
    assert total == pytest.approx(attrs(ours[0])["genai_cost.amount"], abs=1e-12)


def test_with_openllmetry_each_call_is_priced_once(
    openllmetry: Any, client: groq.Groq, stub: StubProvider, span_exporter: Any
) -> None:
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    _priced_once(span_exporter, stub)
    span_exporter.clear()
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    _priced_once(span_exporter, stub)


async def test_with_openllmetry_async(
    openllmetry: Any, aclient: groq.AsyncGroq, stub: StubProvider, span_exporter: Any
) -> None:
    await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
    _priced_once(span_exporter, stub)
