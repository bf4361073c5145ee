"""The wrappers put on google-genai's ``Models`` / ``AsyncModels`` methods, and the method list.

One HTTP request is one span. ``generate_content`` can make several: automatic function calling
sends the function results back in a new request, and automatic continuation follows
``continuation_token`` hops. Each request is billed, while the caller gets back only the last
response (or a merge of them), so we wrap the per-request methods the public ones loop over
(``_generate_content`` / ``_generate_content_stream``; a release without them is left
unpatched, never broken) rather than the public ones. ``embed_content`` makes exactly one
request and is wrapped as it is.

A sync ``_generate_content_stream`` is a generator: nothing is sent until it is first advanced,
and HTTP errors surface from ``next()``, which the stream proxy reports as the call's failure.
The async one is a coroutine that sends the request and returns an async generator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Tracer

from genai_cost import attributes as attr
from genai_cost.instrumentation.budget_hook import BudgetAsk
from genai_cost.instrumentation import lifecycle
from genai_cost.instrumentation.base import Patch
from genai_cost.instrumentation.google_genai.request import (
    EMBEDDINGS,
    Request,
    budget_input_tokens,
    embed_request,
    generate_request,
    server_of,
)
from genai_cost.instrumentation.google_genai.response import GenerateStreamObserver, embed_result, generate_result
from genai_cost.instrumentation.lifecycle import CallResult, GenAICall, log_once


@dataclass(frozen=True, slots=True)
class Surface:
    """One kind of SDK method: how to read its request and its response."""

    describe: Callable[[dict[str, Any], bool], Request]
    result: Callable[[Any, bool], CallResult]
    stream: bool = False


GENERATE = Surface(generate_request, generate_result)
GENERATE_STREAM = Surface(generate_request, generate_result, stream=True)
EMBED = Surface(embed_request, lambda response, capture: embed_result(response))

_STREAM_ATTRIBUTES = {attr.REQUEST_STREAM: True}


class Invocation:
    """One wrapped SDK call: its request, and what the caller gets back."""

    __slots__ = ("tracer", "surface", "request", "models", "kwargs", "model_override")

    def __init__(self, tracer: Tracer, surface: Surface, models: Any, kwargs: dict[str, Any]) -> None:
        self.tracer = tracer
        self.surface = surface
        self.models = models
        self.kwargs = kwargs
        self.request = surface.describe(kwargs, lifecycle.capture_message_content())
        if surface.stream:
            self.request.attributes.update(_STREAM_ATTRIBUTES)
        # The model a budget downgrade chose instead of the caller's.
        self.model_override: str | None = None

    def start(self) -> GenAICall:
        call = GenAICall.described(self.tracer, self.request, server_of(self.models))
        call.ask_budget = self.budget_ask
        return call

    def budget_ask(self) -> BudgetAsk:
        # Output: max_output_tokens x candidates from the span's request attributes (the guard
        # reads them); embeddings produce none.
        output = 0 if self.request.operation == EMBEDDINGS else None
        return BudgetAsk(budget_input_tokens(self.kwargs), output, self.swap_model)

    def swap_model(self, model: str) -> None:
        self.model_override = model

    def run(self, wrapped: Callable[..., Any]) -> Callable[..., Any]:
        return lifecycle.with_model_override(self, wrapped)

    def finish(self, call: GenAICall, result: Any) -> Any:
        if self.surface.stream:
            proxy = lifecycle.AsyncStream if hasattr(result, "__anext__") else lifecycle.SyncStream
            return proxy(result, call, GenerateStreamObserver(self.request.capture_content))
        call.set_result(self.surface.result(result, self.request.capture_content))
        call.end()
        return result


def _describe(tracer: Tracer, surface: Surface, models: Any, kwargs: dict[str, Any]) -> Invocation | None:
    try:
        return Invocation(tracer, surface, models, kwargs)
    except Exception:
        log_once("describing a google-genai request")
        return None


def sync_call(tracer: Tracer, surface: Surface) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _describe(tracer, surface, instance, kwargs)
        if invocation is None:
            return wrapped(*args, **kwargs)
        return lifecycle.invoke(invocation.start, invocation.run(wrapped), args, kwargs, invocation.finish)

    return wrapper


def async_call(tracer: Tracer, surface: Surface) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _describe(tracer, surface, instance, kwargs)
        if invocation is None:
            return await wrapped(*args, **kwargs)
        # run() hands back the SDK's coroutine, which ainvoke awaits.
        return await lifecycle.ainvoke(invocation.start, invocation.run(wrapped), args, kwargs, invocation.finish)

    return wrapper


def patches() -> list[Patch]:
    """Every SDK method we wrap. Methods an SDK version lacks are skipped by the base class."""

    def call(surface: Surface, is_async: bool) -> Callable[[Tracer], Callable[..., Any]]:
        factory = async_call if is_async else sync_call
        return lambda tracer: factory(tracer, surface)

    out: list[Patch] = []
    for owner, is_async in (("Models", False), ("AsyncModels", True)):
        out += [
            Patch("google.genai.models", f"{owner}._generate_content", call(GENERATE, is_async)),
            Patch("google.genai.models", f"{owner}._generate_content_stream", call(GENERATE_STREAM, is_async)),
            Patch("google.genai.models", f"{owner}.embed_content", call(EMBED, is_async)),
        ]
    return out
