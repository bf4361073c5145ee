"""Shared pieces of the gateway tests: a real gateway on free ports, real SDK exporters, oracles.

Every test drives the gateway the way production does: spans made by the OpenTelemetry SDK,
exported by the official OTLP exporters (HTTP and gRPC) to the gateway, which forwards to a real
OTLP receiver. Nothing of ours is mocked.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from genai_prices import Usage, calc_price
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from genai_cost import attributes as attr
from genai_cost.gateway import Gateway, GatewayConfig

# Attributes the gateway may add to a span (everything else must arrive untouched).
ADDED_PREFIX = "genai_cost."
# Plus what other backends read (attributes.BACKENDS), by default.
ADDED_EXTRA = frozenset(
    {
        attr.USAGE_COST_ALIAS,
        attr.MLFLOW_LLM_COST,
        attr.USAGE_CACHE_CREATION_TOKENS,
        attr.OPENINFERENCE_LLM_MODEL_NAME,
        attr.OPENINFERENCE_SPAN_KIND,
    }
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def gateway_config(downstream: str, **overrides: Any) -> GatewayConfig:
    settings: dict[str, Any] = {
        "http_port": 0,
        "grpc_port": 0,
        "downstream": downstream,
        "initial_backoff": 0.02,
        "max_backoff": 0.2,
        "retry_after": 1,
        "drain_timeout": 5.0,
        "downstream_insecure": True,  # the test receivers speak plaintext gRPC (TLS is the default)
    }
    settings.update(overrides)
    return GatewayConfig(**settings)


@contextlib.contextmanager
def running_gateway(downstream: str, **overrides: Any) -> Iterator[Gateway]:
    gateway = Gateway(gateway_config(downstream, **overrides)).start()
    try:
        yield gateway
    finally:
        gateway.shutdown()


def http_exporter(gateway: Gateway, *, gzip: bool = False, headers: dict[str, str] | None = None) -> HttpSpanExporter:
    return HttpSpanExporter(
        endpoint=f"{gateway.http_endpoint}/v1/traces",
        compression=Compression.Gzip if gzip else Compression.NoCompression,
        headers=headers,
        timeout=10,
    )


def grpc_exporter(gateway: Gateway, headers: dict[str, str] | None = None, *, gzip: bool = False) -> GrpcSpanExporter:
    import grpc

    return GrpcSpanExporter(
        endpoint=gateway.grpc_endpoint,
        insecure=True,
        headers=headers,
        timeout=10,
        compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
    )


def service(name: str, *exporters: SpanExporter, max_queue_size: int = 2048) -> TracerProvider:
    """A TracerProvider standing for one service, exporting to each of ``exporters``."""
    provider = TracerProvider(resource=Resource.create({"service.name": name, "deployment.environment": "test"}))
    for exporter in exporters:
        provider.add_span_processor(
            BatchSpanProcessor(exporter, schedule_delay_millis=50, max_queue_size=max_queue_size)
        )
    return provider


def genai_attributes(model: str, provider: str, input_tokens: int, output_tokens: int, **extra: Any) -> dict[str, Any]:
    return {
        attr.OPERATION_NAME: "chat",
        attr.PROVIDER_NAME: provider,
        attr.REQUEST_MODEL: model,
        attr.USAGE_INPUT_TOKENS: input_tokens,
        attr.USAGE_OUTPUT_TOKENS: output_tokens,
        **extra,
    }


def oracle(model: str, provider: str, **usage: int) -> float:
    """genai-prices' own answer: the reference every amount is checked against."""
    return float(calc_price(Usage(**usage), model, provider_id=provider).total_price)


def spans_by_id(requests: list[Any]) -> dict[bytes, tuple[Any, Any, Any]]:
    """span id -> (resource, scope, span) over every received request."""
    found = {}
    for request in requests:
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    found[span.span_id] = (resource_spans.resource, scope_spans.scope, span)
    return found


def without_added(span: Any, original_keys: set[str]) -> Any:
    """A copy of ``span`` without the attributes the gateway added (those not in ``original_keys``)."""
    copy = type(span)()
    copy.CopyFrom(span)
    kept = [kv for kv in copy.attributes if kv.key in original_keys]
    del copy.attributes[:]
    copy.attributes.extend(kept)
    return copy


def added_keys(span: Any, original_keys: set[str]) -> set[str]:
    return {kv.key for kv in span.attributes} - original_keys


def attribute_map(span: Any) -> dict[str, Any]:
    from genai_cost.gateway.wire import any_value

    return {kv.key: any_value(kv.value) for kv in span.attributes}


def eventually(predicate: Any, timeout: float = 20.0) -> bool:
    """Poll ``predicate`` until true or ``timeout`` (for state with nothing to wait on)."""
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@contextlib.contextmanager
def dead_endpoint() -> Iterator[str]:
    """An http:// endpoint that refuses connections: the port is bound (so nobody else takes it
    during the test) but never listened on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
