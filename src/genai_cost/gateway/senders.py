"""Deliver one serialized ``ExportTraceServiceRequest`` to the next OTLP endpoint, over HTTP or gRPC.

A sender makes one attempt and says how it went: it returns on success, raises ``RetryableError``
(with the server's retry hint, if any) for what the OTLP spec calls retryable — HTTP 429/502/503/
504, gRPC UNAVAILABLE and friends, a refused connection — and ``PermanentError`` for a refusal
that no retry can fix (HTTP 400, gRPC INVALID_ARGUMENT). Retrying is the forwarder's job.
"""

from __future__ import annotations

import email.utils
import http.client
import threading
import time
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import urlsplit

from genai_cost.gateway.tls import DownstreamTLS, client_context, grpc_channel

TRACES_PATH = "/v1/traces"
EXPORT_METHOD = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
# The Python OTLP exporter reads a bare RetryInfo here; the standard place is inside the status details.
RETRY_INFO_KEY = "google.rpc.retryinfo-bin"
STATUS_DETAILS_KEY = "grpc-status-details-bin"

_RETRYABLE_HTTP = frozenset({429, 502, 503, 504})
_RETRYABLE_GRPC = frozenset({"CANCELLED", "DEADLINE_EXCEEDED", "ABORTED", "OUT_OF_RANGE", "UNAVAILABLE", "DATA_LOSS"})


class RetryableError(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(Exception):
    pass


class Sender(Protocol):
    def send(self, payload: bytes) -> None: ...

    def close(self) -> None: ...


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class HttpSender:
    """OTLP/HTTP protobuf, one keep-alive connection per sending thread."""

    def __init__(
        self,
        endpoint: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        tls: DownstreamTLS | None = None,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"downstream {endpoint!r} is not an http(s):// URL")
        self._https = parts.scheme == "https"
        # https:// is verified TLS (the system's trust store unless a CA is given), never unverified.
        self._tls_context = client_context(tls or DownstreamTLS()) if self._https else None
        self._host = parts.hostname
        self._port = parts.port
        path = parts.path.rstrip("/")
        self._path = path if path.endswith(TRACES_PATH) else path + TRACES_PATH
        self._headers = {"Content-Type": "application/x-protobuf", **(headers or {})}
        self._timeout = timeout
        self._local = threading.local()

    def _connection(self) -> http.client.HTTPConnection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            if self._https:
                connection = http.client.HTTPSConnection(
                    self._host, self._port, timeout=self._timeout, context=self._tls_context
                )
            else:
                connection = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
            self._local.connection = connection
        return connection

    def send(self, payload: bytes) -> None:
        try:
            response, body = self._exchange(payload)
        except (OSError, http.client.HTTPException) as exc:
            raise RetryableError(f"downstream unreachable: {exc!r}") from None
        connection = self._local.connection
        status = response.status
        if 200 <= status < 300:
            return
        detail = f"downstream answered HTTP {status}: {body[:200]!r}"
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
            self._local.connection = None
        if status in _RETRYABLE_HTTP:
            raise RetryableError(detail, parse_retry_after(response.getheader("Retry-After")))
        raise PermanentError(detail)

    def _exchange(self, payload: bytes, headers: Mapping[str, str] | None = None) -> tuple[Any, bytes]:
        """One request and its response; a kept-alive connection the server has closed meanwhile is
        replaced and the request sent again at once (not a failed export: nothing reached the server)."""
        return exchange(self._local, self._connection, "POST", self._path, payload, headers or self._headers)

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()


# What a server's closing of an idle keep-alive connection looks like to the next request on it
# (uvicorn closes after ~5 s): the request is resent on a new connection instead of waiting out
# a backoff. RemoteDisconnected is a ConnectionResetError.
_STALE_CONNECTION = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, http.client.BadStatusLine)


def exchange(
    local: threading.local,
    connect: Any,
    method: str,
    path: str,
    body: bytes,
    headers: Mapping[str, str],
) -> tuple[Any, bytes]:
    """``method path`` on the thread's connection (``connect()`` makes or returns it); raises
    ``OSError`` / ``HTTPException`` when the downstream cannot be reached."""
    for attempt in (1, 2):
        connection = connect()
        reused = connection.sock is not None
        try:
            connection.request(method, path, body=body, headers=dict(headers))
            response = connection.getresponse()
            return response, response.read()
        except _STALE_CONNECTION:
            connection.close()
            local.connection = None
            if not reused or attempt == 2:
                raise
        except (OSError, http.client.HTTPException):
            connection.close()
            local.connection = None
            raise
    raise AssertionError("unreachable")  # pragma: no cover


class GrpcSender:
    """OTLP/gRPC ``TraceService/Export`` with the payload passed as-is (no re-serialisation)."""

    def __init__(
        self,
        target: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        tls: DownstreamTLS | None = None,
    ) -> None:
        import grpc
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        self._grpc = grpc
        self._channel = grpc_channel(target, tls or DownstreamTLS())
        self._export = self._channel.unary_unary(
            EXPORT_METHOD, request_serializer=None, response_deserializer=ExportTraceServiceResponse.FromString
        )
        self._metadata = tuple((k.lower(), v) for k, v in (headers or {}).items())
        self._timeout = timeout

    def send(self, payload: bytes) -> None:
        try:
            self._export(payload, timeout=self._timeout, metadata=self._metadata)
        except self._grpc.RpcError as error:
            code = error.code().name if hasattr(error, "code") and error.code() else "UNKNOWN"
            detail = f"downstream answered gRPC {code}: {error.details() if hasattr(error, 'details') else error}"
            retry_after = grpc_retry_delay(error)
            if code in _RETRYABLE_GRPC or (code == "RESOURCE_EXHAUSTED" and retry_after is not None):
                raise RetryableError(detail, retry_after) from None
            raise PermanentError(detail) from None

    def close(self) -> None:
        self._channel.close()


def grpc_retry_delay(error: Any) -> float | None:
    """The server's ``RetryInfo`` delay, from either place servers put it."""
    from google.rpc.error_details_pb2 import RetryInfo
    from google.rpc.status_pb2 import Status

    try:
        metadata = dict(error.trailing_metadata() or ())
    except Exception:
        return None
    info = None
    if RETRY_INFO_KEY in metadata:
        info = RetryInfo.FromString(metadata[RETRY_INFO_KEY])
    elif STATUS_DETAILS_KEY in metadata:
        for detail in Status.FromString(metadata[STATUS_DETAILS_KEY]).details:
            if detail.Is(RetryInfo.DESCRIPTOR):
                info = RetryInfo()
                detail.Unpack(info)
    if info is None:
        return None
    return info.retry_delay.seconds + info.retry_delay.nanos / 1e9


def retry_metadata(
    delay_s: float, *, code: int = 14, message: str = "gateway queue full"
) -> tuple[tuple[str, bytes], ...]:
    """Trailing metadata carrying a retry hint of ``delay_s`` seconds, both ways clients read it
    (``code``: the google.rpc.Code of the status it rides on, 14 UNAVAILABLE, 8 RESOURCE_EXHAUSTED)."""
    from google.protobuf.any_pb2 import Any as AnyMessage
    from google.protobuf.duration_pb2 import Duration
    from google.rpc.error_details_pb2 import RetryInfo
    from google.rpc.status_pb2 import Status

    info = RetryInfo(retry_delay=Duration(seconds=int(delay_s), nanos=int((delay_s % 1) * 1e9)))
    detail = AnyMessage()
    detail.Pack(info)
    status = Status(code=code, message=message, details=[detail])
    return ((RETRY_INFO_KEY, info.SerializeToString()), (STATUS_DETAILS_KEY, status.SerializeToString()))


def make_sender(
    endpoint: str, protocol: str, headers: Mapping[str, str], timeout: float, tls: DownstreamTLS | None = None
) -> Sender:
    if protocol == "grpc":
        return GrpcSender(endpoint, headers=headers, timeout=timeout, tls=tls)
    if protocol == "http/protobuf":
        return HttpSender(endpoint, headers=headers, timeout=timeout, tls=tls)
    raise ValueError(f"downstream protocol {protocol!r}: use grpc or http/protobuf")
