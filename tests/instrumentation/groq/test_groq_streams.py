"""Streams: ``chat.completions.create(stream=True)``, sync and async. The usage comes in the last
chunk's ``x_groq``; every way a stream can end ends its span exactly once, and the caller sees
exactly the chunks it would without us."""

from __future__ import annotations

import gc
import json
from typing import Any

import groq
import pytest
from groq_support import (
    CACHING_MODEL,
    MESSAGES,
    MODEL,
    TOOLS,
    aclient,
    assert_priced,
    assert_usage,
    attrs,
    client,
    genai_spans,
    instrumented,
    no_content_capture,
    only_span,
    uninstrumented,
    usage_of,
    wire_usage,
)
from opentelemetry.trace import StatusCode

from genai_cost.testing import StubProvider

__all__ = ["aclient", "client", "instrumented", "no_content_capture"]

LONG = "one two three four five six seven eight nine ten eleven twelve"
CACHED = {"prompt_tokens": 4000, "completion_tokens": 12, "prompt_tokens_details": {"cached_tokens": 2048}}


class CallerError(Exception):
    pass


def stream(client: groq.Groq, model: str = MODEL) -> Any:
    return client.chat.completions.create(model=model, messages=MESSAGES, stream=True)


def assert_unpriced_partial(a: dict[str, Any], why: str) -> None:
    assert a["genai_cost.status"] == "no_usage"
    assert "genai_cost.amount" not in a and "gen_ai.usage.input_tokens" not in a
    assert why in a["genai_cost.status.detail"]


def test_stream_sees_exactly_the_uninstrumented_chunks(span_exporter: Any) -> None:
    def run() -> list[Any]:
        with StubProvider() as fresh:
            return [c.to_dict() for c in stream(groq.Groq(api_key="t", base_url=fresh.url, max_retries=0))]

    with uninstrumented():
        bare = run()
    assert run() == bare
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.request.stream"] is True and a["gen_ai.response.time_to_first_chunk"] > 0


def test_stream_usage_from_x_groq(client: groq.Groq, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/openai/v1/chat/completions", usage=CACHED, text=LONG)
    chunks = list(stream(client, CACHING_MODEL))
    assert chunks[-1].usage is None and chunks[-1].x_groq.usage is not None  # only in x_groq
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.id"] == chunks[0].id and a["gen_ai.response.finish_reasons"] == ("stop",)
    usage = usage_of(wire_usage(stub))
    assert usage["cache_read_tokens"] == 2048
    assert_usage(a, usage)
    assert_priced(a, CACHING_MODEL, usage)


def test_stream_with_usage_asked_for(client: groq.Groq, stub: StubProvider, span_exporter: Any) -> None:
    list(
        client.chat.completions.create(
            model=MODEL, messages=MESSAGES, stream=True, extra_body={"stream_options": {"include_usage": True}}
        )
    )
    assert_priced(attrs(only_span(span_exporter)), MODEL, usage_of(wire_usage(stub)))


def test_stream_tool_call_content(
    client: groq.Groq, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS, stream=True))
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    part = json.loads(a["gen_ai.output.messages"])[0]["parts"][0]
    assert part["type"] == "tool_call" and part["name"] == "get_weather" and part["arguments"] == {"city": "stub"}
    assert_priced(a, MODEL, usage_of(wire_usage(stub)))


def test_stream_text_content(
    client: groq.Groq, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    stub.enqueue("/openai/v1/chat/completions", text=LONG)
    list(stream(client))
    output = json.loads(attrs(only_span(span_exporter))["gen_ai.output.messages"])
    assert output == [{"role": "assistant", "parts": [{"type": "text", "content": LONG}], "finish_reason": "stop"}]


async def test_async_stream(aclient: groq.AsyncGroq, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/openai/v1/chat/completions", usage=CACHED)
    response = await aclient.chat.completions.create(model=CACHING_MODEL, messages=MESSAGES, stream=True)
    [c async for c in response]
    a = attrs(only_span(span_exporter))
    usage = usage_of(wire_usage(stub))
    assert_usage(a, usage)
    assert_priced(a, CACHING_MODEL, usage)


def test_break_then_close(client: groq.Groq, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/openai/v1/chat/completions", text=LONG)
    response = stream(client)
    for _ in response:
        break
    assert genai_spans(span_exporter) == []
    response.close()
    assert_unpriced_partial(attrs(only_span(span_exporter)), "closed the stream")


def test_context_manager_exit_early(client: groq.Groq, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/openai/v1/chat/completions", text=LONG)
    with stream(client) as response:
        next(iter(response))
    assert_unpriced_partial(attrs(only_span(span_exporter)), "left the stream")


def test_caller_exception_in_the_loop(client: groq.Groq, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/openai/v1/chat/completions", text=LONG)
    with pytest.raises(CallerError), stream(client) as response:
        for _ in response:
            raise CallerError
    span = only_span(span_exporter)
    assert span.status.status_code is not StatusCode.ERROR
    assert_unpriced_partial(attrs(span), "raised CallerError")


def test_server_error_mid_stream(client: groq.Groq, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/openai/v1/chat/completions", text=LONG, fail_after_events=4)
    with pytest.raises(Exception) as caught:
        list(stream(client))
    assert not type(caught.value).__module__.startswith("genai_cost")
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.status.status_code is StatusCode.ERROR
    assert a["error.type"].endswith(type(caught.value).__name__)
    assert_unpriced_partial(a, "failed before it completed")


def test_never_consumed(client: groq.Groq, stub: StubProvider, span_exporter: Any) -> None:
    response = stream(client)
    del response
    gc.collect()
    assert_unpriced_partial(attrs(only_span(span_exporter)), "abandoned")


def test_ends_exactly_once(client: groq.Groq, stub: StubProvider, span_exporter: Any) -> None:
    response = stream(client)
    list(response)
    response.close()
    with response:
        pass
    del response
    gc.collect()
    assert only_span(span_exporter)


async def test_async_early_endings(aclient: groq.AsyncGroq, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/openai/v1/chat/completions", text=LONG)
    response = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    async for _ in response:
        break
    await response.close()
    assert_unpriced_partial(attrs(only_span(span_exporter)), "closed the stream")

    span_exporter.clear()
    stub.enqueue("/openai/v1/chat/completions", text=LONG, fail_after_events=3)
    response = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    with pytest.raises(Exception) as caught:
        async for _ in response:
            pass
    assert not type(caught.value).__module__.startswith("genai_cost")
    assert_unpriced_partial(attrs(only_span(span_exporter)), "failed before it completed")
