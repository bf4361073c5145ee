"""Spans to rows: both readers (OTLP bytes, SDK spans) give the same row for the same span,
whatever type a foreign instrumentation gave each value."""

from __future__ import annotations

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genai_cost.store.rows import calls_from_otlp, calls_from_spans
from genai_cost.store.schema import COLUMN_NAMES


def _spans(*attribute_sets):
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "svc"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("t")
    for attributes in attribute_sets:
        tracer.start_span("chat", attributes=attributes, start_time=1_700_000_000_000_000_000).end(
            end_time=1_700_000_001_500_000_000
        )
    return exporter.get_finished_spans()


ODD = {
    "genai_cost.status": "priced",
    "genai_cost.amount": 3,  # an int where a double belongs
    "genai_cost.input": 0.0,  # a default value: read through the oneof
    "gen_ai.usage.input_tokens": 120.0,  # a double where an int belongs
    "gen_ai.usage.output_tokens": 0,
    "genai_cost.team": 42,  # an int where a string belongs
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.usage.cache_read.input_tokens": "lots",  # unreadable: unknown, the call is still stored
    "genai_cost.dim.prompt_version": "v7",
}


def test_both_readers_give_the_same_typed_row():
    spans = _spans(ODD, {"genai_cost.status": "duplicate"}, {"http.method": "GET"})
    from_otlp = list(calls_from_otlp(encode_spans(spans).SerializeToString()))
    from_sdk = list(calls_from_spans(spans))
    assert from_otlp == from_sdk
    [(row, dims)] = from_otlp  # the duplicate and the HTTP span are not calls
    values = dict(zip(COLUMN_NAMES, row, strict=True))
    assert values["amount"] == 3.0 and type(values["amount"]) is float
    assert values["input_cost"] == 0.0
    assert values["input_tokens"] == 120 and type(values["input_tokens"]) is int
    assert values["output_tokens"] == 0
    assert values["team"] == "42"
    assert values["cache_read_tokens"] is None
    assert values["service"] == "svc" and values["request_model"] == "gpt-4o"
    assert values["duration_ms"] == 1500.0
    assert values["time"] == 1_700_000_000_000_000
    assert len(values["trace_id"]) == 32
    assert dims == {"prompt_version": "v7"}
