"""The OTLP/gRPC receiver: ``TraceService/Export``, taking the request as bytes so we parse it once."""

from __future__ import annotations

import hmac
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from genai_cost.gateway.otlp import PayloadError, parse_protobuf
from genai_cost.gateway.passthrough import SIGNALS, RelayError
from genai_cost.gateway.senders import retry_metadata

if TYPE_CHECKING:
    from genai_cost.gateway.service import Gateway

SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


def serve_grpc(gateway: Gateway, host: str, port: int) -> tuple[Any, int]:
    try:
        import grpc
    except ImportError:  # pragma: no cover - depends on the install
        raise RuntimeError("the gateway's gRPC listener needs grpcio: pip install 'genai-cost[gateway]'") from None

    config = gateway.config
    expected_auth = f"Bearer {config.token}".encode() if config.token else None

    def export(payload: bytes, context: Any) -> bytes:
        if expected_auth is not None:
            given = dict(context.invocation_metadata()).get("authorization", "")
            if not hmac.compare_digest(given.encode(), expected_auth):
                gateway.stats.add(rejected_requests=1)
                context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        try:
            accepted = gateway.ingest(parse_protobuf(payload))
        except PayloadError as exc:
            gateway.stats.add(rejected_requests=1)
            context.abort(getattr(grpc.StatusCode, exc.grpc_code), str(exc))
        if not accepted:
            gateway.stats.add(rejected_requests=1)
            context.set_trailing_metadata(retry_metadata(config.retry_after))
            context.abort(grpc.StatusCode.UNAVAILABLE, "gateway queue full: retry later")
        return b""  # an empty ExportTraceServiceResponse: full success

    server = grpc.server(
        ThreadPoolExecutor(max_workers=8, thread_name_prefix="genai-cost-gateway-grpc"),
        options=[
            ("grpc.max_receive_message_length", config.max_request_bytes),
            ("grpc.so_reuseport", 0),
        ],
    )
    handler = grpc.unary_unary_rpc_method_handler(export, request_deserializer=None, response_serializer=None)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, {"Export": handler}),))
    # Metrics and logs: relayed to the downstream unchanged (gateway/passthrough.py).
    for path, service in SIGNALS.items():
        relay = grpc.unary_unary_rpc_method_handler(
            _relay(gateway, path, expected_auth, grpc), request_deserializer=None, response_serializer=None
        )
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {"Export": relay}),))
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise RuntimeError(f"gateway: cannot listen for gRPC on {host}:{port}")
    server.start()
    return server, bound


def _relay(gateway: Gateway, path: str, expected_auth: bytes | None, grpc: Any) -> Any:
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
