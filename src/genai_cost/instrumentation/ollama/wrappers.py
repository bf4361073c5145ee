"""The wrappers put on the ``ollama`` SDK's ``Client`` / ``AsyncClient`` methods and on the
module-level functions, and the list of them (``patches``).

``ollama.chat``, ``ollama.generate`` ... are bound methods of a default ``Client`` made when
``ollama`` is imported, bound before any patch of the class could apply: they are wrapped
themselves. Every patch targets the ``ollama`` package (which re-exports both classes), so a
post-import hook fires once the package -- default client included -- exists.

A streamed call (``stream=True``) returns a generator (an async generator on ``AsyncClient``):
the lifecycle's stream proxies follow it and end the span however it ends.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

from opentelemetry.trace import Tracer

from genai_cost.instrumentation.budget_hook import BudgetAsk
from genai_cost.instrumentation import lifecycle
from genai_cost.instrumentation.base import Patch
from genai_cost.instrumentation.lifecycle import GenAICall, log_once
from genai_cost.instrumentation.ollama.request import (
    POSITIONAL,
    Request,
    bind,
    budget_input_tokens,
    budget_max_output,
    describe,
    server_of,
)
from genai_cost.instrumentation.ollama.response import response_result
from genai_cost.instrumentation.ollama.streams import ChunkObserver

Enabled = Callable[[], bool]
MODULE = "ollama"


class Invocation:
    """One wrapped SDK call: its request, its span, and what the caller gets back."""

    __slots__ = ("tracer", "request", "server")

    def __init__(self, tracer: Tracer, client: Any, request: Request) -> None:
        self.tracer = tracer
        self.request = request
        self.server = server_of(client)

    def start(self) -> GenAICall:
        call = GenAICall.described(self.tracer, self.request, self.server)
        call.ask_budget = self.budget_ask
        return call

    def budget_ask(self) -> BudgetAsk:
        request = self.request
        output = 0 if request.operation == "embeddings" else budget_max_output(request)
        return BudgetAsk(budget_input_tokens(request), output, self.swap_model)

    def swap_model(self, model: str) -> None:
        self.request.kwargs["model"] = model  # the SDK is called with these keywords

    def finish(self, call: GenAICall, result: Any) -> Any:
        if self.request.stream and (inspect.isgenerator(result) or inspect.isasyncgen(result)):
            proxy = lifecycle.AsyncStream if inspect.isasyncgen(result) else lifecycle.SyncStream
            return proxy(result, call, ChunkObserver(self.request))
        call.set_result(response_result(result, self.request))
        call.end()
        return result


def _describe(tracer: Tracer, method: str, client: Any, args: Any, kwargs: Any) -> Invocation | None:
    try:
        request = describe(method, bind(method, args, kwargs), lifecycle.capture_message_content())
        return Invocation(tracer, client, request)
    except Exception:
        log_once("describing an Ollama request")
        return None


def sync_call(tracer: Tracer, method: str, enabled: Enabled) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _describe(tracer, method, instance, args, kwargs) if enabled() else None
        if invocation is None:
            return wrapped(*args, **kwargs)
        return lifecycle.invoke(invocation.start, wrapped, (), invocation.request.kwargs, invocation.finish)

    return wrapper


def async_call(tracer: Tracer, method: str, enabled: Enabled) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _describe(tracer, method, instance, args, kwargs) if enabled() else None
        if invocation is None:
            return await wrapped(*args, **kwargs)
        return await lifecycle.ainvoke(invocation.start, wrapped, (), invocation.request.kwargs, invocation.finish)

    return wrapper


def patches(enabled: Enabled) -> list[Patch]:
    """Every SDK method we wrap, all on the ``ollama`` package (see the module docstring)."""
    out: list[Patch] = []
    for method in POSITIONAL:
        out += [
            Patch(MODULE, f"Client.{method}", partial(sync_call, method=method, enabled=enabled), lazy=True),
            Patch(MODULE, f"AsyncClient.{method}", partial(async_call, method=method, enabled=enabled), lazy=True),
            # The module-level function: a method of the default client, bound at import.
            Patch(MODULE, method, partial(sync_call, method=method, enabled=enabled), lazy=True),
        ]
    return out
