"""A webhook that redirects gets no credentials sent on, and a redirect is not a delivery (issue
11, finding 9).

Two real HTTP servers: the webhook (answers every POST with a redirect) on 127.0.0.1, and the
place it points to on another host, 127.0.0.2, which records whatever reaches it. Before the fix
urllib followed 301/302/303 as a GET carrying the alert's ``Authorization`` header and counted the
alert delivered.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "budget"))
from test_alerts import alert

from genai_cost.budget.alerts import AlertDispatcher, AlertSettings
from genai_cost.channels.webhook import Webhook

SECRET = "Bearer s3cret-webhook-token"


@contextlib.contextmanager
def http_server(host: str, answer: Any) -> Iterator[tuple[str, list[tuple[str, str, dict[str, str]]]]]:
    """A server on ``host`` recording (method, path, headers) and answering with ``answer(handler)``."""
    seen: list[tuple[str, str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def _any(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
            answer(self)

        do_GET = do_POST = do_PUT = _any

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def ok(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "2")
    handler.end_headers()
    handler.wfile.write(b"ok")


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed_and_not_a_delivery(status: int, caplog: pytest.LogCaptureFixture) -> None:
    with http_server("127.0.0.2", ok) as (elsewhere, stolen):

        def redirect(handler: BaseHTTPRequestHandler) -> None:
            handler.send_response(status)
            handler.send_header("Location", f"{elsewhere}/collect")
            handler.send_header("Content-Length", "0")
            handler.end_headers()

        with http_server("127.0.0.1", redirect) as (webhook, seen):
            hook = Webhook(f"{webhook}/hook", headers={"Authorization": SECRET}, retries=2, backoff=0.01)
            alerts = AlertDispatcher(AlertSettings(webhooks=(hook,)))
            with caplog.at_level(logging.DEBUG, logger="genai_cost"):
                alerts(alert(threshold=50.0))
                alerts(alert(threshold=80.0))
                assert alerts.close(timeout=20)
    assert [method for method, _, _ in seen] == ["POST", "POST"]  # one attempt each: not retried
    assert stolen == []  # nothing, with or without the header, reached the other host
    assert alerts.delivered == 0 and alerts.failed == 2
    redirects = [r for r in caplog.records if "redirect" in r.getMessage()]
    assert len(redirects) == 1, [r.getMessage() for r in caplog.records]  # logged once, not per alert
    assert SECRET not in caplog.text and "s3cret" not in caplog.text


def test_a_plain_delivery_still_counts(caplog: pytest.LogCaptureFixture) -> None:
    with http_server("127.0.0.1", ok) as (webhook, seen):
        alerts = AlertDispatcher(
            AlertSettings(webhooks=(Webhook(f"{webhook}/hook", headers={"Authorization": SECRET}),))
        )
        alerts(alert())
        assert alerts.close(timeout=20)
    assert alerts.delivered == 1 and alerts.failed == 0
    assert seen[0][2]["authorization"] == SECRET
