"""Trace roll-ups apply the enricher's plausibility bounds (genai_cost.plausibility): a span that
arrives priced upstream with an absurd amount (1e300, negative, NaN) is forwarded as it came, but
never summed into its trace's total — in the request (the decider's local-root roll-up) or
across services (the held trace's roll-up)."""

from __future__ import annotations

import math

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from genai_cost import attributes as attr
from genai_cost.gateway.enrich import Enricher
from genai_cost.gateway.rollup import put_trace_total
from genai_cost.gateway.wire import any_value, set_any_value
from genai_cost.metrics import CostMetrics
from genai_cost.processor import CostDecider

TRACE = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
ROOT = bytes.fromhex("00f067aa0ba902b7")
ABSURD = [1e300, -50.0, math.inf, math.nan]


def _trace(upstream_amounts: list[float]) -> ExportTraceServiceRequest:
    """A root (no GenAI), one call priced upstream at 0.25, and one priced upstream per absurd amount."""
    request = ExportTraceServiceRequest()
    spans = request.resource_spans.add().scope_spans.add().spans
    root = spans.add(trace_id=TRACE, span_id=ROOT, name="GET /buy")
    root.attributes.add(key="http.request.method").value.string_value = "GET"
    for index, amount in enumerate([0.25, *upstream_amounts]):
        span = spans.add(trace_id=TRACE, span_id=(index + 1).to_bytes(8, "big"), parent_span_id=ROOT, name="chat")
        values = {
            attr.OPERATION_NAME: "chat",
            attr.PROVIDER_NAME: "openai",
            attr.REQUEST_MODEL: "gpt-4o",
            attr.RESPONSE_ID: f"resp-{index}",
            attr.USAGE_INPUT_TOKENS: 100,
            attr.USAGE_OUTPUT_TOKENS: 10,
            attr.COST_STATUS: "priced",
            attr.COST_AMOUNT: amount,
        }
        for key, value in values.items():
            set_any_value(span.attributes.add(key=key).value, value)
    # Children export before their parent: the root comes last, as the SDK sends them.
    spans.append(spans[0])
    del spans[0]
    return request


def _root_totals(request: ExportTraceServiceRequest) -> dict[str, object]:
    spans = request.resource_spans[0].scope_spans[0].spans
    [root] = [s for s in spans if s.span_id == ROOT]
    return {kv.key: any_value(kv.value) for kv in root.attributes if kv.key.startswith("genai_cost.trace.")}


@pytest.mark.parametrize("absurd", ABSURD, ids=repr)
def test_the_request_roll_up_skips_implausible_amounts(absurd: float) -> None:
    request = _trace([absurd])
    Enricher(CostDecider(metrics=CostMetrics(deferred=False))).enrich(request)
    assert _root_totals(request) == {attr.TRACE_AMOUNT: 0.25, attr.TRACE_CALLS: 1}
    # The absurd span itself is forwarded as it came.
    forwarded = [s for s in request.resource_spans[0].scope_spans[0].spans if s.span_id == (2).to_bytes(8, "big")]
    value = {kv.key: any_value(kv.value) for kv in forwarded[0].attributes}[attr.COST_AMOUNT]
    assert value == absurd or (math.isnan(absurd) and math.isnan(value))


@pytest.mark.parametrize("absurd", ABSURD, ids=repr)
def test_the_cross_service_roll_up_skips_implausible_amounts(absurd: float) -> None:
    request = _trace([absurd])
    put_trace_total(request)
    assert _root_totals(request) == {attr.TRACE_AMOUNT: 0.25, attr.TRACE_CALLS: 1}


def test_plausible_amounts_still_add_up() -> None:
    request = _trace([0.5, 1_000.0])
    put_trace_total(request)
    assert _root_totals(request) == {attr.TRACE_AMOUNT: 1_000.75, attr.TRACE_CALLS: 3}
