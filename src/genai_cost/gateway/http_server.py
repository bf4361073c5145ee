"""The OTLP/HTTP receiver: POST /v1/traces, GET /healthz, GET /metrics (Prometheus text); POST
/v1/metrics and /v1/logs are relayed to the downstream unchanged (gateway/passthrough.py).

Held against slow, many and hostile clients as the Collector's receiver is: a listen backlog of
``listen_backlog`` (the stdlib's 5 reset a burst of 60 clients), at most ``max_connections`` open
(more are answered 503 and closed), deadlines on the whole of a request's headers and body
(not per ``recv``: one byte a second must not hold a connection), every body's bytes reserved in
the memory limiter before they are read, and clients that hang up logged at DEBUG, not as
tracebacks. With a certificate it speaks TLS (and asks for client certificates with a CA).
"""

from __future__ import annotations

import hmac
import io
import logging
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from genai_cost.gateway.admission import MemoryExhausted
from genai_cost.gateway.passthrough import SIGNALS, RelayError
from genai_cost.gateway.otlp import (
    JSON,
    PROTOBUF,
    PayloadError,
    decode_body,
    encode_response,
    encode_status,
    media_type,
    too_large,
)

if TYPE_CHECKING:
    from genai_cost.gateway.receiver import Receiver

_log = logging.getLogger(__name__)

# google.rpc.Code numbers for the Status body of an error response.
_RPC_CODES = {400: 3, 401: 16, 411: 3, 413: 8, 415: 3, 500: 13, 503: 14}
_TRACES_PATH = "/v1/traces"
_GONE = (ConnectionError, TimeoutError, ssl.SSLError, socket.timeout)


class _DeadlineReader(io.RawIOBase):
    """A connection's read side with one deadline for a whole phase (headers, then body)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.deadline = float("inf")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("read deadline passed")
        self._sock.settimeout(min(remaining, 3600.0))
        return self._sock.recv_into(buffer)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], handler: Any, gateway: Receiver, tls: ssl.SSLContext | None) -> None:
        config = gateway.config
        self.request_queue_size = config.listen_backlog
        self.gateway = gateway
        self.tls = tls
        self.max_connections = config.max_connections
        self.open_connections = 0
        self._count_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._count_lock:
            full = self.open_connections >= self.max_connections
            if not full:
                self.open_connections += 1
        if full:
            self.gateway.stats.add(connections_refused=1)
            hint = max(1, round(self.gateway.config.retry_after))
            try:  # plaintext only: a TLS client would need a handshake first, so it is just closed
                if self.tls is None:
                    request.sendall(
                        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: %d\r\nContent-Length: 0\r\n"
                        b"Connection: close\r\n\r\n" % hint
                    )
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._count_lock:
                self.open_connections -= 1

    def get_request(self) -> tuple[Any, Any]:
        sock, address = super().get_request()
        if self.tls is not None:  # the handshake runs in the connection's thread, under a deadline
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, _GONE):  # the client hung up, timed out or spoke no TLS: not our fault
            _log.debug("genai-cost gateway: connection from %s ended: %r", client_address, error)
        else:
            _log.exception("genai-cost gateway: error on a connection from %s", client_address)


def serve_http(
    gateway: Receiver, host: str, port: int, tls: ssl.SSLContext | None = None
) -> tuple[ThreadingHTTPServer, threading.Thread]:
    config = gateway.config
    limit = config.max_request_bytes
    expected_auth = f"Bearer {config.token}".encode() if config.token else None
    limiter = gateway.memory

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: exporters reuse their connection

        def setup(self) -> None:
            if tls is not None:
                self.request.settimeout(config.header_timeout)
                self.request.do_handshake()
            super().setup()
            self.rfile.close()  # its socket reference would keep the descriptor open after close
            self._reader = _DeadlineReader(self.request)
            self.rfile = io.BufferedReader(self._reader)

        def handle_one_request(self) -> None:
            # An idle keep-alive connection may wait for its next request; once a request
            # starts, its request line and headers have ``header_timeout`` in all.
            self._reader.deadline = time.monotonic() + config.idle_timeout
            try:
                if not self.rfile.peek(1):
                    self.close_connection = True
                    return
            except _GONE:
                self.close_connection = True
                return
            self._reader.deadline = time.monotonic() + config.header_timeout
            super().handle_one_request()

        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
            self.request.settimeout(config.body_timeout)  # not what was left of the read deadline
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str, kind: str | None, headers: dict[str, str] | None = None) -> None:
            gateway.stats.add(rejected_requests=1)
            if kind is None:
                self._reply(status, message.encode(), "text/plain; charset=utf-8", headers)
            else:
                self._reply(status, encode_status(message, _RPC_CODES.get(status, 2), kind), kind, headers)

        def _authorized(self) -> bool:
            return expected_auth is None or hmac.compare_digest(
                (self.headers.get("Authorization") or "").encode(), expected_auth
            )

        def _retry_hint(self) -> dict[str, str]:
            return {"Retry-After": str(max(1, round(config.retry_after)))}

        def do_GET(self) -> None:
            if self.path in ("/healthz", "/health"):
                healthy = gateway.healthy
                self._reply(200 if healthy else 503, b"ok\n" if healthy else b"shutting down\n", "text/plain")
            elif self.path == "/metrics":
                if config.protect_metrics and not self._authorized():
                    self._error(401, "missing or wrong bearer token", None, {"WWW-Authenticate": "Bearer"})
                    return
                self._reply(200, gateway.stats.prometheus_text().encode(), "text/plain; version=0.0.4")
            else:
                self._reply(404, b"not found\n", "text/plain")

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path != _TRACES_PATH and path not in SIGNALS:
                self.close_connection = True
                self._reply(404, b"only /v1/traces, /v1/metrics and /v1/logs are served here\n", "text/plain")
                return
            try:
                kind = media_type(self.headers.get("Content-Type"))
            except PayloadError as exc:
                self.close_connection = True
                self._error(exc.http_status, str(exc), None)
                return
            if not self._authorized():
                self.close_connection = True
                self._error(401, "missing or wrong bearer token", kind, {"WWW-Authenticate": "Bearer"})
                return
            length_header = self.headers.get("Content-Length")
            if length_header is None or not length_header.isdigit():
                self.close_connection = True
                self._error(411, "Content-Length is required", kind)
                return
            length = int(length_header)
            if length > limit:
                self.close_connection = True  # the unread body would be taken for the next request
                self._error(413, str(too_large("the request body", limit)), kind)
                return
            with limiter.reservation() as held:
                try:
                    held.grow(length)
                except MemoryExhausted as exc:
                    gateway.stats.add(requests_over_memory_limit=1)
                    self._reader.deadline = time.monotonic() + config.body_timeout + length / 65536
                    # Read past the body in small pieces (memory is what is short, not time), so
                    # the client gets to read the 503 rather than a reset mid-send.
                    self._discard(length)
                    self._error(503, str(exc), kind, self._retry_hint())
                    return
                # The body has its own deadline: a floor, plus time for its size at a slow 64 kB/s.
                self._reader.deadline = time.monotonic() + config.body_timeout + length / 65536
                body = self.rfile.read(length)
                if len(body) < length:
                    self.close_connection = True
                    return  # the client went away mid-body: nobody to answer
                if path in SIGNALS:  # metrics, logs: relayed as they came
                    try:
                        status, reply, reply_type = gateway.passthrough.relay_http(path, body, self.headers)
                    except RelayError as exc:
                        self._error(exc.http_status, str(exc), kind)
                        return
                    self._reply(status, reply, reply_type)
                    return
                self._export(body, kind, held)

        def _discard(self, length: int) -> None:
            while length > 0:
                piece = self.rfile.read(min(length, 65536))
                if not piece:
                    self.close_connection = True
                    return
                length -= len(piece)

        def _export(self, body: bytes, kind: str, held: Any) -> None:
            try:
                decoded = decode_body(body, kind, self.headers.get("Content-Encoding"), limit, held.grow)
                del body
                accepted = gateway.ingest(decoded.request)
            except MemoryExhausted as exc:
                gateway.stats.add(requests_over_memory_limit=1)
                self._error(503, str(exc), kind, self._retry_hint())
                return
            except PayloadError as exc:
                self._error(exc.http_status, str(exc), kind)
                return
            except Exception:  # a bug of ours: the client keeps its spans and may retry
                _log.exception("genai-cost gateway: handling an export request failed")
                self._error(500, "internal error in the gateway", kind)
                return
            if not accepted:
                self._error(503, gateway.refusal, kind, self._retry_hint())
                return
            if decoded.rejected_spans:
                gateway.stats.add(spans_rejected=decoded.rejected_spans)
            self._reply(200, encode_response(decoded, kind), kind if kind == JSON else PROTOBUF)

    server = _Server((host, port), Handler, gateway, tls)
    thread = threading.Thread(target=server.serve_forever, name="genai-cost-gateway-http", daemon=True)
    thread.start()
    return server, thread
