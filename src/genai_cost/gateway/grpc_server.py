"""The OTLP/gRPC receiver: ``TraceService/Export``, taking the request as bytes so we parse it once.

Every request reserves its bytes (inflated by gRPC already, and decoded) in the memory limiter
shared with the HTTP receiver; over the limit it is refused RESOURCE_EXHAUSTED with a RetryInfo,
which the Collector's and the SDKs' exporters retry. At most ``max_connections`` calls run or
wait at once (gRPC refuses the rest itself). With a certificate it speaks TLS, and with a client
CA requires client certificates. Spans that do not decode are left out and counted in the
response's ``partial_success``; the rest are kept.
"""

from __future__ import annotations

import hmac
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from genai_cost.gateway.admission import MemoryExhausted
from genai_cost.gateway.otlp import DECODED_FACTOR, PayloadError, parse_protobuf_partial
from genai_cost.gateway.passthrough import SIGNALS, RelayError
from genai_cost.gateway.senders import retry_metadata

if TYPE_CHECKING:
    from genai_cost.gateway.receiver import Receiver

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"
_WORKERS = 8


def grpc_available() -> bool:
    try:
        import grpc  # noqa: F401  (imported now: serving gRPC needs it anyway)
    except ImportError:
        return False
    return True


def serve_grpc(gateway: Receiver, host: str, port: int) -> tuple[Any, int]:
    try:
        import grpc
    except ImportError:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "the gateway's gRPC listener needs grpcio (the gateway extra: pip install grpcio), "
            "or pass --grpc-port off to serve OTLP/HTTP only"
        ) from None
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    config = gateway.config
    expected_auth = f"Bearer {config.token}".encode() if config.token else None
    limiter = gateway.memory

    def export(payload: bytes, context: Any) -> bytes:
        if expected_auth is not None:
            given = dict(context.invocation_metadata()).get("authorization", "")
            if not hmac.compare_digest(given.encode(), expected_auth):
                gateway.stats.add(rejected_requests=1)
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        with limiter.reservation() as held:
            try:
                held.grow((1 + DECODED_FACTOR) * len(payload))
            except MemoryExhausted as exc:
                gateway.stats.add(rejected_requests=1, requests_over_memory_limit=1)
                context.set_trailing_metadata(retry_metadata(config.retry_after, code=8, message=str(exc)))
                context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
            try:
                decoded = parse_protobuf_partial(payload)
                del payload
                accepted = gateway.ingest(decoded.request)
            except PayloadError as exc:
                gateway.stats.add(rejected_requests=1)
                context.abort(getattr(grpc.StatusCode, exc.grpc_code), str(exc))
        if not accepted:
            gateway.stats.add(rejected_requests=1)
            context.set_trailing_metadata(retry_metadata(config.retry_after))
            context.abort(grpc.StatusCode.UNAVAILABLE, gateway.refusal)
        if not decoded.rejected_spans:
            return b""  # an empty ExportTraceServiceResponse: full success
        gateway.stats.add(spans_rejected=decoded.rejected_spans)
        response = ExportTraceServiceResponse()
        response.partial_success.rejected_spans = decoded.rejected_spans
        response.partial_success.error_message = decoded.error_message
        return response.SerializeToString()

    server = grpc.server(
        ThreadPoolExecutor(max_workers=_WORKERS, thread_name_prefix="genai-cost-gateway-grpc"),
        options=[
            ("grpc.max_receive_message_length", config.max_request_bytes),
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=config.max_connections,
    )
    handler = grpc.unary_unary_rpc_method_handler(export, request_deserializer=None, response_serializer=None)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Export": handler}),))
    # Metrics and logs: relayed to the downstream unchanged (gateway/passthrough.py).
    for path, service in SIGNALS.items():
        relay = grpc.unary_unary_rpc_method_handler(
            _relay(gateway, path, expected_auth, grpc), request_deserializer=None, response_serializer=None
        )
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {"Export": relay}),))
    address = f"{host}:{port}"
    if config.tls_cert is not None:
        from genai_cost.gateway.tls import grpc_server_credentials

        bound = server.add_secure_port(address, grpc_server_credentials(config))
    else:
        bound = server.add_insecure_port(address)
    if bound == 0:
        raise RuntimeError(f"gateway: cannot listen for gRPC on {host}:{port}")
    server.start()
    return server, bound


def _relay(gateway: Receiver, path: str, expected_auth: bytes | None, grpc: Any) -> Any:
    def export(payload: bytes, context: Any) -> bytes:
        if expected_auth is not None:
            given = dict(context.invocation_metadata()).get("authorization", "")
            if not hmac.compare_digest(given.encode(), expected_auth):
                gateway.stats.add(rejected_requests=1)
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            return gateway.passthrough.relay_grpc(path, payload)
        except RelayError as exc:
            context.abort(getattr(grpc.StatusCode, exc.grpc_code, grpc.StatusCode.UNKNOWN), str(exc))
        return b""  # pragma: no cover - abort raises

    return export
