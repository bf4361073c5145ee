"""The wrappers put on the groq SDK's methods, and the list of them (``patches``).

Each wrapper describes the request, then hands the SDK call to ``lifecycle.invoke`` / ``ainvoke``:
span, errors, budgets and pricing live there. What is Groq-specific is in ``Invocation.finish``: the
result is a whole response, a ``groq.Stream`` / ``AsyncStream`` (proxied so the span ends however
the stream ends), or a raw HTTP response (``with_raw_response``: its JSON is read from the bytes the
SDK already holds; a body still unread belongs to the caller).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from opentelemetry.trace import Tracer

from genai_cost.attributes import Status
from genai_cost.budget.hook import BudgetAsk
from genai_cost.instrumentation import lifecycle
from genai_cost.instrumentation.base import Patch
from genai_cost.instrumentation.groq.request import (
    EMBEDDINGS,
    Request,
    budget_input_tokens,
    chat_request,
    embeddings_request,
    server_of,
)
from genai_cost.instrumentation.groq.response import response_result
from genai_cost.instrumentation.groq.streams import ChatStreamObserver
from genai_cost.instrumentation.lifecycle import CallResult, GenAICall, log_once

Enabled = Callable[[], bool]
Describe = Callable[[Any, bool], Request]


class Invocation:
    """One wrapped SDK call: its request, its span, and what the caller gets back."""

    __slots__ = ("tracer", "request", "server", "model_override")

    def __init__(self, tracer: Tracer, request: Request, resource: Any) -> None:
        self.tracer = tracer
        self.request = request
        self.server = server_of(resource)
        self.model_override: str | None = None  # the model a budget downgrade chose

    def start(self) -> GenAICall:
        call = GenAICall.described(self.tracer, self.request, self.server)
        call.ask_budget = self.budget_ask
        return call

    def budget_ask(self) -> BudgetAsk:
        output = 0 if self.request.operation == EMBEDDINGS else None  # None: max_tokens, from the span
        return BudgetAsk(budget_input_tokens(self.request.kwargs), output, self.swap_model)

    def swap_model(self, model: str) -> None:
        self.model_override = model

    def finish(self, call: GenAICall, result: Any) -> Any:
        request = self.request
        if request.raw:
            call.set_result(self._raw_result(result))
        elif request.stream:
            observer = ChatStreamObserver(request)
            if hasattr(result, "__anext__"):
                return lifecycle.AsyncStream(result, call, observer)
            return lifecycle.SyncStream(result, call, observer)
        else:
            call.set_result(response_result(result, request))
        call.end()
        return result

    def _raw_result(self, response: Any) -> CallResult:
        http = getattr(response, "http_response", None)
        if http is not None and http.is_closed and not self.request.stream:
            return response_result(http.json(), self.request)
        return CallResult(status=(Status.NO_USAGE, "the caller reads the raw response body itself"))


def _invocation(tracer: Tracer, describe: Describe, instance: Any, kwargs: dict[str, Any]) -> Invocation | None:
    try:
        return Invocation(tracer, describe(kwargs, lifecycle.capture_message_content()), instance)
    except Exception:
        log_once("describing a Groq request")
        return None


def sync_call(tracer: Tracer, describe: Describe, enabled: Enabled) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _invocation(tracer, describe, instance, kwargs) if enabled() else None
        if invocation is None:
            return wrapped(*args, **kwargs)
        run = lifecycle.with_model_override(invocation, wrapped)
        return lifecycle.invoke(invocation.start, run, args, kwargs, invocation.finish)

    return wrapper


def async_call(tracer: Tracer, describe: Describe, enabled: Enabled) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _invocation(tracer, describe, instance, kwargs) if enabled() else None
        if invocation is None:
            return await wrapped(*args, **kwargs)
        run = lifecycle.with_model_override(invocation, wrapped)
        return await lifecycle.ainvoke(invocation.start, run, args, kwargs, invocation.finish)

    return wrapper


def patches(enabled: Enabled) -> list[Patch]:
    """Every SDK method we wrap. Methods an SDK version lacks are skipped by the base class."""
    out: list[Patch] = []
    for module, cls, describe in (
        ("groq.resources.chat.completions", "Completions", chat_request),
        ("groq.resources.embeddings", "Embeddings", embeddings_request),
    ):
        out.append(Patch(module, f"{cls}.create", partial(sync_call, describe=describe, enabled=enabled)))
        out.append(Patch(module, f"Async{cls}.create", partial(async_call, describe=describe, enabled=enabled)))
    return out
