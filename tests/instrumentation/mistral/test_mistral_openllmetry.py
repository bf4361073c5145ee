"""OpenLLMetry's mistralai instrumentation active beside ours: each call is still priced exactly
once. It wraps ``mistralai.chat`` / ``mistralai.embeddings``, modules mistralai 2.0 and later no longer have,
so this runs on mistralai 1.x (e.g. the oldest-version run) and is skipped from 2.0 on."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from mistral_support import MESSAGES, MODEL, assert_priced, attrs, client, genai_spans, instrumented
from mistral_support import no_content_capture, usage_of, wire_usage

from genai_cost.testing import StubProvider

__all__ = ["client", "instrumented", "no_content_capture"]

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("opentelemetry.instrumentation.mistralai") is None
    or importlib.util.find_spec("mistralai.chat") is None,
    reason="needs opentelemetry-instrumentation-mistralai and a mistralai (1.x) that it can wrap",
)


@pytest.fixture
def openllmetry() -> Any:
    from opentelemetry import trace
    from opentelemetry.instrumentation.mistralai import MistralAiInstrumentor

    instrumentor = MistralAiInstrumentor()
    instrumentor.instrument(tracer_provider=trace.get_tracer_provider())
    yield
    instrumentor.uninstrument()


@pytest.mark.parametrize("stream", [False, True])
def test_with_openllmetry_each_call_is_priced_once(
    openllmetry: Any, client: Any, stub: StubProvider, span_exporter: Any, stream: bool
) -> None:
    if stream:
        list(client.chat.stream(model=MODEL, messages=MESSAGES))
    else:
        client.chat.complete(model=MODEL, messages=MESSAGES)
    ours = genai_spans(span_exporter)
    theirs = genai_spans(span_exporter, "opentelemetry.instrumentation.mistralai")
    assert len(ours) == 1 and len(theirs) == 1, [s.name for s in span_exporter.get_finished_spans()]
    assert_priced(attrs(ours[0]), MODEL, usage_of(wire_usage(stub)))
    assert attrs(theirs[0])["genai_cost.status"] == "duplicate"
    total = sum(s.attributes.get("genai_cost.amount") or 0 for s in span_exporter.get_finished_spans())
    assert total == pytest.approx(attrs(ours[0])["genai_cost.amount"], abs=1e-12)
