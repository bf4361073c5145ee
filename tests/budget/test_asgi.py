"""GenAICostMiddleware in a real Starlette app served by real uvicorn on loopback.

Requests go over HTTP (urllib); the endpoints make real OpenAI SDK calls against the local
provider stand-in, so the attribution asserted is what our instrumentation put on the span.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import openai
import pytest
import uvicorn
from budget_support import free_port
from opentelemetry import trace
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.routing import Route

from genai_cost.budget import install_guard
from genai_cost.budget.errors import BudgetExceeded
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import open_ledger
from genai_cost.budget.ledger.memory import MemoryLedger
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.instrumentation.openai import OpenAIInstrumentor
from genai_cost.middleware import GenAICostMiddleware
from genai_cost.runtime import OUR_SCOPE
from genai_cost.testing import StubProvider

NOW = datetime(2026, 3, 31, 23, 59, 30, tzinfo=UTC)
RESET = datetime(2026, 4, 1, 0, 0, 0, tzinfo=UTC)
MESSAGES: Any = [{"role": "user", "content": "Say this is a test"}]


def _exceeded() -> BudgetExceeded:
    return BudgetExceeded("team-search", limit=10.0, spent=9.75, reset_at=RESET, window="month", estimate=0.5)


@pytest.fixture(scope="module", autouse=True)
def instrumented() -> Iterator[None]:
    OpenAIInstrumentor().instrument(tracer_provider=trace.get_tracer_provider())
    yield
    OpenAIInstrumentor().uninstrument()


@pytest.fixture(scope="module")
def stub() -> Iterator[StubProvider]:
    with StubProvider() as provider:
        yield provider


def build_app(stub: StubProvider, lifespan_log: list[str]) -> Starlette:
    client = openai.OpenAI(base_url=stub.base_url, api_key="sk-test", max_retries=0)

    def chat(request: Request) -> JSONResponse:  # sync: Starlette runs it in a thread pool
        reply = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        return JSONResponse({"id": reply.id})

    async def stream(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"first;"
            # The LLM call happens while the response body streams: still attributed.
            reply = await asyncio.to_thread(
                lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
            )
            yield f"{reply.id};".encode()
            yield b"last"

        return StreamingResponse(body(), media_type="text/plain")

    def blocked(request: Request) -> PlainTextResponse:
        raise _exceeded()

    async def blocked_mid_stream(request: Request) -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            yield b"partial"
            raise _exceeded()

        return StreamingResponse(body(), media_type="text/plain")

    def broken(request: Request) -> PlainTextResponse:
        raise RuntimeError("an application bug, not a budget")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        lifespan_log.append("startup")
        yield
        lifespan_log.append("shutdown")

    app = Starlette(
        routes=[
            Route("/chat", chat),
            Route("/stream", stream),
            Route("/blocked", blocked),
            Route("/blocked-mid-stream", blocked_mid_stream),
            Route("/broken", broken),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(
        GenAICostMiddleware,
        headers={"X-Team": "team", "X-User-Id": "user", "X-Tenant": "tenant"},
        clock=lambda: NOW,
    )
    return app


class LoopbackServer:
    """uvicorn serving an app on 127.0.0.1 from a thread, on a port the OS picks."""

    def __init__(self, app: Any) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(app, lifespan="on", log_level="critical")
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._socket]}, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + 30  # generous: CI machines are shared
        while time.monotonic() < deadline:
            if self.server.started:
                return self
            if not self._thread.is_alive():
                break
            self._thread.join(0.01)
        raise RuntimeError("uvicorn did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self._thread.join(10)
        self._socket.close()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, _lower(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, _lower(error.headers), error.read()


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@pytest.fixture(scope="module")
def lifespan_log() -> list[str]:
    return []


@pytest.fixture(scope="module")
def served(stub: StubProvider, lifespan_log: list[str]) -> Iterator[LoopbackServer]:
    with LoopbackServer(build_app(stub, lifespan_log)) as server:
        yield server
    assert lifespan_log == ["startup", "shutdown"]  # lifespan passed through both ways


def genai_span_attributes(exporter: Any) -> list[dict[str, Any]]:
    return [
        dict(s.attributes or {})
        for s in exporter.get_finished_spans()
        if s.instrumentation_scope is not None and s.instrumentation_scope.name == OUR_SCOPE
    ]


def test_headers_become_attribution_on_the_span(served: LoopbackServer, span_exporter: Any) -> None:
    status, _, body = served.get("/chat", {"X-Team": "search", "x-user-id": "u-42", "X-Tenant": "acme"})
    assert status == 200, body
    [span] = genai_span_attributes(span_exporter)
    assert span["genai_cost.team"] == "search"
    assert span["user.id"] == "u-42"
    assert span["genai_cost.tenant"] == "acme"
    assert span["genai_cost.amount"] > 0


def test_no_headers_no_attribution(served: LoopbackServer, span_exporter: Any) -> None:
    status, _, _ = served.get("/chat", {"X-Team": "  ", "X-Project": "not-configured"})
    assert status == 200
    [span] = genai_span_attributes(span_exporter)
    assert "genai_cost.team" not in span  # blank header ignored
    assert "genai_cost.project" not in span  # only the configured headers are read


def test_requests_do_not_leak_attribution_into_each_other(served: LoopbackServer, span_exporter: Any) -> None:
    served.get("/chat", {"X-Team": "first"})
    served.get("/chat", {"X-Tenant": "second"})
    first, second = genai_span_attributes(span_exporter)
    assert first.get("genai_cost.team") == "first" and "genai_cost.tenant" not in first
    assert second.get("genai_cost.tenant") == "second" and "genai_cost.team" not in second


def test_streaming_response_streams_and_keeps_attribution(served: LoopbackServer, span_exporter: Any) -> None:
    status, headers, body = served.get("/stream", {"X-Team": "streaming"})
    assert status == 200
    assert headers.get("transfer-encoding") == "chunked"
    first, reply_id, last = body.decode().split(";")
    assert (first, last) == ("first", "last")
    [span] = genai_span_attributes(span_exporter)
    assert span["gen_ai.response.id"] == reply_id
    assert span["genai_cost.team"] == "streaming"


def test_budget_exceeded_becomes_429_with_retry_after(served: LoopbackServer) -> None:
    status, headers, body = served.get("/blocked")
    assert status == 429
    assert headers["retry-after"] == "30"  # NOW is 30 s before the month rolls over
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    assert payload["error"] == "budget_exceeded"
    assert payload["budget"] == "team-search"
    assert (payload["limit"], payload["spent"], payload["estimate"]) == (10.0, 9.75, 0.5)
    assert payload["window"] == "month"
    assert payload["reset_at"] == RESET.isoformat()


def test_budget_exceeded_after_the_response_started_is_not_rewritten(served: LoopbackServer) -> None:
    # Headers (200) are already on the wire: the only honest thing is to cut the body short.
    connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    try:
        connection.request("GET", "/blocked-mid-stream")
        response = connection.getresponse()
        assert response.status == 200
        with pytest.raises(http.client.IncompleteRead):
            response.read()
    finally:
        connection.close()


@pytest.fixture
def search_team_budget() -> Iterator[BudgetGuard]:
    """A spent budget for team "search" only, deciding every instrumented call meanwhile."""
    policy = BudgetPolicy("team-search", limit=0.0, match={"team": "search"}, action="block")
    guard = BudgetGuard([policy], MemoryLedger(), clock=NOW.timestamp)
    previous = install_guard(guard)
    yield guard
    install_guard(previous)
    guard.close()


def test_a_blocked_llm_call_becomes_429_and_never_reaches_the_provider(
    served: LoopbackServer, stub: StubProvider, search_team_budget: BudgetGuard, span_exporter: Any
) -> None:
    before = len(stub.requests)
    status, headers, body = served.get("/chat", {"X-Team": "search"})
    assert status == 429
    assert len(stub.requests) == before  # the SDK never sent it
    assert headers["retry-after"] == "30"
    payload = json.loads(body)
    assert (payload["budget"], payload["limit"], payload["window"]) == ("team-search", 0.0, "month")
    assert payload["estimate"] > 0  # the call's reservation that did not fit
    [span] = genai_span_attributes(span_exporter)
    assert span["genai_cost.budget.decision"] == "block"
    assert span["genai_cost.team"] == "search"
    # Another team's request is not covered by that budget: the header decides whose money it is.
    status, _, _ = served.get("/chat", {"X-Team": "ads"})
    assert status == 200
    assert len(stub.requests) == before + 1


def test_an_unreadable_ledger_failing_closed_is_503_with_a_short_retry(
    served: LoopbackServer, stub: StubProvider, span_exporter: Any
) -> None:
    # A Redis ledger with nothing listening: the guard cannot read the budget and fails closed.
    policy = BudgetPolicy("team-search", limit=100.0, match={"team": "search"})
    guard = BudgetGuard([policy], open_ledger(f"redis://127.0.0.1:{free_port()}/0"), fail_mode="closed")
    previous = install_guard(guard)
    try:
        before = len(stub.requests)
        status, headers, body = served.get("/chat", {"X-Team": "search"})
    finally:
        install_guard(previous)
        guard.close()
    assert status == 503
    assert headers["retry-after"] == "5"  # an outage: try again soon, not at the month's end
    payload = json.loads(body)
    assert payload["error"] == "budget_unavailable" and payload["budget"] == "team-search"
    assert payload["reason"].startswith("fail_closed: ledger unavailable")
    assert len(stub.requests) == before


def test_other_errors_are_untouched(served: LoopbackServer) -> None:
    status, headers, _ = served.get("/broken")
    assert status == 500
    assert "retry-after" not in headers


# --- pure ASGI: scopes a real server in this test does not produce ---------------------------


async def test_websocket_scope_gets_attribution_and_passes_through() -> None:
    from genai_cost.context import current_attribution

    seen: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen["type"] = scope["type"]
        seen["attribution"] = current_attribution()
        await send({"type": "websocket.accept"})

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "websocket.connect"}

    scope = {"type": "websocket", "headers": [(b"x-team", b"realtime")], "path": "/ws"}
    await GenAICostMiddleware(app)(scope, receive, send)
    assert seen == {"type": "websocket", "attribution": {"genai_cost.team": "realtime"}}
    assert sent == [{"type": "websocket.accept"}]


async def test_budget_exceeded_inside_an_exception_group_is_still_429() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise BaseExceptionGroup("task group", [_exceeded()])

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> Any:
        return {"type": "http.request"}

    clock = lambda: RESET - timedelta(seconds=0.2)  # noqa: E731
    await GenAICostMiddleware(app, clock=clock)({"type": "http", "headers": []}, receive, send)
    assert sent[0]["status"] == 429
    assert (b"retry-after", b"1") in sent[0]["headers"]  # rounded up, never 0


def test_unknown_attribution_key_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown attribution keys"):
        GenAICostMiddleware(lambda *a: None, headers={"X-Org": "organisation"})  # type: ignore[arg-type,return-value]
