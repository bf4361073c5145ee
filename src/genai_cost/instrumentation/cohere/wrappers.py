"""The wrappers put on the cohere SDK's methods, and the list of them (``patches``).

Each wrapper describes the request, then hands the SDK call to ``lifecycle.invoke`` / ``ainvoke``:
span, errors, budgets and pricing live there. Cohere's streaming methods are generator functions
(sync and async): calling one sends nothing, iterating it does. So a stream call is started with the
sync ``invoke`` whatever the client (an async generator function is not awaited), its budget asked
before the generator is made, and the generator proxied by ``SyncStream`` / ``AsyncStream``: the
span ends however iteration ends, and an HTTP error raised on the first step is the stream's error.

``Client.embed`` batches texts over ``BaseCohere.embed``: one span per request it sends.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from opentelemetry.trace import Tracer

from genai_cost.instrumentation.budget_hook import BudgetAsk
from genai_cost.instrumentation import lifecycle
from genai_cost.instrumentation.base import Patch
from genai_cost.instrumentation.cohere.request import (
    CHAT,
    EMBEDDINGS,
    RERANK,
    TEXT_COMPLETION,
    Request,
    budget_input_tokens,
    describe,
    server_of,
)
from genai_cost.instrumentation.cohere.response import response_result
from genai_cost.instrumentation.cohere.streams import StreamObserver
from genai_cost.instrumentation.lifecycle import GenAICall, log_once

Enabled = Callable[[], bool]


class Invocation:
    """One wrapped SDK call: its request, its span, and what the caller gets back."""

    __slots__ = ("tracer", "request", "server", "model_override")

    def __init__(self, tracer: Tracer, request: Request, client: Any) -> None:
        self.tracer = tracer
        self.request = request
        self.server = server_of(client)
        self.model_override: str | None = None  # the model a budget downgrade chose

    def start(self) -> GenAICall:
        call = GenAICall.described(self.tracer, self.request, self.server)
        call.ask_budget = self.budget_ask
        return call

    def budget_ask(self) -> BudgetAsk:
        output = 0 if self.request.operation in (EMBEDDINGS, RERANK) else None  # None: max_tokens, from the span
        return BudgetAsk(budget_input_tokens(self.request.kwargs), output, self.swap_model)

    def swap_model(self, model: str) -> None:
        self.model_override = model
        self.request.model = model  # v2 chat answers without a model: the call is priced by the request's

    def finish(self, call: GenAICall, result: Any) -> Any:
        if self.request.stream:
            observer = StreamObserver(self.request)
            if hasattr(result, "__anext__"):
                return lifecycle.AsyncStream(result, call, observer)
            return lifecycle.SyncStream(result, call, observer)
        call.set_result(response_result(result, self.request))
        call.end()
        return result


def _invocation(
    tracer: Tracer, operation: str, v2: bool, stream: bool, instance: Any, kwargs: dict[str, Any]
) -> Invocation | None:
    try:
        request = describe(operation, v2, stream, kwargs, lifecycle.capture_message_content())
        return Invocation(tracer, request, instance)
    except Exception:
        log_once("describing a Cohere request")
        return None


def sync_call(tracer: Tracer, operation: str, v2: bool, stream: bool, enabled: Enabled) -> Callable[..., Any]:
    # Also the async clients' streams: calling an async generator function is not awaited.
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _invocation(tracer, operation, v2, stream, instance, kwargs) if enabled() else None
        if invocation is None:
            return wrapped(*args, **kwargs)
        run = lifecycle.with_model_override(invocation, wrapped)
        return lifecycle.invoke(invocation.start, run, args, kwargs, invocation.finish)

    return wrapper


def async_call(tracer: Tracer, operation: str, v2: bool, stream: bool, enabled: Enabled) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _invocation(tracer, operation, v2, stream, instance, kwargs) if enabled() else None
        if invocation is None:
            return await wrapped(*args, **kwargs)
        run = lifecycle.with_model_override(invocation, wrapped)
        return await lifecycle.ainvoke(invocation.start, run, args, kwargs, invocation.finish)

    return wrapper


# (module, sync class, async class, v2, [(method, operation, stream)])
_METHODS_V2 = [
    ("chat", CHAT, False),
    ("parse", CHAT, False),
    ("chat_stream", CHAT, True),
    ("embed", EMBEDDINGS, False),
    ("rerank", RERANK, False),
]
_METHODS_V1 = [
    ("chat", CHAT, False),
    ("chat_stream", CHAT, True),
    ("generate", TEXT_COMPLETION, False),
    ("generate_stream", TEXT_COMPLETION, True),
    ("embed", EMBEDDINGS, False),
    ("rerank", RERANK, False),
]
_CLIENTS = (
    ("cohere.v2.client", "V2Client", "AsyncV2Client", True, _METHODS_V2),
    ("cohere.base_client", "BaseCohere", "AsyncBaseCohere", False, _METHODS_V1),
)


def patches(enabled: Enabled) -> list[Patch]:
    """Every SDK method we wrap. Methods an SDK version lacks are skipped by the base class."""
    out: list[Patch] = []
    for module, sync_cls, async_cls, v2, methods in _CLIENTS:
        for method, operation, stream in methods:
            sync_wrapper = partial(sync_call, operation=operation, v2=v2, stream=stream, enabled=enabled)
            async_wrapper = partial(
                sync_call if stream else async_call, operation=operation, v2=v2, stream=stream, enabled=enabled
            )
            out.append(Patch(module, f"{sync_cls}.{method}", sync_wrapper))
            out.append(Patch(module, f"{async_cls}.{method}", async_wrapper))
    return out
