"""The wrappers put on the anthropic SDK's ``messages`` methods, and the list of them (``patches``).

Each wrapper describes the request, then hands the SDK call to ``lifecycle.invoke`` / ``ainvoke``:
span, errors and pricing live there. What is Anthropic-specific is in ``Invocation.finish``: the
result is a ``Message``, a raw event ``Stream``, or a raw HTTP response.

The ``.stream()`` helpers do not go through ``create()``: they build the request themselves and
make it when their manager is entered. So the manager is proxied: entering it is the call (our span
is current while the request is made), and the raw event stream inside the ``MessageStream`` it
returns is swapped for our stream proxy before anything reads it. Every way of reading the helper
-- iterating it, ``text_stream``, ``until_done()``, ``get_final_message()`` -- reads that raw
stream, so all of them feed the same observer, and the span ends exactly once however the ``with``
block ends.

Wrappers check that the instrumentor is still on: ``with_raw_response.create`` and friends bind
the wrapped method once per client (a cached property), so a wrapper can outlive
``uninstrument()`` and must then step aside.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import wrapt
from anthropic import AsyncStream, Stream
from opentelemetry.trace import Tracer

from genai_cost.attributes import Status
from genai_cost.budget.errors import BudgetExceeded
from genai_cost.instrumentation.budget_hook import BudgetAsk
from genai_cost import attributes as attr
from genai_cost.instrumentation import lifecycle
from genai_cost.instrumentation.anthropic.request import (
    Request,
    Server,
    budget_input_tokens,
    count_tokens_request,
    messages_request,
    server_of,
)
from genai_cost.instrumentation.anthropic.response import count_tokens_result, create_result
from genai_cost.instrumentation.anthropic.streams import MessageStreamObserver
from genai_cost.instrumentation.base import Patch
from genai_cost.instrumentation.key_id import client_key_id
from genai_cost.instrumentation.lifecycle import CallResult, GenAICall, log_once

Enabled = Callable[[], bool]


@dataclass(frozen=True, slots=True)
class Surface:
    """One kind of SDK method: how to read its request and its response."""

    describe: Callable[..., Request]
    result: Callable[[Any, Request, Server], CallResult]
    # Whether calls go under budgets (counting tokens bills nothing).
    budgeted: bool = True


MESSAGES = Surface(messages_request, create_result)
COUNT_TOKENS = Surface(count_tokens_request, count_tokens_result, budgeted=False)


def _is_raw_response(result: Any) -> bool:
    return hasattr(result, "http_response") and hasattr(result, "parse")


class Invocation:
    """One wrapped SDK call: its request, its span, and what the caller gets back."""

    __slots__ = ("tracer", "surface", "request", "server", "stream_proxy", "model_override")

    def __init__(self, tracer: Tracer, surface: Surface, resource: Any, request: Request) -> None:
        self.tracer = tracer
        self.surface = surface
        self.request = request
        self.server = server_of(resource)
        if (key_id := client_key_id(getattr(resource, "_client", None))) is not None:
            request.attributes[attr.KEY_ID] = key_id
        self.stream_proxy: Any = None
        # The model a budget downgrade chose instead of the caller's.
        self.model_override: str | None = None

    def start(self) -> GenAICall:
        call = GenAICall.described(self.tracer, self.request, self.server)
        if self.surface.budgeted:
            call.ask_budget = self.budget_ask
        return call

    def budget_ask(self) -> BudgetAsk:
        # Output: the request's max_tokens, which the guard reads from the span's attributes.
        return BudgetAsk(budget_input_tokens(self.request.kwargs), None, self.swap_model)

    def swap_model(self, model: str) -> None:
        self.model_override = model
        self.request.model = model  # Bedrock and Vertex price by the model the request names

    def run(self, wrapped: Callable[..., Any]) -> Callable[..., Any]:
        return lifecycle.with_model_override(self, wrapped)

    def finish(self, call: GenAICall, result: Any) -> Any:
        if isinstance(result, Stream | AsyncStream):
            return self.wrap_stream(result, call)
        if _is_raw_response(result):
            call.set_result(self._raw_result(result))
        else:
            call.set_result(self.surface.result(result, self.request, self.server))
        call.end()
        return result

    def _raw_result(self, response: Any) -> CallResult:
        # with_raw_response has read a JSON body already; read it again from the bytes rather than
        # parse(), whose cached result the caller would then get. A body still unread (streamed,
        # or with_streaming_response) belongs to the caller: reading it here would consume it.
        http = response.http_response
        if http.is_closed and not self.request.stream:
            return self.surface.result(http.json(), self.request, self.server)
        return CallResult(status=(Status.NO_USAGE, "the caller reads the raw response body itself"))

    def wrap_stream(self, stream: Any, call: GenAICall) -> Any:
        observer = MessageStreamObserver(self.request, self.server)
        proxy_type = lifecycle.AsyncStream if isinstance(stream, AsyncStream) else lifecycle.SyncStream
        self.stream_proxy = proxy = proxy_type(stream, call, observer)
        return proxy

    def finish_helper(self, call: GenAICall, message_stream: Any) -> Any:
        """The helper's ``MessageStream``: its raw stream becomes ours before anyone reads it."""
        raw = getattr(message_stream, "_raw_stream", None)
        if not isinstance(raw, Stream | AsyncStream):
            call.end()  # an SDK whose helper we do not know: the span still ends, unpriced
            return message_stream
        message_stream._raw_stream = self.wrap_stream(raw, call)
        return message_stream


def _describe(
    tracer: Tracer, surface: Surface, instance: Any, kwargs: dict[str, Any], **options: Any
) -> Invocation | None:
    try:
        request = surface.describe(kwargs, lifecycle.capture_message_content(), **options)
        return Invocation(tracer, surface, instance, request)
    except Exception:
        log_once("describing an Anthropic request")
        return None


def sync_call(tracer: Tracer, surface: Surface, enabled: Enabled) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _describe(tracer, surface, instance, kwargs) if enabled() else None
        if invocation is None:
            return wrapped(*args, **kwargs)
        return lifecycle.invoke(invocation.start, invocation.run(wrapped), args, kwargs, invocation.finish)

    return wrapper


def async_call(tracer: Tracer, surface: Surface, enabled: Enabled) -> Callable[..., Any]:
    async def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        invocation = _describe(tracer, surface, instance, kwargs) if enabled() else None
        if invocation is None:
            return await wrapped(*args, **kwargs)
        return await lifecycle.ainvoke(invocation.start, invocation.run(wrapped), args, kwargs, invocation.finish)

    return wrapper


Rebuild = Callable[[str], Any]


class _ManagerProxy(wrapt.ObjectProxy):  # type: ignore[misc]
    """What both helper managers share: the call, and a budget downgrade done by building the
    manager again for the cheaper model (the helper has put ``model`` into its request already,
    and building a manager sends nothing)."""

    def __init__(self, manager: Any, invocation: Invocation, rebuild: Rebuild) -> None:
        super().__init__(manager)
        self._self_invocation = invocation
        self._self_rebuild = rebuild

    def _self_current(self) -> Any:
        model = self._self_invocation.model_override
        if model is not None:
            stale = self.__wrapped__
            self.__wrapped__ = self._self_rebuild(model)
            _close_pending_request(stale)
        return self.__wrapped__


def _close_pending_request(manager: Any) -> None:
    """The async helper makes its request coroutine up front, when ``stream()`` is called; one that
    will never be awaited (a budget downgrade or block) is closed, not left to warn when collected."""
    for value in vars(manager).values():
        if inspect.iscoroutine(value):
            value.close()


class StreamManager(_ManagerProxy):
    """A sync ``MessageStreamManager``, unchanged for the caller; entering it is the call."""

    def __enter__(self) -> Any:
        invocation = self._self_invocation
        return lifecycle.invoke(
            invocation.start, lambda: self._self_current().__enter__(), (), {}, invocation.finish_helper
        )

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        inner = self._self_invocation.stream_proxy
        try:
            if inner is not None:
                inner.__exit__(exc_type, exc, tb)  # ends the span first, saying how the block ended
        except Exception:
            log_once("closing an Anthropic stream helper")
        return self.__wrapped__.__exit__(exc_type, exc, tb)


class AsyncStreamManager(_ManagerProxy):
    """The async counterpart of ``StreamManager``."""

    async def __aenter__(self) -> Any:
        invocation = self._self_invocation
        try:
            return await lifecycle.ainvoke(
                invocation.start, lambda: self._self_current().__aenter__(), (), {}, invocation.finish_helper
            )
        except BudgetExceeded:
            _close_pending_request(self.__wrapped__)
            raise

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        inner = self._self_invocation.stream_proxy
        try:
            if inner is not None:
                await inner.__aexit__(exc_type, exc, tb)
        except Exception:
            log_once("closing an Anthropic stream helper")
        return await self.__wrapped__.__aexit__(exc_type, exc, tb)


def stream_helper(tracer: Tracer, manager_proxy: type, enabled: Enabled) -> Callable[..., Any]:
    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        invocation = _describe(tracer, MESSAGES, instance, kwargs, stream=True) if enabled() else None
        if invocation is None:
            return manager
        try:
            return manager_proxy(manager, invocation, lambda model: wrapped(*args, **{**kwargs, "model": model}))
        except Exception:
            log_once("wrapping an Anthropic stream helper")
            return manager

    return wrapper


def patches(enabled: Enabled) -> list[Patch]:
    """Every SDK method we wrap. Methods an SDK version lacks are skipped by the base class."""
    out: list[Patch] = []
    for module in ("anthropic.resources.messages.messages", "anthropic.resources.beta.messages.messages"):
        for prefix, call, manager in (("", sync_call, StreamManager), ("Async", async_call, AsyncStreamManager)):
            out += [
                Patch(module, f"{prefix}Messages.create", partial(call, surface=MESSAGES, enabled=enabled)),
                Patch(module, f"{prefix}Messages.parse", partial(call, surface=MESSAGES, enabled=enabled)),
                # stream() itself is sync on both clients: it returns a manager.
                Patch(
                    module, f"{prefix}Messages.stream", partial(stream_helper, manager_proxy=manager, enabled=enabled)
                ),
                Patch(module, f"{prefix}Messages.count_tokens", partial(call, surface=COUNT_TOKENS, enabled=enabled)),
            ]
    return out
