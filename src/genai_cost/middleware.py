"""ASGI middleware: request headers become cost attribution, a blocked call becomes HTTP 429.

Pure ASGI (no framework import), so it works under FastAPI, Starlette, Quart or a bare ASGI app::

    app.add_middleware(GenAICostMiddleware)                       # Starlette / FastAPI
    app = GenAICostMiddleware(app, headers={"x-org": "tenant"})   # any ASGI app

For each HTTP (and WebSocket) connection the configured headers are read into
``genai_cost.cost_context``, so every LLM call the endpoint makes — including ones in a streaming
response body or a sync endpoint run in a thread pool, since both inherit the request's context —
is attributed. When the app raises ``BudgetExceeded`` before it has started its response, the
client gets ``429 Too Many Requests`` with ``Retry-After`` (seconds to the budget window's reset)
and a JSON body naming the budget; when the call was refused because the budget ledger could not
be read (fail mode ``closed``), ``503 Service Unavailable`` with a short ``Retry-After``. Once a
response has started nothing can be replaced, so the exception then goes on to the server as it
would without us. Lifespan and other scopes pass through untouched.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

from genai_cost.attributes import ATTRIBUTION_KEYS
from genai_cost.budget.errors import BudgetExceeded
from genai_cost.context import cost_context

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Request header (lower case) -> attribution key of cost_context.
DEFAULT_HEADERS: Mapping[str, str] = {
    "x-project": "project",
    "x-team": "team",
    "x-feature": "feature",
    "x-tenant": "tenant",
    "x-user-id": "user",
}

# Baggage travels to every downstream service; a client must not be able to bloat it.
_MAX_VALUE_LENGTH = 256


class GenAICostMiddleware:
    """Attribution from request headers, and ``BudgetExceeded`` -> ``429`` with ``Retry-After``.

    * ``headers``: request header name -> attribution key (``project``, ``team``, ``feature``,
      ``tenant``, ``user``); defaults to ``X-Project``, ``X-Team``, ``X-Feature``, ``X-Tenant``,
      ``X-User-Id``. Header names are case-insensitive. A header that is absent, empty or longer
      than 256 characters leaves that key to the enclosing context / configured default.
    * ``unavailable_retry_after``: seconds for ``Retry-After`` when the call was blocked because
      the budget ledger could not be read (fail mode ``closed``). That is an outage, not a spent
      budget: the answer is ``503`` and a short retry, not ``429`` until the window resets.
    * ``clock``: the current time, timezone-aware (tests inject one).
    """

    def __init__(
        self,
        app: ASGIApp,
        headers: Mapping[str, str] | None = None,
        *,
        unavailable_retry_after: int = 5,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        mapping = DEFAULT_HEADERS if headers is None else headers
        unknown = sorted(set(mapping.values()) - set(ATTRIBUTION_KEYS))
        if unknown:
            raise ValueError(f"unknown attribution keys {unknown} in headers; use {list(ATTRIBUTION_KEYS)}")
        self.app = app
        self._headers = {name.lower().encode("latin-1"): key for name, key in mapping.items()}
        self._unavailable_retry_after = unavailable_retry_after
        self._clock = clock or (lambda: datetime.now(UTC))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        attribution = self._attribution(scope.get("headers") or ())
        if kind == "websocket":
            with cost_context(**attribution):
                await self.app(scope, receive, send)
            return

        response_started = False

        async def watch_send(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        with cost_context(**attribution):
            try:
                await self.app(scope, receive, watch_send)
            except Exception as error:
                exceeded = _budget_exceeded(error)
                if exceeded is None or response_started:
                    raise
                await self._reply(exceeded, send)

    def _attribution(self, raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
        found: dict[str, str] = {}
        wanted = self._headers
        for name, value in raw_headers:  # ASGI servers hand header names over lower-cased
            key = wanted.get(name)
            if key is None:
                continue
            text = value.decode("latin-1").strip()
            if text and len(text) <= _MAX_VALUE_LENGTH:
                found[key] = text
        return found

    async def _reply(self, exceeded: BudgetExceeded, send: Send) -> None:
        unavailable = exceeded.reason is not None  # blocked by the fail mode, not by spend
        body = json.dumps(_error_body(exceeded, unavailable), separators=(",", ":")).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        retry_after = self._unavailable_retry_after if unavailable else seconds_until_reset(exceeded, self._clock())
        if retry_after is not None:
            headers.append((b"retry-after", str(retry_after).encode()))
        status = 503 if unavailable else 429
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def seconds_until_reset(exceeded: BudgetExceeded, now: datetime) -> int | None:
    """Whole seconds (rounded up, at least 1) until the budget's window resets; None if unknown."""
    if exceeded.reset_at is None:
        return None
    return max(1, math.ceil((exceeded.reset_at - now).total_seconds()))


def _error_body(exceeded: BudgetExceeded, unavailable: bool) -> dict[str, Any]:
    return {
        "error": "budget_unavailable" if unavailable else "budget_exceeded",
        "message": str(exceeded),
        "budget": exceeded.budget,
        "limit": exceeded.limit,
        "spent": exceeded.spent,
        "estimate": exceeded.estimate,  # what the refused call would have reserved
        "currency": exceeded.currency,
        "window": exceeded.window,
        "reset_at": exceeded.reset_at.isoformat() if exceeded.reset_at is not None else None,
        "reason": exceeded.reason,  # why the budget could not be read (fail closed), if so
    }


def _budget_exceeded(error: BaseException) -> BudgetExceeded | None:
    """The ``BudgetExceeded`` behind ``error``, also when a task group wrapped it in a group."""
    if isinstance(error, BudgetExceeded):
        return error
    if isinstance(error, BaseExceptionGroup):
        matched, rest = error.split(BudgetExceeded)
        if matched is not None and rest is None:
            first: BaseException = matched
            while isinstance(first, BaseExceptionGroup):
                first = first.exceptions[0]
            return first if isinstance(first, BudgetExceeded) else None
    return None
