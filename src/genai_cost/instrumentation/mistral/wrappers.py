"""The wrappers put on the mistralai SDK's methods, and the list of them (``patches``).

Each wrapper describes the request, then hands the SDK call to ``lifecycle.invoke`` / ``ainvoke``:
span, errors, budgets and pricing live there. What is Mistral-specific is in ``Invocation.finish``:
the result is a whole response, or an ``EventStream`` / ``EventStreamAsync`` that is proxied so the
span ends however the stream ends.

``chat.parse`` / ``parse_stream`` call ``complete`` / ``stream`` on the same object, so they are
traced through those (one span per call, not two).
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
from genai_cost.instrumentation.mistral.request import (
    CHAT,
    EMBEDDINGS,
    INVOKE_AGENT,
    TEXT_COMPLETION,
    Request,
    Server,
    budget_input_tokens,
    describe,
    server_of,
)
from genai_cost.instrumentation.mistral.response import response_result
from genai_cost.instrumentation.mistral.streams import CompletionStreamObserver

Enabled = Callable[[], bool]


class Invocation:
    """One wrapped SDK call: its request, its span, and what the caller gets back."""

    __slots__ = ("tracer", "request", "server", "model_override")

    def __init__(self, tracer: Tracer, request: Request, server: Server) -> None:
        self.tracer = tracer
        self.request = request
        self.server = server
        # The model a budget downgrade chose instead of the caller's.
        self.model_override: str | None = None

    def start(self) -> GenAICall:
        call = GenAICall.described(self.tracer, self.request, self.server)
        call.ask_budget = self.budget_ask
        return call

    def budget_ask(self) -> BudgetAsk:
        request = self.request
        # An agent chooses its own model: a downgrade cannot swap it (the guard records a warn).
        swap = None if request.operation == INVOKE_AGENT else self.swap_model
        output = 0 if request.operation == EMBEDDINGS else None  # None: max_tokens, from the span
        return BudgetAsk(budget_input_tokens(request.kwargs), output, swap)

    def swap_model(self, model: str) -> None:
        self.model_override = model

    def finish(self, call: GenAICall, result: Any) -> Any:
        if self.request.stream:
            observer = CompletionStreamObserver(self.request)
            if hasattr(result, "__anext__"):
                return lifecycle.AsyncStream(result, call, observer)
            return lifecycle.SyncStream(result, call, observer)
        call.set_result(response_result(result, self.request))
        call.end()
        return result


def _invocation(tracer: Tracer, operation: str, stream: bool, instance: Any, kwargs: dict[str, Any]) -> Any:
    try:
        request = describe(operation, kwargs, lifecycle.capture_message_content(), stream=stream)
        return Invocation(tracer, request, server_of(instance, kwargs))
    except Exception:
        log_once("describing a Mistral request")
        return None


def sync_call(tracer: Tracer, operation: str, stream: bool, enabled: Enabled) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _invocation(tracer, operation, stream, instance, kwargs) if enabled() else None
        if invocation is None:
            return wrapped(*args, **kwargs)
        run = lifecycle.with_model_override(invocation, wrapped)
        return lifecycle.invoke(invocation.start, run, args, kwargs, invocation.finish)

    return wrapper


def async_call(tracer: Tracer, operation: str, stream: bool, enabled: Enabled) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _invocation(tracer, operation, stream, instance, kwargs) if enabled() else None
        if invocation is None:
            return await wrapped(*args, **kwargs)
        run = lifecycle.with_model_override(invocation, wrapped)
        return await lifecycle.ainvoke(invocation.start, run, args, kwargs, invocation.finish)

    return wrapper


# (module under the SDK package, class, operation, its streaming methods too)
_RESOURCES = (
    ("chat", "Chat", CHAT, True),
    ("fim", "Fim", TEXT_COMPLETION, True),
    ("agents", "Agents", INVOKE_AGENT, True),
    ("embeddings", "Embeddings", EMBEDDINGS, False),
)
# mistralai 1.x keeps its resources at the package root, 2.0 and later under ``mistralai.client``.
_PACKAGES = ("mistralai.client", "mistralai")


def patches(enabled: Enabled) -> list[Patch]:
    """Every SDK method we wrap. Modules and methods an SDK version lacks are skipped by the base class."""
    out: list[Patch] = []
    for package in _PACKAGES:
        for module, cls, operation, streams in _RESOURCES:
            path = f"{package}.{module}"
            whole = "create" if operation == EMBEDDINGS else "complete"
            methods = [(whole, False)] + ([("stream", True)] if streams else [])
            for method, stream in methods:
                wrap_sync = partial(sync_call, operation=operation, stream=stream, enabled=enabled)
                wrap_async = partial(async_call, operation=operation, stream=stream, enabled=enabled)
                out.append(Patch(path, f"{cls}.{method}", wrap_sync))
                out.append(Patch(path, f"{cls}.{method}_async", wrap_async))
    return out
