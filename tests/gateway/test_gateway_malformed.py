"""Bad input: a clear 4xx / INVALID_ARGUMENT naming the problem, and the gateway keeps serving.

The fuzz runs throw random, truncated and mutated payloads at one long-lived gateway (bounded
example counts); after every run a well-formed request must still be accepted and delivered.
"""

from __future__ import annotations

import gzip
import http.client
import itertools
import json
import socket

import grpc
import pytest
from gateway_support import genai_attributes, running_gateway
from google.rpc.status_pb2 import Status
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from genai_cost import attributes as attr
from genai_cost.testing.otlp_receiver import OtlpReceiver

PROTOBUF = "application/x-protobuf"
_tags = itertools.count()


def _valid_request(tag: str, *, value: int = 100) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name", value=AnyValue(string_value="fuzz"))
    span = resource_spans.scope_spans.add().spans.add(
        trace_id=(tag.encode() * 16)[:16], span_id=(tag.encode() * 8)[:8], name=tag
    )
    for key, attribute in genai_attributes("gpt-4o", "openai", value, 10).items():
        target = span.attributes.add(key=key).value
        if isinstance(attribute, int):
            target.int_value = attribute
        else:
            target.string_value = attribute
    return request.SerializeToString()


@pytest.fixture(scope="module")
def live():
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint, max_request_bytes=64 * 1024) as gateway:
        yield gateway, downstream


def _post(gateway, body: bytes, content_type: str | None = PROTOBUF, **headers: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.http_port, timeout=10)
    try:
        if content_type is not None:
            headers["Content-Type"] = content_type
        connection.request("POST", "/v1/traces", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _still_serving(gateway, downstream, tag: str) -> None:
    status, _ = _post(gateway, _valid_request(tag))
    assert status == 200
    spans = downstream.wait_for_spans(lambda s: any(x.name == tag for x in s))
    [span] = [s for s in spans if s.name == tag]
    assert span.attributes[attr.COST_STATUS] == "priced"


@pytest.mark.parametrize(
    ("body", "content_type", "headers", "status", "says"),
    [
        (b"\x0a\xff\xff\xff", PROTOBUF, {}, 400, "not a valid protobuf"),
        (b"{not json", "application/json", {}, 400, "not valid JSON"),
        (b"[1, 2]", "application/json", {}, 400, "must be an object"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            "application/json",
            {},
            400,
            "not hex",
        ),
        (b'{"resourceSpans": 5}', "application/json", {}, 400, "expected a list"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"startTimeUnixNano": "soon"}]}]}]}',
            "application/json",
            {},
            400,
            "not a valid OTLP/JSON",
        ),
        (b"\x1f\x8b\x08\x00garbage", PROTOBUF, {"Content-Encoding": "gzip"}, 400, "not valid gzip"),
        (gzip.compress(b"x" * 100)[:-12], PROTOBUF, {"Content-Encoding": "gzip"}, 400, "truncated"),
        (b"", "text/plain", {}, 415, "unsupported Content-Type"),
        (b"", None, {}, 415, "unsupported Content-Type"),
        (b"", PROTOBUF, {"Content-Encoding": "br"}, 415, "unsupported Content-Encoding"),
        (gzip.compress(b"\x00" * (1024 * 1024)), PROTOBUF, {"Content-Encoding": "gzip"}, 413, "decompressed body"),
        (b"\x00" * (65 * 1024), PROTOBUF, {}, 413, "request body exceeds"),
    ],
)
def test_bad_requests_get_a_status_naming_the_problem(live, body, content_type, headers, status, says):
    gateway, downstream = live
    got, reply = _post(gateway, body, content_type, **headers)
    assert got == status
    message = reply.decode(errors="replace") if status == 415 else _message(reply, content_type)
    assert says in message
    _still_serving(gateway, downstream, f"after-{status}-{next(_tags)}")


def _message(reply: bytes, content_type: str | None) -> str:
    if content_type == "application/json":
        return json.loads(reply)["message"]
    return Status.FromString(reply).message


def test_grpc_bad_payload_and_oversized_message(live):
    gateway, downstream = live
    with grpc.insecure_channel(gateway.grpc_endpoint) as channel:
        export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
        with pytest.raises(grpc.RpcError) as bad:
            export(b"\x0a\xff\xff\xff", timeout=5)
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid protobuf" in bad.value.details()
        with pytest.raises(grpc.RpcError) as big:
            export(b"\x00" * (65 * 1024), timeout=5)
        assert big.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        export(_valid_request("grpc-ok"), timeout=5)
    assert downstream.wait_for_spans(lambda s: any(x.name == "grpc-ok" for x in s))


def test_clients_that_lie_about_length_or_vanish_do_not_wedge_it(live):
    gateway, downstream = live
    with socket.create_connection(("127.0.0.1", gateway.http_port), timeout=5) as sock:
        sock.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 5000\r\n\r\n" + b"\x0a\x02"
        )  # promises more than it sends, then leaves
    with socket.create_connection(("127.0.0.1", gateway.http_port), timeout=5) as sock:
        sock.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n\r\n")
        assert b" 411 " in sock.recv(4096)
    with socket.create_connection(("127.0.0.1", gateway.http_port), timeout=5) as sock:
        sock.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        sock.recv(4096)
    status, _ = _post(gateway, b"", PROTOBUF)
    assert status == 200  # an empty request is a valid, empty export
    _still_serving(gateway, downstream, "after-liars")


def test_other_paths_and_methods(live):
    gateway, _ = live
    connection = http.client.HTTPConnection("127.0.0.1", gateway.http_port, timeout=5)
    # /v1/metrics and /v1/logs are relayed to the downstream (test_gateway_passthrough.py).
    connection.request("POST", "/v1/profiles", body=b"", headers={"Content-Type": PROTOBUF})
    assert connection.getresponse().status == 404
    connection.close()
    connection = http.client.HTTPConnection("127.0.0.1", gateway.http_port, timeout=5)
    connection.request("GET", "/healthz")
    assert connection.getresponse().read() == b"ok\n"
    connection.close()


@settings(max_examples=150)
@given(st.binary(max_size=2048))
def test_fuzz_random_bytes_never_crash_it(live, body):
    gateway, _ = live
    status, _ = _post(gateway, body)
    assert status in (200, 400)


@settings(max_examples=150)
@given(
    st.integers(min_value=0, max_value=400),
    st.integers(min_value=0, max_value=255),
    st.sampled_from(["truncate", "flip", "insert"]),
)
def test_fuzz_mutated_valid_payloads_never_crash_it(live, position, byte, how):
    gateway, _ = live
    body = bytearray(_valid_request("m", value=position))
    position %= len(body)
    if how == "truncate":
        body = body[:position]
    elif how == "flip":
        body[position] ^= byte or 1
    else:
        body[position:position] = bytes([byte])
    status, _ = _post(gateway, bytes(body))
    assert status in (200, 400)


@settings(max_examples=100)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
        max_leaves=30,
    )
)
def test_fuzz_hostile_json_never_crashes_it(live, document):
    gateway, _ = live
    hostile = {"resourceSpans": [{"scopeSpans": [{"spans": [{"attributes": document, "name": document}]}]}]}
    for body in (json.dumps(document), json.dumps(hostile)):
        status, _ = _post(gateway, body.encode(), "application/json")
        assert status in (200, 400)


_ANY_VALUE = st.one_of(
    st.builds(lambda v: AnyValue(string_value=v), st.text(max_size=30)),
    st.builds(lambda v: AnyValue(int_value=v), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    st.builds(lambda v: AnyValue(double_value=v), st.floats()),
    st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
    st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=8)),
    st.just(AnyValue()),
)
_GENAI_KEYS = [
    attr.OPERATION_NAME,
    attr.PROVIDER_NAME,
    attr.REQUEST_MODEL,
    attr.RESPONSE_MODEL,
    attr.RESPONSE_ID,
    attr.USAGE_INPUT_TOKENS,
    attr.USAGE_OUTPUT_TOKENS,
    attr.USAGE_CACHE_READ_TOKENS,
    attr.LEGACY_SYSTEM,
    attr.LEGACY_PROMPT_TOKENS,
    attr.LLM_REQUEST_TYPE,
    attr.COST_STATUS,
    attr.COST_AMOUNT,
    attr.TRACE_AMOUNT,
]


@settings(max_examples=150)
@given(st.lists(st.tuples(st.sampled_from(_GENAI_KEYS), _ANY_VALUE), max_size=12), st.binary(min_size=0, max_size=8))
def test_fuzz_hostile_genai_attribute_values_are_forwarded_not_fatal(live, pairs, parent):
    gateway, _ = live
    request = ExportTraceServiceRequest()
    span = (
        request.resource_spans.add()
        .scope_spans.add()
        .spans.add(trace_id=b"h" * 16, span_id=b"s" * 8, parent_span_id=parent, name="hostile")
    )
    for key, value in [(attr.OPERATION_NAME, AnyValue(string_value="chat")), *pairs]:
        span.attributes.add(key=key).value.CopyFrom(value)
    status, _ = _post(gateway, request.SerializeToString())
    assert status == 200


def test_after_the_fuzzing_well_formed_requests_lose_nothing(live):
    gateway, downstream = live
    for index in range(5):
        _still_serving(gateway, downstream, f"final-{index}")
    assert gateway.stats.get("enrich_errors") == 0


def test_deeply_nested_json_is_refused_not_fatal(live):
    gateway, downstream = live
    deep = b'{"resourceSpans": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    status, _ = _post(gateway, deep[: 60 * 1024], "application/json")
    assert status == 400
    _still_serving(gateway, downstream, "after-deep")
