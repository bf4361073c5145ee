"""Streams: every way a stream can end ends its span exactly once, with the usage seen so far, and
the caller sees exactly the chunks it would see without us."""

from __future__ import annotations

import gc
import importlib
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
    genai_spans,
    instrumented,
    no_content_capture,
    only_span,
    responses_usage_of,
    uninstrumented,
)

from genai_cost.testing import StubProvider

__all__ = ["aclient", "client", "instrumented", "no_content_capture"]

LONG = "one two three four five six seven eight nine ten eleven twelve"


class CallerError(Exception):
    pass


def usage_sent(stub: StubProvider) -> dict[str, Any]:
    """The usage object of the usage-only chunk the server sent (withheld or not)."""
    chunks = [c for c in stub.last_request.response_body if isinstance(c, dict) and c.get("usage")]
    assert len(chunks) == 1
    return chunks[0]["usage"]


def dumps(chunks: list[Any]) -> list[dict[str, Any]]:
    return [c.to_dict() for c in chunks]


# --- a complete stream ----------------------------------------------------------------------


def test_chat_stream_sees_exactly_the_uninstrumented_chunks(span_exporter: Any) -> None:
    def run() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        with StubProvider() as fresh:  # fresh ids, so both runs are byte-identical on the wire
            oai = openai.OpenAI(base_url=fresh.base_url, api_key="test", max_retries=0)
            chunks = dumps(list(oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)))
            return chunks, fresh.last_request.body

    with uninstrumented():
        bare, bare_body = run()
    ours, body = run()

    assert ours == bare
    assert all("usage" not in c for c in ours)  # not even "usage": None
    assert "stream_options" not in bare_body
    assert body["stream_options"] == {"include_usage": True}  # we asked for usage ...
    a = attrs(only_span(span_exporter))  # ... and the span has it
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    assert a["gen_ai.usage.output_tokens"] == 4


def test_chat_stream_usage_and_price(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/chat/completions", usage={"prompt_tokens": 900, "prompt_tokens_details": {"cached_tokens": 512}})
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, n=2))

    assert all(c.choices for c in chunks)  # the usage-only chunk was withheld
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == "chat gpt-4o-mini"
    assert a["gen_ai.response.id"] == chunks[0].id
    assert a["gen_ai.response.finish_reasons"] == ("stop", "stop")
    usage = chat_usage_of(usage_sent(stub))
    assert usage["cache_read_tokens"] == 512
    assert_usage(a, usage)
    assert_priced(a, "gpt-4o-mini-2024-07-18", usage)


async def test_chat_stream_async(aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    chunks = [c async for c in stream]

    assert all(c.choices and "usage" not in c.to_dict() for c in chunks)
    assert stub.last_request.body["stream_options"] == {"include_usage": True}
    a = attrs(only_span(span_exporter))
    usage = chat_usage_of(usage_sent(stub))
    assert_usage(a, usage)
    assert_priced(a, "gpt-4o-mini-2024-07-18", usage)


def test_caller_asked_for_usage_sees_it(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=MESSAGES,
        stream=True,
        stream_options={"include_usage": True, "include_obfuscation": False},
    )
    chunks = list(stream)

    assert stub.last_request.body["stream_options"] == {"include_usage": True, "include_obfuscation": False}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert "usage" in chunks[0].to_dict()
    assert_usage(attrs(only_span(span_exporter)), chat_usage_of(usage_sent(stub)))


def test_other_stream_options_are_kept(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    chunks = list(
        client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_obfuscation": False}
        )
    )
    assert stub.last_request.body["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert all(c.choices for c in chunks)
    assert attrs(only_span(span_exporter))["genai_cost.status"] == "priced"


def test_stream_options_in_extra_body_are_the_callers(
    client: openai.OpenAI, stub: StubProvider, span_exporter: Any
) -> None:
    stream = client.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, stream=True, extra_body={"stream_options": {"include_usage": True}}
    )
    chunks = list(stream)
    assert stub.last_request.body["stream_options"] == {"include_usage": True}
    assert chunks[-1].choices == [] and chunks[-1].usage is not None  # theirs: not withheld
    assert_usage(attrs(only_span(span_exporter)), chat_usage_of(usage_sent(stub)))


def test_server_ignoring_stream_options_is_estimated(
    client: openai.OpenAI, stub: StubProvider, span_exporter: Any
) -> None:
    head = {"id": "chatcmpl-x", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini-2024-07-18"}
    events = [
        {
            **head,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "12345678"}, "finish_reason": None}],
        },
        {**head, "choices": [{"index": 0, "delta": {"content": "1234"}, "finish_reason": "stop"}]},
        "data: [DONE]",
    ]
    stub.enqueue("/v1/chat/completions", sse_events=events)
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))

    assert len(chunks) == 2
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "estimated"
    assert "no usage" in a["genai_cost.status.detail"]
    assert a["gen_ai.usage.output_tokens"] == 3  # 12 characters / 4
    assert a["gen_ai.usage.input_tokens"] == 5  # "Say this is a test": 18 characters / 4, rounded up
    assert a["genai_cost.amount"] > 0


# --- streams that end early -----------------------------------------------------------------


def assert_partial(span_exporter: Any, why: str) -> dict[str, Any]:
    span = only_span(span_exporter)
    a = attrs(span)
    assert a["genai_cost.status"] == "partial", a.get("genai_cost.status.detail")
    assert why in a["genai_cost.status.detail"]
    return a


def test_break_inside_with(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/chat/completions", text=LONG)
    with client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as stream:
        for chunk in stream:
            if chunk.choices[0].delta.content == " two":
                break
    a = assert_partial(span_exporter, "the caller left the stream before it completed")
    assert "estimated" in a["genai_cost.status.detail"]  # the usage chunk never came
    assert a["gen_ai.usage.output_tokens"] == 2  # "one two" so far: 7 characters
    assert a["genai_cost.amount"] > 0


async def test_break_inside_async_with(aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/chat/completions", text=LONG)
    async with await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as stream:
        async for _ in stream:
            break
    assert_partial(span_exporter, "the caller left the stream before it completed")


def test_close(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/chat/completions", text=LONG)
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    next(stream)
    next(stream)
    assert genai_spans(span_exporter) == []  # still open
    stream.close()
    stream.close()
    assert_partial(span_exporter, "the caller closed the stream")


async def test_close_async(aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/chat/completions", text=LONG)
    stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    await stream.__anext__()
    await stream.close()
    assert_partial(span_exporter, "the caller closed the stream")


def test_exception_in_the_callers_loop(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    error = CallerError("boom")
    with (
        pytest.raises(CallerError) as raised,
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as stream,
    ):
        for _ in stream:
            raise error
    assert raised.value is error
    assert_partial(span_exporter, "the caller's code raised CallerError")


async def test_exception_in_the_callers_async_loop(aclient: openai.AsyncOpenAI, span_exporter: Any) -> None:
    with pytest.raises(CallerError):
        async with await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True) as stream:
            async for _ in stream:
                raise CallerError
    assert_partial(span_exporter, "the caller's code raised CallerError")


def test_server_error_mid_stream(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/chat/completions", text=LONG, fail_after_events=3)
    seen = []
    # Whatever the SDK raises for a dropped connection (httpx2.RemoteProtocolError in openai 3.0,
    # APIConnectionError in later releases) reaches the caller unchanged and is named on the span.
    with pytest.raises(Exception) as caught:
        for chunk in client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            seen.append(chunk)
    assert len(seen) == 3
    a = assert_partial(span_exporter, "the stream failed before it completed")
    assert a["error.type"] == sdk_error_name(caught.value)
    assert a["gen_ai.response.id"] == seen[0].id


async def test_server_error_mid_async_stream(
    aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any
) -> None:
    stub.enqueue("/v1/chat/completions", text=LONG, fail_after_events=2)
    with pytest.raises(Exception) as caught:  # the dropped connection, as the SDK raises it
        async for _ in await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            pass
    assert assert_partial(span_exporter, "the stream failed")["error.type"] == sdk_error_name(caught.value)


def test_stream_never_consumed(client: openai.OpenAI, span_exporter: Any) -> None:
    stream = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    assert genai_spans(span_exporter) == []
    del stream
    gc.collect()
    assert_partial(span_exporter, "abandoned")


async def test_async_stream_never_consumed(aclient: openai.AsyncOpenAI, span_exporter: Any) -> None:
    stream = await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
    await stream.close()  # release the connection; nothing was read
    assert_partial(span_exporter, "closed")


# --- the stream() helper --------------------------------------------------------------------


def test_stream_helper_is_one_span(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        events = [e.type for e in stream]
        final = stream.get_final_completion()

    assert "content.done" in events
    assert final.usage is None  # the caller did not ask for usage, so it has none -- as without us
    assert stub.last_request.body["stream_options"] == {"include_usage": True}
    a = attrs(only_span(span_exporter))
    usage = chat_usage_of(usage_sent(stub))
    assert_usage(a, usage)
    assert_priced(a, "gpt-4o-mini-2024-07-18", usage)


def test_stream_helper_events_match_uninstrumented() -> None:
    def run() -> list[Any]:
        with StubProvider() as fresh:
            oai = openai.OpenAI(base_url=fresh.base_url, api_key="test", max_retries=0)
            with oai.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
                events = [e.to_dict() if hasattr(e, "to_dict") else repr(e) for e in stream]
                return [events, stream.get_final_completion().to_dict()]

    with uninstrumented():
        bare = run()
    assert run() == bare


def test_stream_helper_early_exit(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/chat/completions", text=LONG)
    with client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        for event in stream:
            if event.type == "content.delta":
                break
    assert_partial(span_exporter, "the caller left the stream before it completed")


def test_stream_helper_exception(client: openai.OpenAI, span_exporter: Any) -> None:
    with pytest.raises(CallerError), client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        for _ in stream:
            raise CallerError
    assert_partial(span_exporter, "raised CallerError")


def test_stream_helper_http_error(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/chat/completions", status=429)
    with pytest.raises(openai.RateLimitError), client.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES):
        pass
    assert attrs(only_span(span_exporter))["error.type"] == "openai.RateLimitError"


async def test_stream_helper_async(aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any) -> None:
    async with aclient.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        async for _ in stream:
            pass
        final = await stream.get_final_completion()
    assert final.choices[0].message.content == "This is a test."
    usage = chat_usage_of(usage_sent(stub))
    assert_priced(attrs(only_span(span_exporter)), "gpt-4o-mini-2024-07-18", usage)


async def test_stream_helper_async_early_exit(
    aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any
) -> None:
    stub.enqueue("/v1/chat/completions", text=LONG)
    async with aclient.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES) as stream:
        async for _ in stream:
            break
    assert_partial(span_exporter, "the caller left the stream")


# --- Responses API streams ------------------------------------------------------------------


def final_response(stub: StubProvider) -> dict[str, Any]:
    return next(e["response"] for e in stub.last_request.response_body if e["type"] == "response.completed")


def test_responses_stream(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/responses", usage={"input_tokens": 2000, "input_tokens_details": {"cached_tokens": 1024}})
    events = list(client.responses.create(model="o4-mini", input="hello", stream=True))

    assert events[-1].type == "response.completed"
    assert "stream_options" not in stub.last_request.body  # the Responses API always sends usage
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == "chat o4-mini"
    assert a["openai.api.type"] == "responses"
    response = final_response(stub)
    assert a["gen_ai.response.id"] == response["id"]
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    usage = responses_usage_of(response["usage"])
    assert usage["output_reasoning_tokens"] == 16
    assert_usage(a, usage)
    assert_priced(a, "o4-mini-2025-04-16", usage)


async def test_responses_stream_async(aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any) -> None:
    async for _ in await aclient.responses.create(model="gpt-4o-mini", input="hello", stream=True):
        pass
    usage = responses_usage_of(final_response(stub)["usage"])
    assert_priced(attrs(only_span(span_exporter)), "gpt-4o-mini-2024-07-18", usage)


def test_responses_stream_helper(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    with client.responses.stream(model="gpt-4o-mini", input="hello") as stream:
        for _ in stream:
            pass
        final = stream.get_final_response()
    assert final.output_text == "This is a test."
    a = attrs(only_span(span_exporter))
    assert_priced(a, "gpt-4o-mini-2024-07-18", responses_usage_of(final_response(stub)["usage"]))


def test_responses_stream_helper_early_exit(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/responses", text=LONG)
    with client.responses.stream(model="gpt-4o-mini", input="hello") as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                break
    a = assert_partial(span_exporter, "the caller left the stream before it completed")
    assert a["gen_ai.response.id"]  # known from response.created
    assert a["gen_ai.usage.output_tokens"] == 1  # "one": 3 characters, estimated


async def test_responses_stream_helper_async(
    aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any
) -> None:
    async with aclient.responses.stream(model="gpt-4o-mini", input="hello") as stream:
        async for _ in stream:
            pass
    assert_priced(
        attrs(only_span(span_exporter)), "gpt-4o-mini-2024-07-18", responses_usage_of(final_response(stub)["usage"])
    )


def test_responses_stream_server_error(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/responses", fail_after_events=4)
    with pytest.raises(Exception) as caught:  # the dropped connection, as the SDK raises it
        for _ in client.responses.create(model="gpt-4o-mini", input="hello", stream=True):
            pass
    assert assert_partial(span_exporter, "failed")["error.type"] == sdk_error_name(caught.value)


def sdk_error_name(error: BaseException) -> str:
    """The error's class as the span names it; never one of ours (the SDK's error is re-raised)."""
    cls = type(error)
    assert not cls.__module__.startswith("genai_cost")
    top = cls.__module__.split(".", 1)[0]
    module = top if getattr(importlib.import_module(top), cls.__name__, None) is cls else cls.__module__
    return f"{module}.{cls.__name__}"


# --- legacy completions ---------------------------------------------------------------------


def test_completions_stream(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    chunks = list(client.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this", stream=True))

    assert all(c.choices and "usage" not in c.to_dict() for c in chunks)
    assert stub.last_request.body["stream_options"] == {"include_usage": True}
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == "text_completion gpt-3.5-turbo-instruct"
    usage = chat_usage_of(usage_sent(stub))
    assert_usage(a, usage)
    assert_priced(a, "gpt-3.5-turbo-instruct", usage)


# --- Azure: stream_options only where the API version accepts it ----------------------------


@pytest.mark.parametrize(("api_version", "asked"), [("2024-06-01", False), ("2024-10-21", True), ("preview", True)])
def test_azure_stream_options_follow_the_api_version(
    stub: StubProvider, span_exporter: Any, api_version: str, asked: bool
) -> None:
    azure = openai.AzureOpenAI(azure_endpoint=stub.url, api_version=api_version, api_key="test", max_retries=0)
    chunks = list(azure.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))

    # Versions before 2024-09-01 answer 400 to stream_options: never risk the caller's call.
    assert ("stream_options" in stub.last_request.body) is asked
    assert all(c.choices for c in chunks)
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.provider.name"] == "azure.ai.openai"
    assert a["genai_cost.status"] == ("priced" if asked else "estimated")


# --- content of a streamed answer ------------------------------------------------------------


def test_streamed_content_when_opted_in(
    client: openai.OpenAI, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    tools = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
            },
        }
    ]
    list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True, tools=tools))

    text, tool = (json.loads(attrs(s)["gen_ai.output.messages"]) for s in genai_spans(span_exporter))
    assert text == [
        {"role": "assistant", "parts": [{"type": "text", "content": "This is a test."}], "finish_reason": "stop"}
    ]
    assert tool == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_stub_2", "name": "lookup", "arguments": {"q": "stub"}}],
            "finish_reason": "tool_calls",
        }
    ]
