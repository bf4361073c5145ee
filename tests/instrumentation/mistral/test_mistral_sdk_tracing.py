"""mistralai 3.x traces its own calls (``configure_telemetry(client, provider="global")``): its
GenAI spans reach our processor beside ours, and the call is still priced exactly once -- the SDK's
span of the same call is marked ``duplicate``, so a sum over the trace is the true spend."""

from __future__ import annotations

from typing import Any

import pytest
from mistral_support import MESSAGES, MODEL, assert_priced, attrs, client, genai_spans, instrumented, no_content_capture
from mistral_support import usage_of, wire_usage

from genai_cost.testing import StubProvider

__all__ = ["client", "instrumented", "no_content_capture"]

observability = pytest.importorskip("mistralai.extra.observability", reason="this mistralai has no tracing of its own")


def sdk_spans(span_exporter: Any) -> list[Any]:
    return [
        s
        for s in span_exporter.get_finished_spans()
        if s.instrumentation_scope is not None
        and s.instrumentation_scope.name.startswith("mistral")
        and (s.attributes or {}).get("gen_ai.operation.name")
    ]


def assert_priced_once(span_exporter: Any, stub: StubProvider, model: str) -> None:
    ours = genai_spans(span_exporter)
    theirs = sdk_spans(span_exporter)
    assert len(ours) == 1 and len(theirs) == 1, [s.name for s in span_exporter.get_finished_spans()]
    assert_priced(attrs(ours[0]), model, usage_of(wire_usage(stub)))
    their = attrs(theirs[0])
    assert their["genai_cost.status"] == "duplicate", their.get("genai_cost.status.detail")
    assert "genai_cost.amount" not in their
    assert theirs[0].context.trace_id == ours[0].context.trace_id
    amounts = [s.attributes.get("genai_cost.amount") for s in span_exporter.get_finished_spans()]
    assert sum(a for a in amounts if a) == pytest.approx(attrs(ours[0])["genai_cost.amount"], abs=1e-12)


def test_sdk_spans_are_duplicates(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    observability.configure_telemetry(client, provider="global")
    client.chat.complete(model=MODEL, messages=MESSAGES)
    assert_priced_once(span_exporter, stub, MODEL)


def test_sdk_stream_spans_are_duplicates(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    observability.configure_telemetry(client, provider="global")
    list(client.chat.stream(model=MODEL, messages=MESSAGES))
    assert_priced_once(span_exporter, stub, MODEL)


def test_sdk_embedding_spans_are_duplicates(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    observability.configure_telemetry(client, provider="global")
    client.embeddings.create(model="mistral-embed", inputs=["a text"])
    assert_priced_once(span_exporter, stub, "mistral-embed")
