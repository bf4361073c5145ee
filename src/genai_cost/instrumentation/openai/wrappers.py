"""The wrappers put on the openai SDK's methods, and the list of methods (``patches``).

Each wrapper describes the request, then hands the SDK call to ``lifecycle.invoke`` /
``ainvoke``: the span, errors and pricing live there. What is OpenAI-specific is in ``finish``:
the result may be a model object, a stream, or a raw response.

One SDK call is one span:

* while a wrapped method runs, a context variable marks the call as ours, so an SDK method that
  calls another wrapped one (``beta...parse()`` calling ``create()`` in older SDKs) is not
  traced twice;
* the ``.stream()`` helpers get their span from the ``create``/``retrieve`` they make (helpers.py);
* wrappers check that the instrumentor is still on: the SDK binds ``with_raw_response.create``
  and friends to the wrapped method once per client (a cached property), so a wrapper can outlive
  ``uninstrument()`` and must then step aside.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from openai import AsyncStream, Stream
from opentelemetry.trace import Tracer

from genai_cost.instrumentation.budget_hook import BudgetAsk
from genai_cost import attributes as attr
from genai_cost.instrumentation import lifecycle
from genai_cost.instrumentation.base import Patch
from genai_cost.instrumentation.key_id import client_key_id
from genai_cost.instrumentation.lifecycle import CallResult, GenAICall, StreamObserver, log_once
from genai_cost.instrumentation.openai import helpers, raw
from genai_cost.instrumentation.openai.request import (
    Request,
    Server,
    budget_input_tokens,
    chat_request,
    completions_request,
    embeddings_request,
    fetch_request,
    responses_request,
    server_of,
    caller_decides_usage,
    with_usage_requested,
)
from genai_cost.instrumentation.openai.response import chat_result, embeddings_result, fetch_result, responses_result
from genai_cost.instrumentation.openai.streams import ChatStreamObserver, ResponsesStreamObserver


@dataclass(frozen=True, slots=True)
class Surface:
    """One kind of SDK method: how to read its request, its response and its stream."""

    describe: Callable[[tuple[Any, ...], dict[str, Any], bool], Request]
    result: Callable[[Any, Request], CallResult]
    observer: Callable[[Request, bool], StreamObserver]
    # Chat and legacy completions stream usage only when the request asks for it.
    usage_on_request: bool = False


def _no_stream(request: Request, withhold: bool) -> StreamObserver:
    raise TypeError(f"{request.operation} does not stream")


CHAT = Surface(lambda a, k, c: chat_request(k, c), chat_result, ChatStreamObserver, usage_on_request=True)
COMPLETIONS = Surface(lambda a, k, c: completions_request(k, c), chat_result, ChatStreamObserver, usage_on_request=True)
EMBEDDINGS = Surface(lambda a, k, c: embeddings_request(k, c), embeddings_result, _no_stream)
RESPONSES = Surface(lambda a, k, c: responses_request(k, c), responses_result, lambda r, w: ResponsesStreamObserver(r))
FETCH = Surface(
    lambda a, k, c: fetch_request(a[0] if a else k.get("response_id"), k, c),
    fetch_result,
    lambda r, w: ResponsesStreamObserver(r, fetch=True),
)

# True while a wrapped SDK method of ours runs (not while its stream is read).
_in_call: ContextVar[bool] = ContextVar("genai_cost_openai_in_call", default=False)


class Invocation:
    """One wrapped SDK call: its request, its span, and what the caller gets back."""

    __slots__ = ("tracer", "surface", "request", "server", "ask_usage", "call", "model_override")

    def __init__(
        self, tracer: Tracer, surface: Surface, resource: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        self.tracer = tracer
        self.surface = surface
        self.request = request = surface.describe(args, kwargs, lifecycle.capture_message_content())
        self.server: Server = server_of(resource)
        if (key_id := client_key_id(getattr(resource, "_client", None))) is not None:
            request.attributes[attr.KEY_ID] = key_id
        # Ask for streamed usage only where we can hide it again: not for raw responses, whose
        # bytes the caller may read, and not where the server would reject the option.
        self.ask_usage = (
            surface.usage_on_request
            and request.stream
            and request.raw is None
            and self.server.accepts_stream_options
            and not caller_decides_usage(kwargs)
        )
        self.call: GenAICall | None = None
        # The model a budget downgrade chose instead of the caller's.
        self.model_override: str | None = None

    def start(self) -> GenAICall:
        request = self.request
        self.call = GenAICall.described(self.tracer, request, self.server)
        if request.operation != "fetch_response":  # fetching a stored response bills nothing
            self.call.ask_budget = self.budget_ask
        return self.call

    def budget_ask(self) -> BudgetAsk:
        # Output: max_tokens x n from the span's request attributes (the guard reads them);
        # embeddings produce none.
        output = 0 if self.request.operation == "embeddings" else None
        return BudgetAsk(budget_input_tokens(self.request.kwargs), output, self.swap_model)

    def swap_model(self, model: str) -> None:
        self.model_override = model

    def sdk_kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        # Only once our span exists: if starting it failed, the call goes out exactly as made.
        if self.model_override is not None:
            kwargs = {**kwargs, "model": self.model_override}
        return with_usage_requested(kwargs) if self.ask_usage and self.call is not None else kwargs

    def run(self, wrapped: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            token = _in_call.set(True)
            try:
                return wrapped(*args, **self.sdk_kwargs(kwargs))
            finally:
                _in_call.reset(token)

        return run

    def arun(self, wrapped: Callable[..., Any]) -> Callable[..., Any]:
        async def arun(*args: Any, **kwargs: Any) -> Any:
            token = _in_call.set(True)
            try:
                return await wrapped(*args, **self.sdk_kwargs(kwargs))
            finally:
                _in_call.reset(token)

        return arun

    def finish(self, call: GenAICall, result: Any) -> Any:
        if self.request.raw is not None and raw.is_raw_response(result):
            return raw.handle(result, call, self)
        if self.request.stream and isinstance(result, Stream | AsyncStream):
            return self.wrap_stream(result, call)
        call.set_result(self.surface.result(result, self.request))
        call.end()
        return result

    def wrap_stream(self, stream: Any, call: GenAICall) -> Any:
        observer = self.surface.observer(self.request, self.ask_usage)
        proxy_type = lifecycle.AsyncStream if isinstance(stream, AsyncStream) else lifecycle.SyncStream
        proxy = proxy_type(stream, call, observer)
        helpers.register(proxy)
        return proxy


Enabled = Callable[[], bool]


def sync_call(tracer: Tracer, surface: Surface, enabled: Enabled) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if _in_call.get() or not enabled():
            return wrapped(*args, **kwargs)
        try:
            invocation = Invocation(tracer, surface, instance, args, kwargs)
        except Exception:
            log_once("describing an OpenAI request")
            return wrapped(*args, **kwargs)
        return lifecycle.invoke(invocation.start, invocation.run(wrapped), args, kwargs, invocation.finish)

    return wrapper


def async_call(tracer: Tracer, surface: Surface, enabled: Enabled) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        # Everything happens when the coroutine is awaited: the stream helpers create it early
        # and await it inside their manager's __aenter__.
        if _in_call.get() or not enabled():
            return await wrapped(*args, **kwargs)
        try:
            invocation = Invocation(tracer, surface, instance, args, kwargs)
        except Exception:
            log_once("describing an OpenAI request")
            return await wrapped(*args, **kwargs)
        return await lifecycle.ainvoke(invocation.start, invocation.arun(wrapped), args, kwargs, invocation.finish)

    return wrapper


def stream_helper(manager_proxy: type, enabled: Enabled) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        if not enabled():
            return manager
        try:
            return manager_proxy(manager)
        except Exception:
            log_once("wrapping an OpenAI stream helper")
            return manager

    return wrapper


def patches(enabled: Enabled) -> list[Patch]:
    """Every SDK method we wrap. Methods an SDK version lacks are skipped by the base class."""

    def call(surface: Surface, is_async: bool) -> Callable[[Tracer], Callable[..., Any]]:
        factory = async_call if is_async else sync_call
        return lambda tracer: factory(tracer, surface, enabled)

    def helper(is_async: bool) -> Callable[[Tracer], Callable[..., Any]]:
        proxy = helpers.AsyncStreamManager if is_async else helpers.StreamManager
        return lambda tracer: stream_helper(proxy, enabled)

    chat = "openai.resources.chat.completions"
    beta_chat = "openai.resources.beta.chat.completions"  # parse()/stream() before openai 1.9x
    responses = "openai.resources.responses"
    embeddings = "openai.resources.embeddings"
    completions = "openai.resources.completions"
    out: list[tuple[str, str, Callable[[Tracer], Callable[..., Any]]]] = []
    for prefix, is_async in (("", False), ("Async", True)):
        out += [
            (chat, f"{prefix}Completions.create", call(CHAT, is_async)),
            (chat, f"{prefix}Completions.parse", call(CHAT, is_async)),
            (chat, f"{prefix}Completions.stream", helper(is_async)),
            (beta_chat, f"{prefix}Completions.parse", call(CHAT, is_async)),
            (beta_chat, f"{prefix}Completions.stream", helper(is_async)),
            (responses, f"{prefix}Responses.create", call(RESPONSES, is_async)),
            (responses, f"{prefix}Responses.parse", call(RESPONSES, is_async)),
            (responses, f"{prefix}Responses.stream", helper(is_async)),
            (responses, f"{prefix}Responses.retrieve", call(FETCH, is_async)),
            (embeddings, f"{prefix}Embeddings.create", call(EMBEDDINGS, is_async)),
            (completions, f"{prefix}Completions.create", call(COMPLETIONS, is_async)),
        ]
    # openai 3.x imports each resource module when the client first touches it: patch it then,
    # so an app that never calls the Responses API does not import it (~50 ms) at instrument().
    return [Patch(module, attribute, make, lazy=True) for module, attribute, make in out]
