"""The wrappers put on LiteLLM's ``completion``, ``acompletion``, ``embedding`` and ``aembedding``,
and the list of them (``patches``).

The package-level functions are wrapped (``litellm.completion``), which is what applications and
LiteLLM's ``Router`` call; ``acompletion`` runs LiteLLM's internal ``litellm.main.completion``,
which stays unwrapped, so each call is one span. The span is current while LiteLLM runs: a provider
SDK we also instrument (openai, which LiteLLM drives for OpenAI-compatible routes) makes its span
under it, and that span is marked ``duplicate`` of this one by the lifecycle -- this span is the
call the application made, it carries the budget decision and exists for every route, while an
SDK span exists only for the routes that go through an instrumented SDK.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from opentelemetry.trace import Tracer

from genai_cost.instrumentation.budget_hook import BudgetAsk
from genai_cost.instrumentation import lifecycle
from genai_cost.instrumentation.base import Patch
from genai_cost.instrumentation.lifecycle import GenAICall, log_once
from genai_cost.instrumentation.litellm.request import (
    POSITIONAL,
    Request,
    Server,
    bind,
    budget_input_tokens,
    budget_max_output,
    describe,
    route,
)
from genai_cost.instrumentation.litellm.response import response_result
from genai_cost.instrumentation.litellm.streams import ChunkObserver

Enabled = Callable[[], bool]
MODULE = "litellm"


class Invocation:
    """One wrapped LiteLLM call: its request, its span, and what the caller gets back."""

    __slots__ = ("tracer", "request", "server", "is_async")

    def __init__(self, tracer: Tracer, request: Request, server: Server, is_async: bool) -> None:
        self.tracer = tracer
        self.request = request
        self.server = server
        self.is_async = is_async

    def start(self) -> GenAICall:
        call = GenAICall.described(self.tracer, self.request, self.server)
        call.ask_budget = self.budget_ask
        call.routes_other_calls()
        return call

    def budget_ask(self) -> BudgetAsk:
        request = self.request
        return BudgetAsk(budget_input_tokens(request), budget_max_output(request), self.swap_model)

    def swap_model(self, model: str) -> None:
        self.request.kwargs["model"] = model  # LiteLLM routes the cheaper model itself

    def finish(self, call: GenAICall, result: Any) -> Any:
        if self.request.stream and hasattr(result, "__next__" if not self.is_async else "__anext__"):
            proxy = lifecycle.AsyncStream if self.is_async else lifecycle.SyncStream
            return proxy(result, call, ChunkObserver(self.request))
        call.set_result(response_result(result, self.request))
        call.end()
        return result


def _describe(tracer: Tracer, function: str, args: Any, kwargs: Any) -> Invocation | None:
    try:
        bound = bind(function, args, kwargs)
        model, server = route(bound)
        request = describe(function, bound, model, lifecycle.capture_message_content())
        return Invocation(tracer, request, server, function.startswith("a"))
    except Exception:
        log_once("describing a LiteLLM request")
        return None


def sync_call(tracer: Tracer, function: str, enabled: Enabled) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _describe(tracer, function, args, kwargs) if enabled() else None
        if invocation is None:
            return wrapped(*args, **kwargs)
        return lifecycle.invoke(invocation.start, wrapped, (), invocation.request.kwargs, invocation.finish)

    return wrapper


def async_call(tracer: Tracer, function: str, enabled: Enabled) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _describe(tracer, function, args, kwargs) if enabled() else None
        if invocation is None:
            return await wrapped(*args, **kwargs)
        return await lifecycle.ainvoke(invocation.start, wrapped, (), invocation.request.kwargs, invocation.finish)

    return wrapper


def patches(enabled: Enabled) -> list[Patch]:
    """The package-level functions (see the module docstring); applied when the app imports litellm."""
    out: list[Patch] = []
    for function in POSITIONAL:
        make = async_call if function.startswith("a") else sync_call
        out.append(Patch(MODULE, function, partial(make, function=function, enabled=enabled), lazy=True))
    return out
