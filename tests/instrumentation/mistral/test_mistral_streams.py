"""Streams: ``chat.stream``, ``fim.stream`` and ``agents.stream`` (sync and async). Every way a
stream can end ends its span exactly once; the usage comes with the last chunk, so a stream ended
early is unpriced and says why -- never a silent $0 -- and the caller sees exactly the events it
would without us."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from mistral_support import (
    MESSAGES,
    MODEL,
    TOOLS,
    Mistral,
    assert_priced,
    assert_usage,
    attrs,
    client,
    genai_spans,
    instrumented,
    needs_stream_close,
    no_content_capture,
    only_span,
    server_url,
    uninstrumented,
    usage_of,
    wire_usage,
)
from opentelemetry.trace import StatusCode

from genai_cost.testing import StubProvider
from genai_cost.testing.mistral_wire import AGENT_MODEL

__all__ = ["client", "instrumented", "no_content_capture"]

LONG = "one two three four five six seven eight nine ten eleven twelve"
CACHED = {"prompt_tokens": 4000, "completion_tokens": 12, "prompt_tokens_details": {"cached_tokens": 2048}}


class CallerError(Exception):
    pass


def chat_stream(client: Any) -> Any:
    return client.chat.stream(model=MODEL, messages=MESSAGES, max_tokens=256)


def assert_unpriced_partial(a: dict[str, Any], why: str) -> None:
    """A stream ended before its last chunk has no usage: unpriced, saying why."""
    assert a["genai_cost.status"] == "no_usage"
    assert "genai_cost.amount" not in a and "gen_ai.usage.input_tokens" not in a
    assert why in a["genai_cost.status.detail"]


def test_stream_sees_exactly_the_uninstrumented_events(span_exporter: Any) -> None:
    def run() -> list[Any]:
        with StubProvider() as fresh:
            client = Mistral(api_key="test", server_url=server_url(fresh))
            return [event.data.model_dump() for event in chat_stream(client)]

    with uninstrumented():
        bare = run()
    assert run() == bare
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.time_to_first_chunk"] > 0


def test_stream_usage_and_price(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/mistral/v1/chat/completions", usage=CACHED, text=LONG)
    events = list(chat_stream(client))
    span = only_span(span_exporter)
    a = attrs(span)
    assert a["gen_ai.response.id"] == events[0].data.id
    assert a["gen_ai.response.model"] == MODEL
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    usage = usage_of(wire_usage(stub))
    assert usage["cache_read_tokens"] == 2048
    assert_usage(a, usage)
    assert_priced(a, MODEL, usage)
    assert span.status.status_code is not StatusCode.ERROR


def test_stream_with_context_manager(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    with chat_stream(client) as stream:
        for _ in stream:
            pass
    assert_priced(attrs(only_span(span_exporter)), MODEL, usage_of(wire_usage(stub)))


def test_stream_tool_call_and_content(
    client: Any, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    list(client.chat.stream(model=MODEL, messages=MESSAGES, tools=TOOLS, tool_choice="any"))
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    output = json.loads(a["gen_ai.output.messages"])
    assert output[0]["parts"][0]["type"] == "tool_call" and output[0]["parts"][0]["name"] == "get_weather"
    assert_priced(a, MODEL, usage_of(wire_usage(stub)))


def test_stream_text_content(
    client: Any, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    stub.enqueue("/mistral/v1/chat/completions", text=LONG)
    list(chat_stream(client))
    output = json.loads(attrs(only_span(span_exporter))["gen_ai.output.messages"])
    assert output == [{"role": "assistant", "parts": [{"type": "text", "content": LONG}], "finish_reason": "stop"}]


def test_fim_and_agent_streams(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    list(client.fim.stream(model="codestral-2508", prompt="def add(a, b):", suffix="return c"))
    fim_usage = usage_of(wire_usage(stub))
    list(client.agents.stream(agent_id="ag_stub_1", messages=MESSAGES))
    agent_usage = usage_of(wire_usage(stub))
    fim, agent = (attrs(s) for s in genai_spans(span_exporter))
    assert fim["gen_ai.operation.name"] == "text_completion" and fim["gen_ai.request.stream"] is True
    assert_priced(fim, "codestral-2508", fim_usage)
    assert agent["gen_ai.operation.name"] == "invoke_agent"
    assert_priced(agent, AGENT_MODEL, agent_usage)


async def test_async_stream(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/mistral/v1/chat/completions", usage=CACHED)
    stream = await client.chat.stream_async(model=MODEL, messages=MESSAGES)
    events = [event async for event in stream]
    assert events[-1].data.usage is not None
    a = attrs(only_span(span_exporter))
    usage = usage_of(wire_usage(stub))
    assert_usage(a, usage)
    assert_priced(a, MODEL, usage)


# --- every way a stream can end early ----------------------------------------------------------


@needs_stream_close
def test_break_then_close(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/mistral/v1/chat/completions", text=LONG)
    stream = chat_stream(client)
    for _ in stream:
        break
    assert genai_spans(span_exporter) == []  # still open: the caller may read on
    stream.close()
    assert_unpriced_partial(attrs(only_span(span_exporter)), "closed the stream")


def test_context_manager_exit_early(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/mistral/v1/chat/completions", text=LONG)
    with chat_stream(client) as stream:
        next(iter(stream))
    assert_unpriced_partial(attrs(only_span(span_exporter)), "left the stream")


def test_caller_exception_in_the_loop(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/mistral/v1/chat/completions", text=LONG)
    with pytest.raises(CallerError), chat_stream(client) as stream:
        for _ in stream:
            raise CallerError
    span = only_span(span_exporter)
    assert span.status.status_code is not StatusCode.ERROR  # the provider call did not fail
    assert_unpriced_partial(attrs(span), "raised CallerError")


def test_server_error_mid_stream(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/mistral/v1/chat/completions", text=LONG, fail_after_events=4)
    with pytest.raises(Exception) as caught:
        list(chat_stream(client))
    assert not type(caught.value).__module__.startswith("genai_cost")
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.status.status_code is StatusCode.ERROR
    assert a["error.type"].endswith(type(caught.value).__name__)
    assert_unpriced_partial(a, "failed before it completed")


def test_dropped_after_the_usage_chunk_is_still_priced(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    # Every chunk, the usage chunk included, arrived; the [DONE] sentinel never did.
    stub.enqueue("/mistral/v1/chat/completions", text="short", fail_after_events=3)
    with pytest.raises(Exception) as caught:
        list(chat_stream(client))
    assert not type(caught.value).__module__.startswith("genai_cost")
    a = attrs(only_span(span_exporter))
    assert_priced(a, MODEL, usage_of(wire_usage(stub)), status="partial")


def test_error_status_on_stream_request(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/mistral/v1/chat/completions", status=429)
    with pytest.raises(Exception) as caught:
        chat_stream(client)
    a = attrs(only_span(span_exporter))
    assert a["error.type"].endswith(type(caught.value).__name__) and a["gen_ai.request.stream"] is True


def test_never_consumed(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stream = chat_stream(client)
    del stream
    gc.collect()
    assert_unpriced_partial(attrs(only_span(span_exporter)), "abandoned")


@needs_stream_close
def test_ends_exactly_once(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stream = chat_stream(client)
    list(stream)
    stream.close()
    with stream:
        pass
    del stream
    gc.collect()
    assert only_span(span_exporter)


@needs_stream_close
async def test_async_early_endings(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/mistral/v1/chat/completions", text=LONG)
    stream = await client.chat.stream_async(model=MODEL, messages=MESSAGES)
    async for _ in stream:
        break
    await stream.close()
    assert_unpriced_partial(attrs(only_span(span_exporter)), "closed the stream")

    span_exporter.clear()
    stub.enqueue("/mistral/v1/chat/completions", text=LONG)
    async with await client.chat.stream_async(model=MODEL, messages=MESSAGES) as stream:
        await stream.__anext__()
    assert_unpriced_partial(attrs(only_span(span_exporter)), "left the stream")

    span_exporter.clear()
    stub.enqueue("/mistral/v1/chat/completions", text=LONG, fail_after_events=3)
    stream = await client.chat.stream_async(model=MODEL, messages=MESSAGES)
    with pytest.raises(Exception) as caught:
        async for _ in stream:
            pass
    assert not type(caught.value).__module__.startswith("genai_cost")
    assert_unpriced_partial(attrs(only_span(span_exporter)), "failed before it completed")
