"""Real OTLP exporters -> gateway -> real receiver: every span arrives, GenAI spans priced, the rest untouched."""

from __future__ import annotations

import base64
import gzip
import json
import urllib.error
import urllib.request

import grpc
import pytest
from gateway_support import (
    ADDED_EXTRA,
    ADDED_PREFIX,
    added_keys,
    eventually,
    attribute_map,
    genai_attributes,
    grpc_exporter,
    http_exporter,
    oracle,
    running_gateway,
    service,
    spans_by_id,
    without_added,
)
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from genai_cost import attributes as attr
from genai_cost.testing.otlp_receiver import OtlpReceiver

# (service, model, provider, input, output, cache read)
CALLS = [
    ("checkout", "gpt-4o", "openai", 1200, 300, 0),
    ("checkout", "gpt-4o-mini", "openai", 5000, 20, 4000),
    ("search", "claude-sonnet-4-20250514", "anthropic", 800, 450, 0),
    ("search", "gemini-2.5-flash", "google", 300, 40, 0),
]


def _make_traffic(providers: dict) -> None:
    """Each service: a SERVER root with an event, a link and an error status, a DB child, GenAI calls."""
    for name, provider in providers.items():
        tracer = provider.get_tracer(
            f"{name}.instrumentation", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.26.0"
        )
        with tracer.start_as_current_span("GET /other", kind=SpanKind.SERVER) as other:
            pass
        with tracer.start_as_current_span(
            f"POST /{name}", kind=SpanKind.SERVER, links=[Link(other.get_span_context(), {"link.kind": "follows"})]
        ) as root:
            root.add_event("request.received", {"size": 123, "tags": ("a", "b")})
            with tracer.start_as_current_span(
                "SELECT orders", kind=SpanKind.CLIENT, attributes={"db.system": "postgresql"}
            ):
                pass
            for service_name, model, provider_name, i, o, cached in CALLS:
                if service_name != name:
                    continue
                extra = {attr.USAGE_CACHE_READ_TOKENS: cached} if cached else {}
                extra["gen_ai.request.temperature"] = 0.2
                extra["gen_ai.response.finish_reasons"] = ("stop",)
                with tracer.start_as_current_span(
                    f"chat {model}",
                    kind=SpanKind.CLIENT,
                    attributes=genai_attributes(model, provider_name, i, o, **extra),
                ):
                    pass
            root.set_status(Status(StatusCode.ERROR, "upstream said no"))
    for provider in providers.values():
        provider.shutdown()


@pytest.mark.parametrize("transport", ["http", "http-gzip", "grpc", "grpc-gzip"])
def test_every_span_arrives_priced_and_everything_else_byte_identical(transport):
    with OtlpReceiver() as downstream, OtlpReceiver() as direct, running_gateway(downstream.endpoint) as gateway:

        def to_gateway():
            if transport.startswith("grpc"):
                return grpc_exporter(gateway, gzip=transport == "grpc-gzip")
            return http_exporter(gateway, gzip=transport == "http-gzip")

        providers = {
            name: service(name, to_gateway(), HttpSpanExporter(endpoint=f"{direct.endpoint}/v1/traces"))
            for name in ("checkout", "search", "frontend")
        }
        _make_traffic(providers)
        expected = 3 * 3 + len(CALLS)
        assert len(direct.wait_for_spans(lambda s: len(s) >= expected)) == expected
        assert len(downstream.wait_for_spans(lambda s: len(s) >= expected)) == expected

        originals = spans_by_id(direct.requests)
        forwarded = spans_by_id(downstream.requests)
        assert forwarded.keys() == originals.keys()
        priced = 0
        for span_id, (resource, scope, original) in originals.items():
            out_resource, out_scope, out = forwarded[span_id]
            assert out_resource == resource and out_scope == scope
            keys = {kv.key for kv in original.attributes}
            assert without_added(out, keys) == original, original.name
            added = added_keys(out, keys)
            assert all(k.startswith(ADDED_PREFIX) or k in ADDED_EXTRA for k in added)
            values = attribute_map(out)
            if original.name.startswith("chat "):
                [(_, model, provider, i, o, cached)] = [c for c in CALLS if f"chat {c[1]}" == original.name]
                want = oracle(model, provider, input_tokens=i, output_tokens=o, cache_read_tokens=cached)
                assert values[attr.COST_STATUS] == "priced"
                assert values[attr.COST_AMOUNT] == pytest.approx(want, abs=1e-9)
                assert values[attr.USAGE_COST_ALIAS] == values[attr.COST_AMOUNT]
                priced += 1
            elif original.name in ("POST /checkout", "POST /search"):
                # the local root of each service carries its calls' total
                name = original.name.split("/")[1]
                total = sum(
                    oracle(m, p, input_tokens=i, output_tokens=o, cache_read_tokens=c)
                    for s, m, p, i, o, c in CALLS
                    if s == name
                )
                assert values[attr.TRACE_AMOUNT] == pytest.approx(total, abs=1e-9)
                assert values[attr.TRACE_CALLS] == 2
            else:
                assert not added, original.name
        assert priced == len(CALLS)
        assert gateway.stats.get("spans_priced") == len(CALLS)
        assert gateway.stats.get("spans_in") == expected
    assert gateway.stats.get("spans_out") == expected


def _hand_built_request(*, unknown_field: bytes = b"") -> ExportTraceServiceRequest:
    """A request no SDK would make: kvlist and bytes attributes, unknown fields, a legacy-spelled GenAI span."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.add(key="service.name", value=AnyValue(string_value="node-agent"))
    resource_spans.schema_url = "https://opentelemetry.io/schemas/1.21.0"
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = "@traceloop/instrumentation-openai"
    scope_spans.scope.version = "0.9.0"
    span = scope_spans.spans.add(
        trace_id=bytes.fromhex("0af7651916cd43dd8448eb211c80319c"),
        span_id=bytes.fromhex("b7ad6b7169203331"),
        name="openai.chat",
        kind=3,
        start_time_unix_nano=1_764_000_000_000_000_000,
        end_time_unix_nano=1_764_000_001_500_000_000,
        flags=0x101,
    )
    span.attributes.extend(
        [
            KeyValue(key="gen_ai.system", value=AnyValue(string_value="openai")),
            KeyValue(key="llm.request.type", value=AnyValue(string_value="chat")),
            KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o")),
            KeyValue(key="gen_ai.usage.prompt_tokens", value=AnyValue(int_value=2000)),
            KeyValue(key="gen_ai.usage.completion_tokens", value=AnyValue(int_value=500)),
            KeyValue(key="blob", value=AnyValue(bytes_value=b"\x00\x01")),
            KeyValue(
                key="nested",
                value=AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key="k", value=AnyValue(double_value=1.5))])),
            ),
        ]
    )
    span.events.add(time_unix_nano=1_764_000_000_100_000_000, name="first token")
    span.status.code = 1
    if unknown_field:
        # A field this proto version does not know (as a newer sender might add): kept as unknown bytes.
        span.MergeFromString(unknown_field)
    return request


def _post(url: str, body: bytes, content_type: str, **headers: str) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type, **headers})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def test_protobuf_body_keeps_unknown_fields_and_odd_attribute_types():
    unknown = b"\xf8\x3e\x2a"  # field 999, varint 42
    request = _hand_built_request(unknown_field=unknown)
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint, grpc_port=None) as gateway:
        status, _, headers = _post(
            f"{gateway.http_endpoint}/v1/traces", request.SerializeToString(), "application/x-protobuf"
        )
        assert status == 200 and headers["Content-Type"] == "application/x-protobuf"
        [received] = downstream.wait_for_spans(lambda s: len(s) >= 1)
    [forwarded] = downstream.requests
    span = forwarded.resource_spans[0].scope_spans[0].spans[0]
    assert unknown in span.SerializeToString()  # unknown field forwarded verbatim
    original = request.resource_spans[0].scope_spans[0].spans[0]
    assert without_added(span, {kv.key for kv in original.attributes}) == original
    assert forwarded.resource_spans[0].resource == request.resource_spans[0].resource
    assert forwarded.resource_spans[0].schema_url == request.resource_spans[0].schema_url
    assert received.attributes[attr.COST_AMOUNT] == pytest.approx(
        oracle("gpt-4o", "openai", input_tokens=2000, output_tokens=500), abs=1e-9
    )


def _otlp_json(request: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON as the spec writes it: camelCase, hex ids, enums as integers."""
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in document["resourceSpans"]:
        for scope_spans in resource_spans["scopeSpans"]:
            for span in scope_spans["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    return json.dumps(document).encode()


def test_json_body_with_hex_ids_is_priced_and_answered_in_json():
    request = _hand_built_request()
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint, grpc_port=None) as gateway:
        status, body, headers = _post(
            f"{gateway.http_endpoint}/v1/traces",
            gzip.compress(_otlp_json(request)),
            "application/json",
            **{"Content-Encoding": "gzip"},
        )
        assert status == 200 and json.loads(body) == {} and headers["Content-Type"] == "application/json"
        [received] = downstream.wait_for_spans(lambda s: len(s) >= 1)
    assert received.trace_id == "0af7651916cd43dd8448eb211c80319c" and received.span_id == "b7ad6b7169203331"
    assert received.attributes[attr.COST_STATUS] == "priced"
    assert received.attributes["nested"] == {"k": 1.5}


def test_spans_priced_upstream_are_left_alone_and_unknown_models_are_not_free():
    with OtlpReceiver() as downstream, OtlpReceiver() as direct, running_gateway(downstream.endpoint) as gateway:
        provider = service(
            "already-priced", http_exporter(gateway), HttpSpanExporter(endpoint=f"{direct.endpoint}/v1/traces")
        )
        tracer = provider.get_tracer("genai_cost")
        priced_upstream = {
            **genai_attributes("gpt-4o", "openai", 100, 10),
            attr.COST_STATUS: "priced",
            attr.COST_AMOUNT: 123.0,  # deliberately not the real price: must not be recomputed
            attr.COST_CURRENCY: "USD",
            # a root call of ours carries its own trace total (lifecycle sets it before end())
            attr.TRACE_AMOUNT: 123.0,
            attr.TRACE_CALLS: 1,
        }
        with tracer.start_as_current_span("chat gpt-4o", attributes=priced_upstream):
            pass
        with tracer.start_as_current_span(
            "chat no-such-model", attributes=genai_attributes("no-such-model-xyz", "openai", 100, 10)
        ):
            pass
        provider.shutdown()
        direct.wait_for_spans(lambda s: len(s) >= 2)
        downstream.wait_for_spans(lambda s: len(s) >= 2)
        originals, forwarded = spans_by_id(direct.requests), spans_by_id(downstream.requests)
    for span_id, (_, _, original) in originals.items():
        out = forwarded[span_id][2]
        if original.name == "chat gpt-4o":
            assert out == original  # not one byte changed
        else:
            values = attribute_map(out)
            assert values[attr.COST_STATUS] == "unknown_model" and attr.COST_AMOUNT not in values
    assert gateway.stats.get("spans_already_priced") == 1
    assert gateway.stats.get("spans_unpriced") == 1


def test_two_instrumentations_of_one_call_are_priced_once():
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint) as gateway:
        provider = service("dup", grpc_exporter(gateway))
        outer, inner = provider.get_tracer("openllmetry"), provider.get_tracer("official.genai")
        call = genai_attributes("gpt-4o", "openai", 1000, 100, **{attr.RESPONSE_ID: "chatcmpl-1"})
        with (
            outer.start_as_current_span("openai.chat", attributes=call),
            inner.start_as_current_span("chat gpt-4o", attributes=call),
        ):
            pass
        provider.shutdown()
        spans = downstream.wait_for_spans(lambda s: len(s) >= 2)
    statuses = sorted(s.attributes[attr.COST_STATUS] for s in spans)
    assert statuses == ["duplicate", "priced"]
    assert sum(s.attributes.get(attr.COST_AMOUNT, 0) for s in spans) == pytest.approx(
        oracle("gpt-4o", "openai", input_tokens=1000, output_tokens=100), abs=1e-9
    )
    assert gateway.stats.get("spans_duplicate") == 1


def test_bearer_token_is_required_on_both_transports():
    body = _hand_built_request().SerializeToString()
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint, token="s3cret") as gateway:
        url = f"{gateway.http_endpoint}/v1/traces"
        assert _post(url, body, "application/x-protobuf")[0] == 401
        assert _post(url, body, "application/x-protobuf", Authorization="Bearer wrong")[0] == 401
        with grpc.insecure_channel(gateway.grpc_endpoint) as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            with pytest.raises(grpc.RpcError) as refused:
                export(body, timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            export(body, timeout=5, metadata=(("authorization", "Bearer s3cret"),))
        assert _post(url, body, "application/x-protobuf", Authorization="Bearer s3cret")[0] == 200
        # the official exporters, configured with the header, get through
        provider = service("authed", http_exporter(gateway, headers={"Authorization": "Bearer s3cret"}))
        with provider.get_tracer("t").start_as_current_span("plain"):
            pass
        provider.shutdown()
        spans = downstream.wait_for_spans(lambda s: len(s) >= 3)
    assert len(spans) == 3
    assert gateway.stats.get("rejected_requests") == 3


def test_spend_is_handed_to_the_spend_sink_and_health_and_metrics_are_served():
    from genai_cost.gateway import Gateway
    from gateway_support import gateway_config

    settled = []
    with OtlpReceiver() as downstream:
        gateway = Gateway(
            gateway_config(downstream.endpoint, grpc_port=None),
            spend_sink=lambda cost, attrs: settled.append(cost.amount),
        ).start()
        try:
            body = _hand_built_request().SerializeToString()
            assert _post(f"{gateway.http_endpoint}/v1/traces", body, "application/x-protobuf")[0] == 200
            with urllib.request.urlopen(f"{gateway.http_endpoint}/healthz", timeout=5) as health:
                assert health.status == 200
            downstream.wait_for_spans(lambda s: len(s) >= 1)
            # the forwarder counts a batch once the downstream's answer is back, just after it arrived
            assert eventually(lambda: gateway.stats.get("spans_out") == 1)
            with urllib.request.urlopen(f"{gateway.http_endpoint}/metrics", timeout=5) as metrics:
                text = metrics.read().decode()
        finally:
            gateway.shutdown()
    assert settled == [pytest.approx(oracle("gpt-4o", "openai", input_tokens=2000, output_tokens=500), abs=1e-9)]
    assert "genai_cost_gateway_spans_priced_total 1" in text
    assert "genai_cost_gateway_spans_out_total 1" in text
    assert "genai_cost_gateway_queue_spans 0" in text


def test_gateway_counters_reach_the_otel_metrics_api():
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint, grpc_port=None) as gateway:
        gateway.stats.register_instruments(MeterProvider(metric_readers=[reader]))
        _post(f"{gateway.http_endpoint}/v1/traces", _hand_built_request().SerializeToString(), "application/x-protobuf")
        downstream.wait_for_spans(lambda s: len(s) >= 1)
        data = reader.get_metrics_data()
    values = {
        metric.name: metric.data.data_points[0].value
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }
    assert values["genai_cost.gateway.spans_in"] == 1
    assert values["genai_cost.gateway.spans_priced"] == 1
