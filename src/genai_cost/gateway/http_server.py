"""The OTLP/HTTP receiver: POST /v1/traces, GET /healthz, GET /metrics (Prometheus text); POST
/v1/metrics and /v1/logs are relayed to the downstream unchanged (gateway/passthrough.py)."""

from __future__ import annotations

import hmac
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from genai_cost.gateway.otlp import JSON, PROTOBUF, PayloadError, decode_body, encode_status, media_type, too_large
from genai_cost.gateway.passthrough import SIGNALS, RelayError

if TYPE_CHECKING:
    from genai_cost.gateway.service import Gateway

_log = logging.getLogger(__name__)

# google.rpc.Code numbers for the Status body of an error response.
_RPC_CODES = {400: 3, 401: 16, 411: 3, 413: 8, 415: 3, 500: 13, 503: 14}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


def serve_http(gateway: Gateway, host: str, port: int) -> tuple[ThreadingHTTPServer, threading.Thread]:
    config = gateway.config
    limit = config.max_request_bytes
    expected_auth = f"Bearer {config.token}".encode() if config.token else None

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: exporters reuse their connection
        timeout = 30  # a client that stops sending mid-body does not hold a thread forever

        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
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

        def do_GET(self) -> None:
            if self.path in ("/healthz", "/health"):
                healthy = gateway.healthy
                self._reply(200 if healthy else 503, b"ok\n" if healthy else b"shutting down\n", "text/plain")
            elif self.path == "/metrics":
                self._reply(200, gateway.stats.prometheus_text().encode(), "text/plain; version=0.0.4")
            else:
                self._reply(404, b"not found\n", "text/plain")

        def do_POST(self) -> None:
            path = self.path.split("?", 1)[0]
            if path != "/v1/traces" and path not in SIGNALS:
                self.close_connection = True
                self._reply(404, b"only /v1/traces, /v1/metrics and /v1/logs are served here\n", "text/plain")
                return
            try:
                kind = media_type(self.headers.get("Content-Type"))
            except PayloadError as exc:
                self.close_connection = True
                self._error(exc.http_status, str(exc), None)
                return
            if expected_auth is not None and not hmac.compare_digest(
                (self.headers.get("Authorization") or "").encode(), expected_auth
            ):
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
            try:
                request = decode_body(body, kind, self.headers.get("Content-Encoding"), limit)
                accepted = gateway.ingest(request)
            except PayloadError as exc:
                self._error(exc.http_status, str(exc), kind)
                return
            except Exception:  # a bug of ours: the client keeps its spans and may retry
                _log.exception("genai-cost gateway: handling an export request failed")
                self._error(500, "internal error in the gateway", kind)
                return
            if not accepted:
                hint = str(max(1, round(config.retry_after)))
                self._error(503, "gateway queue full: retry later", kind, {"Retry-After": hint})
                return
            self._reply(200, b"{}" if kind == JSON else b"", kind if kind == JSON else PROTOBUF)

    server = _Server((host, port), Handler)
    thread = threading.Thread(target=server.serve_forever, name="genai-cost-gateway-http", daemon=True)
    thread.start()
    return server, thread
