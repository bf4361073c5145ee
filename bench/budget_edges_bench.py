"""What the budget's edges add on the call path: the ASGI middleware per request, and an alert.

* middleware: ``GenAICostMiddleware`` around a bare ASGI app that answers 200 with a small body,
  driven directly (no server, no socket), with three attribution headers among eight; the
  baseline is the same app without the middleware. The difference is what a request pays: read
  the headers, attach the attribution context, watch the response start.
* alert, repeat: ``AlertDispatcher(alert)`` for an alert already sent this window — what every
  further blocked call pays (a dict lookup and a DEBUG log call that is filtered out).
* alert, first: the first alert of a window with one webhook — logged at WARNING (to a handler
  that discards, so terminal speed is not measured) and queued; the HTTP happens on the sender
  thread and is not in the figure. Each run uses fresh keys.

    .venv/bin/python bench/budget_edges_bench.py     # ~10 s
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from datetime import UTC, datetime
from typing import Any

from genai_cost.budget.alerts import AlertDispatcher, AlertSettings
from genai_cost.channels.webhook import Webhook
from genai_cost.budget.state import BudgetAlert
from genai_cost.middleware import GenAICostMiddleware

HEADERS = [
    (b"host", b"api.example.com"),
    (b"user-agent", b"bench/1.0"),
    (b"accept", b"application/json"),
    (b"content-type", b"application/json"),
    (b"x-team", b"search"),
    (b"x-user-id", b"u-1234"),
    (b"x-tenant", b"acme"),
    (b"x-request-id", b"3f1c9e"),
]
SCOPE = {"type": "http", "method": "POST", "path": "/chat", "headers": HEADERS}


async def app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def receive() -> Any:
    return {"type": "http.request", "body": b"", "more_body": False}


async def send(message: Any) -> None:
    pass


async def _per_request_us(handler: Any, requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        await handler(SCOPE, receive, send)
    return (time.perf_counter() - started) / requests * 1e6


def middleware_us(requests: int = 20_000, repeats: int = 7) -> tuple[float, float]:
    wrapped = GenAICostMiddleware(app)
    bare_runs, wrapped_runs = [], []
    for _ in range(repeats):  # interleaved, so drift hits both alike
        bare_runs.append(asyncio.run(_per_request_us(app, requests)))
        wrapped_runs.append(asyncio.run(_per_request_us(wrapped, requests)))
    return statistics.median(bare_runs), statistics.median(wrapped_runs)


def alert(threshold: float, window_name: str = "2026-12") -> BudgetAlert:
    return BudgetAlert(
        kind="threshold",
        budget="team-search",
        scope="",
        window="month",
        window_name=window_name,
        limit=100.0,
        spent=81.0,
        currency="USD",
        reset_at=datetime(2027, 1, 1, tzinfo=UTC),
        at=datetime(2026, 12, 20, tzinfo=UTC),
        threshold=threshold,
    )


def repeat_alert_us(calls: int = 200_000, repeats: int = 7) -> float:
    dispatcher = AlertDispatcher()
    seen = alert(80.0)
    dispatcher(seen)
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            dispatcher(seen)
        runs.append((time.perf_counter() - started) / calls * 1e6)
    return statistics.median(runs)


def first_alert_us(calls: int = 2_000, repeats: int = 7) -> float:
    runs = []
    for run in range(repeats):
        # An unroutable receiver: deliveries fail on the sender thread, off the measured path.
        dispatcher = AlertDispatcher(
            AlertSettings(webhooks=(Webhook("http://127.0.0.1:9/", timeout=0.05, retries=0),), queue_size=calls)
        )
        fresh = [alert(float(i % 100) + 0.5, f"w{run}-{i}") for i in range(calls)]
        started = time.perf_counter()
        for item in fresh:
            dispatcher(item)
        runs.append((time.perf_counter() - started) / calls * 1e6)
        dispatcher.close(timeout=0)
    return statistics.median(runs)


def main() -> None:
    budget_log = logging.getLogger("genai_cost.budget")
    budget_log.addHandler(logging.NullHandler())
    budget_log.propagate = False  # WARNING lines go nowhere: the figure is ours, not the terminal's
    bare, wrapped = middleware_us()
    print("| measure | median |")
    print("|---|---|")
    print(
        f"| ASGI middleware, per request (3 attribution headers of 8) | +{wrapped - bare:.2f} µs over {bare:.2f} µs |"
    )
    print(f"| alert already sent this window (every further blocked call) | {repeat_alert_us():.3f} µs |")
    print(f"| first alert of a window, one webhook: log + queue (HTTP off-thread) | {first_alert_us():.1f} µs |")


if __name__ == "__main__":
    main()
