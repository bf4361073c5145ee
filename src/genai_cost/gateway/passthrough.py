"""OTLP metrics and logs through the gateway, unchanged: apps may point their whole OTLP endpoint at it.

Only traces are priced; a metrics or logs export is relayed to the downstream as it came (same
body, same Content-Type and Content-Encoding over HTTP; the same serialized request over gRPC)
and the downstream's answer goes back to the client. The relay is synchronous — no queue, no
spool — so the client's own exporter keeps its retry semantics: a downstream that is down is a
503 / UNAVAILABLE the client retries, never data the gateway acknowledged and then lost.
Toward the downstream it speaks TLS exactly as trace forwarding does (``tls.DownstreamTLS``: the
same CA, client certificate and insecure choice), so metrics and logs never take a path in
the clear, or unverified, that traces do not.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlsplit

from genai_cost.gateway.senders import exchange
from genai_cost.gateway.tls import DownstreamTLS, client_context, grpc_channel

# OTLP/HTTP path -> the gRPC service of the same signal.
SIGNALS = {
    "/v1/metrics": "opentelemetry.proto.collector.metrics.v1.MetricsService",
    "/v1/logs": "opentelemetry.proto.collector.logs.v1.LogsService",
}
_PASSED_HEADERS = ("Content-Type", "Content-Encoding")
# HTTP status of the downstream -> gRPC status name for a gRPC client (OTLP spec's mapping).
_GRPC_FOR_HTTP = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "UNIMPLEMENTED",
                  413: "RESOURCE_EXHAUSTED", 429: "RESOURCE_EXHAUSTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE",
                  504: "UNAVAILABLE"}  # fmt: skip


class Headers(Protocol):
    """A request's headers, looked up without regard to case (``http.server``'s ``Message``)."""

    def get(self, name: str, /) -> str | None: ...


class RelayError(Exception):
    """The downstream could not be reached or refused: ``http_status`` / ``grpc_code`` for the client."""

    def __init__(self, message: str, http_status: int = 503, grpc_code: str = "UNAVAILABLE") -> None:
        super().__init__(message)
        self.http_status = http_status
        self.grpc_code = grpc_code


class Passthrough:
    def __init__(
        self,
        endpoint: str,
        protocol: str,
        headers: Mapping[str, str],
        timeout: float,
        tls: DownstreamTLS | None = None,
    ) -> None:
        tls = tls or DownstreamTLS()
        self._protocol = protocol
        self._headers = dict(headers)
        self._timeout = timeout
        self._local = threading.local()
        if protocol == "grpc":
            import grpc

            self._grpc = grpc
            self._channel = grpc_channel(endpoint, tls)  # as trace forwarding opens its own
            self._methods = {
                path: self._channel.unary_unary(
                    f"/{service}/Export", request_serializer=None, response_deserializer=None
                )
                for path, service in SIGNALS.items()
            }
        else:
            parts = urlsplit(endpoint)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"downstream {endpoint!r} is not an http(s):// URL")
            self._https = parts.scheme == "https"
            self._tls_context = client_context(tls) if self._https else None
            self._host: str = parts.hostname
            self._port = parts.port
            base = parts.path.rstrip("/")
            # A downstream given as .../v1/traces (the gateway's own convention) relays beside it.
            self._base = base[: -len("/v1/traces")] if base.endswith("/v1/traces") else base

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = (
                http.client.HTTPSConnection(self._host, self._port, timeout=self._timeout, context=self._tls_context)
                if self._https
                else http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            )
        return connection

    def relay_http(
        self, path: str, body: bytes, request_headers: Headers | Mapping[str, str]
    ) -> tuple[int, bytes, str]:
        """Relay one OTLP/HTTP export; the downstream's status, body and Content-Type."""
        headers = {**self._headers, **{k: v for k in _PASSED_HEADERS if (v := request_headers.get(k))}}
        if self._protocol == "grpc":  # protobuf bodies only: that is what a gRPC downstream takes
            if "json" in headers.get("Content-Type", "") or headers.get("Content-Encoding", "identity") != "identity":
                raise RelayError("a gRPC downstream takes uncompressed protobuf metrics and logs only", 415)
            self.relay_grpc(path, body)
            return 200, b"", "application/x-protobuf"
        try:
            response, reply = exchange(self._local, self._connection, "POST", self._base + path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            raise RelayError(f"downstream unreachable: {exc!r}") from None
        if response.getheader("Connection", "").lower() == "close":
            self._connection().close()
            self._local.connection = None
        return response.status, reply, response.getheader("Content-Type") or "application/x-protobuf"

    def relay_grpc(self, path: str, payload: bytes) -> bytes:
        """Relay one serialized Export request (from either listener) over the downstream's protocol."""
        if self._protocol != "grpc":
            status, _reply, _ = self.relay_http(path, payload, {"Content-Type": "application/x-protobuf"})
            if not 200 <= status < 300:
                raise RelayError(f"downstream answered HTTP {status}", status, _GRPC_FOR_HTTP.get(status, "UNKNOWN"))
            return b""  # an empty Export*ServiceResponse: full success
        metadata = tuple((k.lower(), v) for k, v in self._headers.items())
        try:
            return self._methods[path](payload, timeout=self._timeout, metadata=metadata) or b""
        except self._grpc.RpcError as error:
            code = error.code().name if hasattr(error, "code") and error.code() else "UNKNOWN"
            raise RelayError(f"downstream answered gRPC {code}", 503, code) from None

    def close(self) -> None:
        if self._protocol == "grpc":
            self._channel.close()
        else:
            connection = getattr(self._local, "connection", None)
            if connection is not None:
                connection.close()
