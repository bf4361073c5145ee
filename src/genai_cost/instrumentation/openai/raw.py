"""``with_raw_response`` and ``with_streaming_response`` results.

``client.x.with_raw_response.create(...)`` returns a ``LegacyAPIResponse`` whose body is already
read; ``with_streaming_response`` returns an ``APIResponse`` / ``AsyncAPIResponse`` inside a
context manager, body unread. Both hand the payload out through ``parse()``, which caches it, so:

* a read, non-streamed body is parsed right away (the caller's own ``parse()`` later returns the
  very same cached object) and the span ends with the call;
* otherwise the response is proxied: ``parse()`` ends the span with the payload (or, for a stream,
  returns our stream proxy over it), and ``close()`` -- what the context manager calls on exit --
  ends it with whatever could be learnt (a body the caller read as JSON/bytes is parsed from the
  cached content; one never read has no usage, and the span says so).
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol

import wrapt
from openai import AsyncStream, Stream

from genai_cost.instrumentation.lifecycle import GenAICall, log_once
from genai_cost.instrumentation.openai.request import Request
from genai_cost.instrumentation.openai.response import unread_result


class Invocation(Protocol):
    """What this module needs of ``wrappers.Invocation`` (named structurally: wrappers imports us)."""

    request: Request
    surface: Any

    def wrap_stream(self, stream: Any, call: GenAICall) -> Any: ...


def is_raw_response(result: Any) -> bool:
    # Structural: the SDK's response classes live in private modules that moved between versions.
    return hasattr(result, "http_response") and callable(getattr(result, "parse", None))


def _body_read(raw: Any) -> bool:
    try:
        raw.http_response.content  # noqa: B018 - raises until the body has been read
    except Exception:
        return False
    return True


def handle(raw: Any, call: GenAICall, invocation: Invocation) -> Any:
    """What the caller gets for a raw-response result: the response itself, or a proxy of it."""
    sync_parse = not inspect.iscoroutinefunction(raw.parse)
    if not invocation.request.stream and sync_parse and _body_read(raw):
        try:
            parsed = raw.parse()
        except Exception:  # the caller's own parse() will raise it; not ours to report
            call.set_result(unread_result(invocation.request, "the response body could not be parsed"))
        else:
            call.set_result(invocation.surface.result(parsed, invocation.request))
        call.end()
        return raw
    return RawResponse(raw, call, invocation) if sync_parse else AsyncRawResponse(raw, call, invocation)


_UNREAD = "the caller did not parse the response, so its usage is unknown"


class RawResponse(wrapt.ObjectProxy):  # type: ignore[misc]
    """A raw response whose payload we have not seen yet (sync ``parse()``)."""

    def __init__(self, raw: Any, call: GenAICall, invocation: Invocation) -> None:
        super().__init__(raw)
        self._self_call = call
        self._self_invocation = invocation
        self._self_stream: Any = None  # our proxy over the parsed stream, once there is one

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        return self._take(self.__wrapped__.parse(*args, **kwargs))

    def _take(self, parsed: Any) -> Any:
        call, invocation = self._self_call, self._self_invocation
        try:
            if invocation.request.stream:
                if not isinstance(parsed, Stream | AsyncStream):
                    return parsed  # parse(to=...) into something else: nothing to follow
                current = self._self_stream
                if current is not None:
                    return current if current.__wrapped__ is parsed else parsed
                if not call.ended:
                    self._self_stream = invocation.wrap_stream(parsed, call)
                    return self._self_stream
            elif not call.ended:
                call.set_result(invocation.surface.result(parsed, invocation.request))
                call.end()
        except Exception:
            log_once("reading a raw OpenAI response")
            call.end()
        return parsed

    def _ended_by_stream(self) -> bool:
        """Whether the span is over, or has just been ended through the stream proxy we handed
        out (which knows the usage seen so far)."""
        if self._self_call.ended:
            return True
        stream = self._self_stream
        if stream is None:
            return False
        # The lifecycle proxy's own state: ends the span once, with the observer's result.
        stream._self_state.end("the caller closed the response before the stream completed")
        return True

    def _body_was_read(self) -> bool:
        # A JSON body the caller read as bytes/JSON is cached: parsing it costs no I/O.
        return not self._self_invocation.request.stream and _body_read(self.__wrapped__)

    def _end_unread(self, how: str) -> None:
        call = self._self_call
        if not call.ended:
            call.set_result(unread_result(self._self_invocation.request, how))
            call.end()

    def close(self) -> Any:
        try:
            return self.__wrapped__.close()
        finally:
            try:
                if not self._ended_by_stream():
                    if self._body_was_read():
                        self._take(self.__wrapped__.parse())
                    else:
                        self._end_unread(_UNREAD)
            except Exception:
                log_once("closing a raw OpenAI response")
                self._self_call.end()

    def __del__(self) -> None:
        try:
            if self._self_stream is None:  # a handed-out stream proxy ends its own span
                self._end_unread("the response was dropped before its body was parsed")
        except Exception:
            pass


class AsyncRawResponse(RawResponse):
    """``AsyncAPIResponse`` (async ``with_streaming_response``): ``parse()`` and ``close()`` are
    coroutines."""

    async def parse(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return self._take(await self.__wrapped__.parse(*args, **kwargs))

    async def close(self) -> Any:  # type: ignore[override]
        try:
            return await self.__wrapped__.close()
        finally:
            try:
                if not self._ended_by_stream():
                    if self._body_was_read():
                        self._take(await self.__wrapped__.parse())
                    else:
                        self._end_unread(_UNREAD)
            except Exception:
                log_once("closing a raw OpenAI response")
                self._self_call.end()
