"""A span processor that raises never changes what the application sees (issue 11, finding 12).

The real openai SDK against the local stand-in, instrumented, with a span processor on the
session's provider that raises in ``on_end`` (an ``Exception``, or a ``BaseException`` subclass
that is nobody's process control). The provider's own ``RateLimitError`` must reach the caller
unchanged, a response must be returned, a stream must iterate to its end; the caller's own
``KeyboardInterrupt`` still propagates.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import SpanProcessor

sys.path.append(str(Path(__file__).resolve().parents[1] / "instrumentation" / "openai"))
from openai_support import MESSAGES, aclient, client, instrumented, no_content_capture

from genai_cost.testing import StubProvider

__all__ = ["aclient", "client", "instrumented", "no_content_capture"]


class ProcessorCrash(BaseException):
    """Not an Exception: what a careless plugin or a test double may raise."""


class RaisingProcessor(SpanProcessor):
    """Raises ``error`` (when set) from ``on_end`` of every span."""

    error: BaseException | None = None

    def on_end(self, span: Any) -> None:
        if self.error is not None:
            raise self.error


_processor = RaisingProcessor()
_added: list[Any] = []


@pytest.fixture(
    params=[RuntimeError("processor bug"), ProcessorCrash("processor crash")], ids=["Exception", "BaseException"]
)
def raising(request: pytest.FixtureRequest, tracer_provider: Any) -> Iterator[BaseException]:
    # The session provider cannot drop a processor: this one is added once and armed per test.
    if tracer_provider not in _added:
        tracer_provider.add_span_processor(_processor)
        _added.append(tracer_provider)
    _processor.error = request.param
    yield request.param
    _processor.error = None


def test_the_providers_rate_limit_error_reaches_the_caller(
    client: openai.OpenAI, stub: StubProvider, raising: BaseException
) -> None:
    stub.enqueue("/v1/chat/completions", status=429)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


async def test_the_providers_rate_limit_error_reaches_the_async_caller(
    aclient: openai.AsyncOpenAI, stub: StubProvider, raising: BaseException
) -> None:
    stub.enqueue("/v1/chat/completions", status=429)
    with pytest.raises(openai.RateLimitError):
        await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def test_a_response_is_returned(client: openai.OpenAI, stub: StubProvider, raising: BaseException) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.choices[0].message.content


def test_a_stream_iterates_to_its_end(client: openai.OpenAI, stub: StubProvider, raising: BaseException) -> None:
    stub.enqueue("/v1/chat/completions", text="one two three four")
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "one two three four"


async def test_an_async_stream_iterates_to_its_end(
    aclient: openai.AsyncOpenAI, stub: StubProvider, raising: BaseException
) -> None:
    stub.enqueue("/v1/chat/completions", text="one two three four")
    stream = await aclient.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])
    assert text == "one two three four"


def test_a_stream_that_fails_mid_body_raises_the_sdks_error(
    client: openai.OpenAI, stub: StubProvider, raising: BaseException
) -> None:
    stub.enqueue("/v1/chat/completions", text="one two three four", fail_after_events=2)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises(Exception) as caught:  # the SDK's own error class, whichever it is
        for _ in stream:
            pass
    assert caught.value is not raising and type(caught.value).__module__.split(".")[0] in (
        "openai",
        "httpx",
        "httpcore",
    )


def test_the_callers_own_keyboard_interrupt_propagates(
    client: openai.OpenAI, stub: StubProvider, raising: BaseException
) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    with pytest.raises(KeyboardInterrupt), stream:
        for _ in stream:
            raise KeyboardInterrupt
