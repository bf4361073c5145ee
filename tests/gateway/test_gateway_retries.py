"""A client's retried export is priced and accounted once: the same spans sent twice to the
gateway (by the real OTLP exporters over HTTP and gRPC, or a raw HTTP client) reach the SQLite
ledger once, are forwarded twice byte for byte the same, and are counted as retried.

The oracle for every amount is genai-prices' calc_price.
"""

from __future__ import annotations

import urllib.request
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from gateway_support import gateway_config, genai_attributes, grpc_exporter, http_exporter, oracle
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genai_cost import attributes as attr
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import open_ledger, to_micros
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.gateway import Gateway
from genai_cost.gateway.retries import SeenSpans, SpanEdit
from genai_cost.testing.otlp_receiver import OtlpReceiver

CALLS = [("gpt-4o", "openai", 1200, 300), ("gpt-4o-mini", "openai", 5000, 20), ("gpt-4o", "openai", 40, 900)]
AMOUNTS = [oracle(m, p, input_tokens=i, output_tokens=o) for m, p, i, o in CALLS]
# The budget ends 90% spent: the first copy crosses 50% and 80% (two events), the retry must not.
LIMIT = round(sum(AMOUNTS) / 0.9, 6)
PREPRICED = 0.5  # an SDK's own amount: in the trace total, not in the gateway's ledger


def finished_spans(
    calls: Sequence[tuple[str, str, int, int]] = CALLS, *, root: bool = True, others: bool = False
) -> list[ReadableSpan]:
    """One trace of GenAI calls (under a plain HTTP root span unless ``root`` is False), as the SDK
    hands them to its exporter; ``others`` adds a second instrumentation's span of the first call
    (a duplicate: the gateway strips its amount) and a span priced upstream (left alone)."""
    provider = TracerProvider(resource=Resource.create({"service.name": "retrying"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("some.genai.instrumentation")

    def chats() -> None:
        for n, (model, provider_name, i, o) in enumerate(calls):
            attributes = genai_attributes(model, provider_name, i, o, **{attr.RESPONSE_ID: f"resp-{n}"})
            with tracer.start_as_current_span(f"chat {model}", attributes=attributes):
                pass
        if others:
            model, provider_name, i, o = calls[0]
            duplicate = genai_attributes(model, provider_name, i, o, **{attr.RESPONSE_ID: "resp-0"})
            with provider.get_tracer("another.genai.instrumentation").start_as_current_span(
                "duplicate", attributes=duplicate
            ):
                pass
            priced = {attr.COST_STATUS: "priced", attr.COST_AMOUNT: PREPRICED}
            with tracer.start_as_current_span(
                "prepriced", attributes=genai_attributes("gpt-4o", "openai", 1, 1, **priced)
            ):
                pass

    if root:
        with tracer.start_as_current_span("POST /ask"):
            chats()
    else:
        chats()
    provider.shutdown()
    return list(memory.get_finished_spans())


def post_raw(gateway: Gateway, spans: Sequence[ReadableSpan]) -> None:
    request = urllib.request.Request(
        f"{gateway.http_endpoint}/v1/traces",
        data=encode_spans(spans).SerializeToString(),
        headers={"Content-Type": "application/x-protobuf"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def exporter_sender(make: Callable[[Gateway], Any]) -> Callable[[Gateway, Sequence[ReadableSpan]], None]:
    def send(gateway: Gateway, spans: Sequence[ReadableSpan]) -> None:
        exporter = make(gateway)
        try:
            assert exporter.export(spans).name == "SUCCESS"
        finally:
            exporter.shutdown()

    return send


SENDERS = {
    "http-exporter": exporter_sender(http_exporter),
    "grpc-exporter": exporter_sender(grpc_exporter),
    "raw-http": post_raw,
}


def copies_by_span_id(downstream: OtlpReceiver) -> dict[bytes, list[bytes]]:
    copies: dict[bytes, list[bytes]] = defaultdict(list)
    for request in downstream.requests:
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    copies[span.span_id].append(span.SerializeToString())
    return copies


def metrics_text(gateway: Gateway) -> str:
    with urllib.request.urlopen(f"{gateway.http_endpoint}/metrics", timeout=10) as response:
        return response.read().decode()


@pytest.mark.parametrize("send", SENDERS.values(), ids=SENDERS.keys())
def test_a_retried_export_is_accounted_once_and_forwarded_identical(
    tmp_path: Path, send: Callable[[Gateway, Sequence[ReadableSpan]], None]
) -> None:
    ledger = f"sqlite://{tmp_path / 'ledger.db'}"
    guard = BudgetGuard(
        [BudgetPolicy("company", limit=LIMIT, window="month", thresholds=(50, 80, 95))],
        open_ledger(ledger, timeout=5.0),
    )
    spans = finished_spans(others=True)
    try:
        with OtlpReceiver() as downstream:
            gateway = Gateway(gateway_config(downstream.endpoint), budget_guard=guard).start()
            try:
                send(gateway, spans)
                send(gateway, spans)  # the exporter never heard the first answer
                assert downstream.wait_for(lambda r: len(r.spans) >= 2 * len(spans))
                metrics = metrics_text(gateway)
            finally:
                gateway.shutdown()
        [row] = guard.status()
    finally:
        guard.close()

    copies = copies_by_span_id(downstream)
    assert len(copies) == len(spans)
    for first, second in copies.values():
        assert first == second
    chats = [s for s in downstream.spans[: len(spans)] if s.name.startswith("chat ")]
    for span, want in zip(chats, AMOUNTS, strict=True):
        assert span.attributes[attr.COST_AMOUNT] == pytest.approx(want, abs=1e-9)
    # The ledger holds each call once: the sum of the amounts forwarded, to the micro-unit.
    assert to_micros(row.spent) == sum(to_micros(s.attributes[attr.COST_AMOUNT]) for s in chats)
    assert sum(s.events.count(attr.BUDGET_THRESHOLD_EVENT) for s in chats) == 2
    first = {s.name: s.attributes for s in downstream.spans[: len(spans)]}
    assert first["duplicate"][attr.COST_STATUS] == "duplicate" and attr.COST_AMOUNT not in first["duplicate"]
    assert first["prepriced"][attr.COST_AMOUNT] == PREPRICED and attr.BUDGET_DECISION not in first["prepriced"]
    assert first["POST /ask"][attr.TRACE_AMOUNT] == pytest.approx(sum(AMOUNTS) + PREPRICED, abs=1e-9)
    assert first["POST /ask"][attr.TRACE_CALLS] == len(CALLS) + 1
    # Retried: every GenAI span and the root that carries their total; priced and accounted once.
    assert gateway.stats.get("spans_retried") == len(spans)
    assert gateway.stats.get("spans_priced") == len(CALLS)
    assert gateway.stats.get("spans_duplicate") == 1
    assert gateway.stats.get("spans_budget_recorded") == len(CALLS)
    assert f"genai_cost_gateway_spans_retried_total {len(spans)}\n" in metrics


def posted_twice(spans: Sequence[ReadableSpan], **overrides: Any) -> tuple[Gateway, OtlpReceiver]:
    """A gateway (OTLP/HTTP only) that was sent ``spans`` twice by a raw client, once both copies are forwarded."""
    with OtlpReceiver() as downstream:
        gateway = Gateway(gateway_config(downstream.endpoint, grpc_port=None, **overrides)).start()
        try:
            post_raw(gateway, spans)
            post_raw(gateway, spans)
            assert downstream.wait_for(lambda r: len(r.spans) >= 2 * len(spans))
        finally:
            gateway.shutdown()
    return gateway, downstream


def test_without_a_window_a_retry_is_priced_again() -> None:
    """The contrast that shows the window does the work (``dedupe_window_spans=0`` turns it off)."""
    gateway, _ = posted_twice(finished_spans(), dedupe_window_spans=0)
    assert gateway.seen is None
    assert gateway.stats.get("spans_priced") == 2 * len(CALLS)
    assert gateway.stats.get("spans_retried") == 0


def test_the_window_is_bounded_and_forgets_the_oldest_spans_first() -> None:
    one_call_traces = [finished_spans([call], root=False) for call in CALLS]
    with OtlpReceiver() as downstream:
        gateway = Gateway(gateway_config(downstream.endpoint, grpc_port=None, dedupe_window_spans=2)).start()
        try:
            for trace in one_call_traces:
                post_raw(gateway, trace)
            assert gateway.seen is not None and len(gateway.seen) == 2
            post_raw(gateway, one_call_traces[0])  # fell out of the window: a new call to the gateway
            assert gateway.stats.get("spans_retried") == 0
            assert gateway.stats.get("spans_priced") == len(CALLS) + 1
            post_raw(gateway, one_call_traces[2])  # still remembered
            assert gateway.stats.get("spans_retried") == 1
            assert gateway.stats.get("spans_priced") == len(CALLS) + 1
            assert len(gateway.seen) == 2
            assert downstream.wait_for(lambda r: len(r.spans) >= len(CALLS) + 2)
        finally:
            gateway.shutdown()


def test_seen_spans_keeps_at_most_its_limit() -> None:
    seen = SeenSpans(3)
    for n in range(10):
        seen.remember(bytes([n]), SpanEdit(tail=bytes([n])))
    assert len(seen) == 3
    assert seen.get(bytes([6])) is None
    assert [seen.get(bytes([n])) for n in (7, 8, 9)] == [SpanEdit(tail=bytes([n])) for n in (7, 8, 9)]


def test_a_retry_inside_the_rollup_hold_is_totalled_once() -> None:
    _, downstream = posted_twice(finished_spans(), rollup_wait=0.5)
    for first, second in copies_by_span_id(downstream).values():
        assert first == second
    roots = [s for s in downstream.spans if s.name == "POST /ask"]
    assert len(roots) == 2
    for root in roots:
        assert root.attributes[attr.TRACE_AMOUNT] == pytest.approx(sum(AMOUNTS), abs=1e-9)
        assert root.attributes[attr.TRACE_CALLS] == len(CALLS)


def test_a_negative_window_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="dedupe_window_spans: must be >= 0"):
        gateway_config("http://127.0.0.1:1", dedupe_window_spans=-1)
