"""Cross-service roll-up: one trace through three services, its total on the root span."""

from __future__ import annotations

import pytest
from gateway_support import genai_attributes, grpc_exporter, http_exporter, oracle, running_gateway, service
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from genai_cost import attributes as attr
from genai_cost.testing.otlp_receiver import OtlpReceiver

CALLS = {
    "checkout": [("gpt-4o", "openai", 2000, 300), ("gpt-4o-mini", "openai", 900, 50)],
    "search": [("claude-sonnet-4-20250514", "anthropic", 1500, 200)],
}


def _one_trace_three_services(gateway) -> None:
    """frontend (no GenAI) -> checkout (two calls) -> search (one call), each its own process-like provider."""
    propagator = TraceContextTextMapPropagator()
    providers = {
        "frontend": service("frontend", http_exporter(gateway)),
        "checkout": service("checkout", grpc_exporter(gateway)),
        "search": service("search", http_exporter(gateway, gzip=True)),
    }
    carrier: dict[str, str] = {}
    with providers["frontend"].get_tracer("web").start_as_current_span("GET /buy", kind=SpanKind.SERVER):
        propagator.inject(carrier)
    for name, upstream in (("checkout", carrier), ("search", None)):
        tracer = providers[name].get_tracer(f"{name}.server")
        parent = propagator.extract(upstream if upstream is not None else carrier)
        with tracer.start_as_current_span(f"POST /{name}", context=parent, kind=SpanKind.SERVER):
            if name == "checkout":
                carrier = {}
                propagator.inject(carrier)  # search is called from inside checkout
            for model, provider, i, o in CALLS[name]:
                with tracer.start_as_current_span(f"chat {model}", attributes=genai_attributes(model, provider, i, o)):
                    pass
    # Export order is not trace order: the root's service flushes last.
    for name in ("search", "checkout", "frontend"):
        providers[name].shutdown()


def _total(names: list[str]) -> float:
    return sum(
        oracle(model, provider, input_tokens=i, output_tokens=o)
        for name in names
        for model, provider, i, o in CALLS[name]
    )


def test_the_trace_root_gets_the_total_of_every_service_after_the_wait():
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint, rollup_wait=1.0) as gateway:
        _one_trace_three_services(gateway)
        spans = {s.name: s for s in downstream.wait_for_spans(lambda s: len(s) >= 6)}
        assert gateway.assembler.held_spans == 0
    assert len(spans) == 6 and len({s.trace_id for s in spans.values()}) == 1
    root = spans["GET /buy"]
    assert root.parent_span_id == ""
    assert root.attributes[attr.TRACE_AMOUNT] == pytest.approx(_total(["checkout", "search"]), abs=1e-9)
    assert root.attributes[attr.TRACE_CALLS] == 3
    # each service's entry span (a local root: remote parent) keeps its own process's total
    assert spans["POST /checkout"].attributes[attr.TRACE_AMOUNT] == pytest.approx(_total(["checkout"]), abs=1e-9)
    assert spans["POST /search"].attributes[attr.TRACE_CALLS] == 1
    assert root.resource["service.name"] == "frontend" and spans["POST /search"].resource["service.name"] == "search"


def test_without_the_wait_only_local_roots_get_totals():
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint) as gateway:
        _one_trace_three_services(gateway)
        spans = {s.name: s for s in downstream.wait_for_spans(lambda s: len(s) >= 6)}
    assert attr.TRACE_AMOUNT not in spans["GET /buy"].attributes
    assert spans["POST /checkout"].attributes[attr.TRACE_CALLS] == 2


def test_a_full_hold_releases_the_oldest_traces_early():
    from gateway_support import gateway_config

    from genai_cost.gateway import Gateway

    with OtlpReceiver() as downstream:
        gateway = Gateway(gateway_config(downstream.endpoint, rollup_wait=600, max_held_spans=4, grpc_port=None))
        gateway.start()
        try:
            provider = service("hold", http_exporter(gateway))
            tracer = provider.get_tracer("t")
            for index in range(6):  # six one-span traces; at most four may wait
                with tracer.start_as_current_span(f"trace {index}"):
                    pass
                provider.force_flush()
            early = downstream.wait_for_spans(lambda s: len(s) >= 2)
            assert sorted(s.name for s in early) == ["trace 0", "trace 1"]  # the oldest, long before 600 s
            assert gateway.assembler.held_spans == 4
            assert gateway.stats.get("rejected_requests") == 0
            provider.shutdown()
        finally:
            gateway.shutdown()  # releases what is still held
        spans = downstream.wait_for_spans(lambda s: len(s) >= 6)
    assert sorted(s.name for s in spans) == [f"trace {i}" for i in range(6)]
