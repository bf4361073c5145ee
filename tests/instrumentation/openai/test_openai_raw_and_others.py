"""with_raw_response / with_streaming_response, embeddings, legacy completions."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from openai_support import (
    MESSAGES,
    aclient,
    assert_priced,
    assert_usage,
    attrs,
    chat_usage_of,
    client,
    instrumented,
    no_content_capture,
    only_span,
    responses_usage_of,
)

from genai_cost.testing import StubProvider

__all__ = ["aclient", "client", "instrumented", "no_content_capture"]


def chat_priced(span_exporter: Any, stub: StubProvider) -> dict[str, Any]:
    a = attrs(only_span(span_exporter))
    body = stub.last_request.response_body
    usage = chat_usage_of(body["usage"])
    assert_usage(a, usage)
    assert_priced(a, body["model"], usage)
    assert a["gen_ai.response.id"] == body["id"]
    return a


# --- with_raw_response ----------------------------------------------------------------------


def test_raw_response(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES)

    chat_priced(span_exporter, stub)  # ended with the call, before the caller parsed anything
    assert raw.headers["x-request-id"].startswith("req_stub")
    completion = raw.parse()
    assert completion is raw.parse()  # the SDK's cache: we parsed first, the caller gets the same
    assert completion.usage is not None and completion.usage.prompt_tokens > 0


async def test_raw_response_async(aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any) -> None:
    raw = await aclient.responses.with_raw_response.create(model="gpt-4o-mini", input="hello")
    a = attrs(only_span(span_exporter))
    assert_priced(
        a, "gpt-4o-mini-2024-07-18", responses_usage_of(stub.last_request.response_body["usage"]), tier="default"
    )
    assert raw.parse().output_text == "This is a test."


def test_cached_raw_resource_is_traced_on_every_call(client: openai.OpenAI, span_exporter: Any) -> None:
    raw_resource = client.chat.completions.with_raw_response  # binds create() once (cached property)
    assert raw_resource is client.chat.completions.with_raw_response
    raw_resource.create(model="gpt-4o-mini", messages=MESSAGES)
    raw_resource.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(span_exporter.get_finished_spans()) == 2


def test_raw_response_stream(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    assert span_exporter.get_finished_spans() == ()
    stream = raw.parse()
    assert stream is raw.parse()
    chunks = list(stream)

    assert chunks[-1].usage is not None  # asked for, so seen
    a = attrs(only_span(span_exporter))
    sent = next(c for c in stub.last_request.response_body if c.get("usage"))["usage"]
    assert_priced(a, "gpt-4o-mini-2024-07-18", chat_usage_of(sent))


def test_raw_response_stream_is_not_changed(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    """A raw stream's bytes are the caller's to read: no stream_options, so usage is estimated."""
    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert "stream_options" not in stub.last_request.body
    for _ in raw.parse():
        pass
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "estimated"


def test_raw_response_stream_never_parsed(client: openai.OpenAI, span_exporter: Any) -> None:
    import gc

    raw = client.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    raw.http_response.close()
    del raw
    gc.collect()
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "no_usage"
    assert "dropped" in a["genai_cost.status.detail"]


# --- with_streaming_response ----------------------------------------------------------------


def test_streaming_response_parse(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    with client.chat.completions.with_streaming_response.create(model="gpt-4o-mini", messages=MESSAGES) as response:
        assert span_exporter.get_finished_spans() == ()  # the body is not read yet
        completion = response.parse()
    assert completion.choices[0].message.content == "This is a test."
    chat_priced(span_exporter, stub)


def test_streaming_response_read_as_json(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    with client.chat.completions.with_streaming_response.create(model="gpt-4o-mini", messages=MESSAGES) as response:
        body = response.json()
    assert isinstance(body, dict) and body["usage"]
    chat_priced(span_exporter, stub)


def test_streaming_response_left_unread(client: openai.OpenAI, span_exporter: Any) -> None:
    with client.chat.completions.with_streaming_response.create(model="gpt-4o-mini", messages=MESSAGES):
        pass
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "no_usage"
    assert "did not parse" in a["genai_cost.status.detail"]


def test_streaming_response_stream(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    ) as response:
        for _ in response.parse():
            pass
    sent = next(c for c in stub.last_request.response_body if c.get("usage"))["usage"]
    assert_priced(attrs(only_span(span_exporter)), "gpt-4o-mini-2024-07-18", chat_usage_of(sent))


def test_streaming_response_stream_left_early(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/chat/completions", text="a b c d e f g h")
    with client.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True
    ) as response:
        for _ in response.parse():
            break
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "partial"
    assert "closed the response before the stream completed" in a["genai_cost.status.detail"]


async def test_streaming_response_async(aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any) -> None:
    async with aclient.chat.completions.with_streaming_response.create(
        model="gpt-4o-mini", messages=MESSAGES
    ) as response:
        completion = await response.parse()
    assert completion.usage is not None
    chat_priced(span_exporter, stub)


async def test_streaming_response_async_read_as_json(
    aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any
) -> None:
    async with aclient.embeddings.with_streaming_response.create(
        model="text-embedding-3-small", input="hi"
    ) as response:
        await response.json()
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.usage.input_tokens"] == stub.last_request.response_body["usage"]["prompt_tokens"]
    assert a["genai_cost.status"] == "priced"


async def test_streaming_response_async_stream(
    aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any
) -> None:
    async with aclient.responses.with_streaming_response.create(
        model="gpt-4o-mini", input="hi", stream=True
    ) as response:
        async for _ in await response.parse():
            pass
    final = stub.last_request.response_body[-1]["response"]
    assert_priced(attrs(only_span(span_exporter)), "gpt-4o-mini-2024-07-18", responses_usage_of(final["usage"]))


def test_parse_raw_response_is_one_span(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    from pydantic import BaseModel

    class Answer(BaseModel):
        city: str

    stub.enqueue("/v1/chat/completions", text='{"city": "Kyiv"}')
    raw = client.chat.completions.with_raw_response.parse(
        model="gpt-4o-mini", messages=MESSAGES, response_format=Answer
    )
    assert raw.parse().choices[0].message.parsed == Answer(city="Kyiv")
    chat_priced(span_exporter, stub)


# --- embeddings -----------------------------------------------------------------------------


def test_embeddings(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    result = client.embeddings.create(
        model="text-embedding-3-small", input=["one two", "three"], encoding_format="float", dimensions=8
    )
    assert len(result.data[0].embedding) == 8
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == "embeddings text-embedding-3-small"
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.request.encoding_formats"] == ("float",)
    assert a["gen_ai.embeddings.dimension.count"] == 8
    assert a["gen_ai.response.model"] == "text-embedding-3-small"
    tokens = stub.last_request.response_body["usage"]["prompt_tokens"]
    assert a["gen_ai.usage.input_tokens"] == tokens and a["gen_ai.usage.output_tokens"] == 0
    assert_priced(a, "text-embedding-3-small", {"input_tokens": tokens})


async def test_embeddings_async_default_format_not_reported(
    aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any
) -> None:
    await aclient.embeddings.create(model="text-embedding-3-large", input="hello there")
    assert stub.last_request.body["encoding_format"] == "base64"  # the SDK's choice, not the caller's
    a = attrs(only_span(span_exporter))
    assert "gen_ai.request.encoding_formats" not in a
    assert_priced(
        a, "text-embedding-3-large", {"input_tokens": stub.last_request.response_body["usage"]["prompt_tokens"]}
    )


def test_embeddings_error(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/embeddings", status=404)
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="text-embedding-4", input="x")
    assert attrs(only_span(span_exporter))["error.type"] == "openai.NotFoundError"


# --- legacy completions ---------------------------------------------------------------------


def test_completions(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this", max_tokens=3, seed=7)
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == "text_completion gpt-3.5-turbo-instruct"
    assert a["gen_ai.operation.name"] == "text_completion"
    assert a["gen_ai.request.max_tokens"] == 3 and a["gen_ai.request.seed"] == 7
    assert a["gen_ai.response.finish_reasons"] == ("length",)
    chat_priced(span_exporter, stub)


async def test_completions_async(aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any) -> None:
    await aclient.completions.create(model="gpt-3.5-turbo-instruct", prompt=["a", "b"])
    chat_priced(span_exporter, stub)


def test_completions_content_when_opted_in(
    client: openai.OpenAI, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this")
    list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this", stream=True))

    expected_output = [
        {"role": "assistant", "parts": [{"type": "text", "content": "This is a test."}], "finish_reason": "stop"}
    ]
    for span in span_exporter.get_finished_spans():
        a = attrs(span)
        assert json.loads(a["gen_ai.input.messages"]) == [
            {"role": "user", "parts": [{"type": "text", "content": "Say this"}]}
        ]
        assert json.loads(a["gen_ai.output.messages"]) == expected_output
    assert len(span_exporter.get_finished_spans()) == 2
