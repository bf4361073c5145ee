"""The SDK's ``.stream()`` helpers: ``chat.completions.stream()`` and ``responses.stream()``.

A helper returns a manager; entering it calls ``create(stream=True)`` (or, for
``responses.stream(response_id=...)``, ``retrieve(stream=True)``), which our own wrapper turns into
one span and a stream proxy, and wraps that stream in an accumulating ``ChatCompletionStream`` /
``ResponseStream``. That wrapper closes the HTTP response directly -- past our proxy -- when the
``with`` block ends early, so the manager is proxied too: on exit it ends the inner proxy's span,
saying why. The span is the inner call's, so it ends exactly once whichever side gets there first.

The inner call finds the manager through a context variable set only while the manager's own
``__enter__`` runs (sync: the request is made there; async: the request coroutine is awaited
there, in the same task).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

import wrapt

from genai_cost.instrumentation.lifecycle import log_once


class _Slot:
    __slots__ = ("stream",)

    def __init__(self) -> None:
        self.stream: Any = None


_entering: ContextVar[_Slot | None] = ContextVar("genai_cost_openai_stream_helper", default=None)


def register(stream_proxy: Any) -> None:
    """Called with every stream proxy we create: hands it to a manager being entered, if any."""
    slot = _entering.get()
    if slot is not None and slot.stream is None:
        slot.stream = stream_proxy


class StreamManager(wrapt.ObjectProxy):  # type: ignore[misc]
    """A sync ``ChatCompletionStreamManager`` / ``ResponseStreamManager``, unchanged for the caller."""

    def __init__(self, manager: Any) -> None:
        super().__init__(manager)
        self._self_inner: Any = None

    def __enter__(self) -> Any:
        slot = _Slot()
        token = _entering.set(slot)
        try:
            stream = self.__wrapped__.__enter__()
        finally:
            _entering.reset(token)
        self._self_inner = slot.stream
        return stream

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            inner = self._self_inner
            if inner is not None:
                try:
                    inner.__exit__(exc_type, exc, tb)  # ends the span (if still open) with why
                except Exception:
                    log_once("closing an OpenAI stream helper")


class AsyncStreamManager(wrapt.ObjectProxy):  # type: ignore[misc]
    """The async counterpart of ``StreamManager``."""

    def __init__(self, manager: Any) -> None:
        super().__init__(manager)
        self._self_inner: Any = None

    async def __aenter__(self) -> Any:
        slot = _Slot()
        token = _entering.set(slot)
        try:
            stream = await self.__wrapped__.__aenter__()
        finally:
            _entering.reset(token)
        self._self_inner = slot.stream
        return stream

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            inner = self._self_inner
            if inner is not None:
                try:
                    await inner.__aexit__(exc_type, exc, tb)
                except Exception:
                    log_once("closing an OpenAI stream helper")
