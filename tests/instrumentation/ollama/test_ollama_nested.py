"""A call made while another traced call is current is a call of its own unless the outer call
routes it: only a router's (LiteLLM's) inner SDK calls are marked duplicate (the LiteLLM tests
show the router side end to end; here, the same outer call with and without the router mark)."""

from __future__ import annotations

from typing import Any

import ollama
import pytest
from ollama_support import MESSAGES, MODEL, attrs, genai_spans, instrumented, no_content_capture, priced
from opentelemetry import trace

from genai_cost.instrumentation.lifecycle import GenAICall
from genai_cost.pricing import PriceCatalog
from genai_cost.runtime import OUR_SCOPE
from genai_cost.testing import StubProvider

__all__ = ["instrumented", "no_content_capture", "priced"]


@pytest.mark.parametrize("router", [False, True], ids=["outer-call", "outer-router"])
def test_only_a_routing_call_makes_the_inner_call_its_duplicate(
    router: bool, priced: PriceCatalog, stub: StubProvider, span_exporter: Any
) -> None:
    outer = GenAICall(trace.get_tracer(OUR_SCOPE), operation="chat", provider_name="litellm", request_model=MODEL)
    if router:
        outer.routes_other_calls()
    with trace.use_span(outer.span, end_on_exit=False):
        ollama.Client(host=stub.url).chat(MODEL, MESSAGES)
    outer.end()
    inner = next(s for s in genai_spans(span_exporter) if attrs(s)["gen_ai.provider.name"] == "ollama")
    assert inner.parent.span_id == outer.span.get_span_context().span_id
    if router:
        assert attrs(inner)["genai_cost.status"] == "duplicate"
        assert attrs(inner)["genai_cost.duplicate_of"] == f"{inner.parent.span_id:016x}"
    else:
        assert attrs(inner)["genai_cost.status"] == "priced"
        assert "genai_cost.duplicate_of" not in attrs(inner)
