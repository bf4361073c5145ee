"""Spans completed off the call: with batch exporters only behind it, the cost processor builds our
calls' end-of-call attributes (and prices every span) on its own thread, in the order spans ended.

Real SDK pipelines (a ``BatchSpanProcessor`` and an in-memory exporter), our real lifecycle
(``GenAICall``, as every provider module drives it) and processor; the oracle for each exported
span is the same call completed on the call (a pipeline with a synchronous exporter).
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from genai_cost import attributes as attr
from genai_cost.autoconfig import install_cost_processor
from genai_cost.config import load_settings
from genai_cost.instrumentation.lifecycle import CallResult, GenAICall, completes_later
from genai_cost.processor import CostSpanProcessor
from genai_cost.usage import TokenUsage

VOLATILE = {attr.TRACE_AMOUNT}  # equal within float rounding, compared approximately


def pipeline(batch: bool) -> tuple[TracerProvider, InMemorySpanExporter, CostSpanProcessor]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    # A long schedule: nothing is exported unless flushed, so what a test sees it asked for.
    provider.add_span_processor(
        BatchSpanProcessor(exporter, schedule_delay_millis=60_000) if batch else SimpleSpanProcessor(exporter)
    )
    return provider, exporter, install_cost_processor(provider, load_settings())


def make_call(provider: TracerProvider, *, tokens: int = 1000, model: str = "gpt-4o-mini") -> GenAICall:
    call = GenAICall(
        provider.get_tracer("genai_cost"),
        operation="chat",
        provider_name="openai",
        request_model=model,
        server_address="api.openai.com",
    )
    call.set_result(
        CallResult(
            response_model=model,
            response_id=f"chatcmpl-{tokens}",
            finish_reasons=("stop",),
            usage=TokenUsage(input_tokens=tokens, output_tokens=tokens // 2, cache_read_tokens=tokens // 4),
        )
    )
    return call


def exported(provider: TracerProvider, exporter: InMemorySpanExporter) -> list[dict[str, Any]]:
    provider.force_flush()
    return [dict(s.attributes or {}) for s in exporter.get_finished_spans()]


def test_a_batch_pipeline_completes_our_spans_off_the_call_with_the_same_attributes() -> None:
    later, later_exporter, later_processor = pipeline(batch=True)
    now, now_exporter, now_processor = pipeline(batch=False)
    assert later_processor.completes_later and not now_processor.completes_later
    for provider in (later, now):
        for tokens in (1000, 5000, 120):
            make_call(provider, tokens=tokens).end()
    off_call, on_call = exported(later, later_exporter), exported(now, now_exporter)
    assert len(off_call) == len(on_call) == 3
    for got, expected in zip(off_call, on_call, strict=True):
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert got[key] == (pytest.approx(value, rel=1e-12) if key in VOLATILE else value), key
        assert got[attr.COST_STATUS] == "priced" and got[attr.COST_AMOUNT] > 0


def test_the_caller_returns_before_the_attributes_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    provider, exporter, _ = pipeline(batch=True)
    built_on: list[str] = []
    real_complete = GenAICall.complete

    def complete(call: GenAICall) -> dict[str, Any]:
        built_on.append(threading.current_thread().name)
        return real_complete(call)

    monkeypatch.setattr(GenAICall, "complete", complete)
    caller = threading.current_thread().name
    make_call(provider).end()
    assert caller not in built_on  # the caller's end() built nothing
    provider.force_flush()  # here the caller asks for it: built now, on its thread
    [span] = exporter.get_finished_spans()
    assert built_on and span.attributes[attr.COST_STATUS] == "priced"
    make_call(provider).end()  # left alone, the processor's thread does it
    for _ in range(200):
        if len(built_on) == 2:
            break
        threading.Event().wait(0.01)
    assert built_on[1] == "genai-cost-span-completion"


def test_a_processor_added_after_ours_sees_complete_spans_because_calls_then_complete_on_the_call() -> None:
    provider, _, _ = pipeline(batch=True)
    late = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(late))  # not wrapped by ours (documented)
    call = make_call(provider)
    assert not completes_later(call.span)
    call.end()
    [span] = late.get_finished_spans()  # synchronously, with everything the call knew
    assert span.attributes[attr.COST_STATUS] == "priced"
    assert span.attributes[attr.USAGE_INPUT_TOKENS] == 1000


def test_shutdown_completes_and_exports_what_is_queued() -> None:
    provider, exporter, _ = pipeline(batch=True)
    for tokens in (10, 20, 30):
        make_call(provider, tokens=tokens).end()
    provider.shutdown()
    assert [s.attributes[attr.USAGE_INPUT_TOKENS] for s in exporter.get_finished_spans()] == [10, 20, 30]


def test_a_full_queue_is_drained_by_the_caller_and_nothing_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("genai_cost.deferred.DEFAULT_MAX_QUEUED", 4)
    provider, exporter, _ = pipeline(batch=True)
    for tokens in range(100, 130):
        make_call(provider, tokens=tokens).end()
    spans = exported(provider, exporter)
    assert [s[attr.USAGE_INPUT_TOKENS] for s in spans] == list(range(100, 130))


def test_a_trace_root_ending_after_our_call_still_gets_its_total() -> None:
    provider, exporter, _ = pipeline(batch=True)
    tracer = provider.get_tracer("app")
    with tracer.start_as_current_span("handle request"):
        make_call(provider, tokens=1000).end()
        make_call(provider, tokens=2000).end()
    provider.force_flush()
    spans = exporter.get_finished_spans()
    calls = [s.attributes for s in spans if s.name != "handle request"]
    [root] = [s.attributes for s in spans if s.name == "handle request"]
    assert len(calls) == 2
    assert root[attr.TRACE_CALLS] == 2
    assert root[attr.TRACE_AMOUNT] == pytest.approx(sum(a[attr.COST_AMOUNT] for a in calls), abs=1e-15)


def test_a_foreign_span_of_the_same_call_read_later_is_still_its_duplicate() -> None:
    provider, exporter, _ = pipeline(batch=True)
    call = make_call(provider)
    token = trace.set_span_in_context(call.span)
    other = provider.get_tracer("some.other.instrumentation")
    with other.start_as_current_span("chat gpt-4o-mini", context=token, kind=SpanKind.CLIENT) as span:
        span.set_attributes(
            {
                attr.OPERATION_NAME: "chat",
                attr.PROVIDER_NAME: "openai",
                attr.REQUEST_MODEL: "gpt-4o-mini",
                attr.USAGE_INPUT_TOKENS: 1000,
                attr.USAGE_OUTPUT_TOKENS: 500,
            }
        )
    call.end()  # ours ends (and leaves the in-flight calls) before either span is read
    by_scope = {
        s.instrumentation_scope.name: s.attributes for s in (provider.force_flush() and exporter.get_finished_spans())
    }
    assert by_scope["genai_cost"][attr.COST_STATUS] == "priced"
    assert by_scope["some.other.instrumentation"][attr.COST_STATUS] == "duplicate"
    assert attr.COST_AMOUNT not in by_scope["some.other.instrumentation"]


def test_the_span_attribute_limit_still_applies(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "8")
    provider, exporter, _ = pipeline(batch=True)
    make_call(provider).end()
    provider.force_flush()
    [span] = exporter.get_finished_spans()
    assert len(span.attributes) == 8 and span.dropped_attributes > 0


def test_off_call_completion_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GENAI_COST_COMPLETE_OFF_CALL", "false")
    provider, exporter, processor = pipeline(batch=True)
    assert not processor.completes_later
    call = make_call(provider)
    assert not completes_later(call.span)
    call.end()
    [span] = exported(provider, exporter)
    assert span[attr.COST_STATUS] == "priced"


def test_a_sampler_sees_the_creation_attributes_and_the_exported_span_has_them_all() -> None:
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Sampler, SamplingResult

    seen: list[dict[str, Any]] = []

    class Recording(Sampler):
        def should_sample(
            self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
        ) -> SamplingResult:
            seen.append(dict(attributes or {}))
            return ALWAYS_ON.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

        def get_description(self) -> str:
            return "recording"

    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=Recording())
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    install_cost_processor(provider, load_settings())
    call = GenAICall(
        provider.get_tracer("genai_cost"),
        operation="chat",
        provider_name="openai",
        request_model="gpt-4o-mini",
        server_address="api.openai.com",
        server_port=443,
        request_attributes={attr.REQUEST_MAX_TOKENS: 200, "openai.api.type": "chat_completions"},
    )
    call.set_result(CallResult(response_model="gpt-4o-mini", usage=TokenUsage(input_tokens=10, output_tokens=5)))
    call.end()
    assert seen == [
        {
            attr.OPERATION_NAME: "chat",
            attr.PROVIDER_NAME: "openai",
            attr.REQUEST_MODEL: "gpt-4o-mini",
            attr.SERVER_ADDRESS: "api.openai.com",
            attr.SERVER_PORT: 443,
        }
    ]
    [span] = exported(provider, exporter)
    assert span[attr.REQUEST_MAX_TOKENS] == 200 and span["openai.api.type"] == "chat_completions"
    assert span[attr.COST_STATUS] == "priced"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_completes_its_own_spans_and_not_its_parents() -> None:
    provider, exporter, _ = pipeline(batch=True)
    for tokens in (1, 2, 3):
        make_call(provider, tokens=tokens).end()  # queued in the parent, not yet completed
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own calls only, completed by its own thread
        try:
            for tokens in (40, 50):
                make_call(provider, tokens=tokens).end()
            provider.force_flush()
            tokens_seen = [s.attributes[attr.USAGE_INPUT_TOKENS] for s in exporter.get_finished_spans()]
            os.write(write, repr(tokens_seen).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child_saw = pipe.read()
    os.waitpid(pid, 0)
    assert child_saw == "[40, 50]"
    assert [s[attr.USAGE_INPUT_TOKENS] for s in exported(provider, exporter)] == [1, 2, 3]
