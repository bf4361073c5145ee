"""OTLP partial success: one bad span is rejected alone, the rest of its batch is forwarded.

Issue 11, finding 11: a span with invalid UTF-8, a lone surrogate in JSON or attributes nested
past protobuf's depth limit made the whole batch a 400, which exporters drop for good.
"""

from __future__ import annotations

import http.client
import json

import grpc
import pytest
from gateway_support import running_gateway
from hardening_support import spans_request
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from genai_cost.testing.otlp_receiver import OtlpReceiver

EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
BAD_SPAN_ID = (2).to_bytes(8, "big")


def _with_bad_second_span(kind: str) -> bytes:
    """Three spans ``t-0..2``; the second one broken in the way ``kind`` says, at the wire level."""
    request = spans_request("t", 3)
    spans = request.resource_spans[0].scope_spans[0].spans
    if kind == "utf8":
        spans[1].name = "MARKER"
        return request.SerializeToString().replace(b"MARKER", b"MA\xff\xfeER")
    if kind == "nesting":
        value = spans[1].attributes.add(key="deep").value
        for _ in range(40):
            value = value.kvlist_value.values.add(key="k").value
        value.string_value = "bottom"
        return request.SerializeToString()
    raise AssertionError(kind)


def _post(port: int, body: bytes, content_type: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/v1/traces", body=body, headers={"Content-Type": content_type})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _good_spans_arrive(downstream: OtlpReceiver) -> None:
    spans = downstream.wait_for_spans(lambda s: len(s) >= 2)
    assert sorted(s.name for s in spans) == ["t-0", "t-2"]


@pytest.mark.parametrize("kind", ["utf8", "nesting"])
def test_http_protobuf_rejects_only_the_bad_span(kind):
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint, grpc_port=None) as gateway:
        status, body = _post(gateway.http_port, _with_bad_second_span(kind), "application/x-protobuf")
        assert status == 200
        response = ExportTraceServiceResponse.FromString(body)
        assert response.partial_success.rejected_spans == 1
        assert BAD_SPAN_ID.hex() in response.partial_success.error_message
        assert "1 span(s) rejected" in response.partial_success.error_message
        _good_spans_arrive(downstream)
        assert gateway.stats.get("spans_rejected") == 1


@pytest.mark.parametrize("kind", ["surrogate", "nesting"])
def test_http_json_rejects_only_the_bad_span(kind):
    spans = [{"traceId": "ab" * 16, "spanId": f"{i + 1:016x}", "name": f"t-{i}"} for i in range(3)]
    if kind == "surrogate":
        spans[1]["name"] = "\ud800"  # json.dumps writes the lone surrogate as \\ud800
    else:
        value: dict = {"stringValue": "bottom"}
        for _ in range(40):
            value = {"kvlistValue": {"values": [{"key": "k", "value": value}]}}
        spans[1]["attributes"] = [{"key": "deep", "value": value}]
    document = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint, grpc_port=None) as gateway:
        status, body = _post(gateway.http_port, json.dumps(document).encode(), "application/json")
        assert status == 200, body
        response = json.loads(body)
        assert response["partialSuccess"]["rejectedSpans"] == "1"
        assert "rejected" in response["partialSuccess"]["errorMessage"]
        _good_spans_arrive(downstream)


@pytest.mark.parametrize("kind", ["utf8", "nesting"])
def test_grpc_rejects_only_the_bad_span(kind):
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint, http_port=None) as gateway:
        with grpc.insecure_channel(gateway.grpc_endpoint) as channel:
            reply = channel.unary_unary(EXPORT)(_with_bad_second_span(kind), timeout=10)
        response = ExportTraceServiceResponse.FromString(reply)
        assert response.partial_success.rejected_spans == 1
        assert BAD_SPAN_ID.hex() in response.partial_success.error_message
        _good_spans_arrive(downstream)


def test_a_request_of_nothing_but_bad_spans_is_still_a_400():
    request = spans_request("t", 1)
    request.resource_spans[0].scope_spans[0].spans[0].name = "MARKER"
    body = request.SerializeToString().replace(b"MARKER", b"MA\xff\xfeER")
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint, grpc_port=None) as gateway:
        status, _ = _post(gateway.http_port, body, "application/x-protobuf")
    assert status == 400
