"""Streams: ``create(stream=True)`` and the ``.stream()`` helper. Every way a stream can end ends
its span exactly once, with the usage seen so far (``message_start`` input and cache counts,
``message_delta`` cumulative output), and the caller sees exactly the events it would without us."""

from __future__ import annotations

import gc
import json
from typing import Any

import anthropic
import pytest
from anthropic_support import (
    MESSAGES,
    MODEL,
    RICH_USAGE,
    SNAPSHOT,
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


class CallerError(Exception):
    pass


def create_stream(client: anthropic.Anthropic) -> Any:
    return client.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES, stream=True)


def start_usage(stub: StubProvider) -> dict[str, int]:
    """What message_start alone reported: input and cache counts, and the first output token."""
    event = next(e for e in stub.last_request.response_body if e["type"] == "message_start")
    return usage_of(event["message"]["usage"])


def assert_unread(a: dict[str, Any], why: str) -> None:
    """A stream nobody read reported no usage: unpriced and saying why, never a silent $0."""
    assert a["genai_cost.status"] == "no_usage"
    assert "genai_cost.amount" not in a and "gen_ai.usage.input_tokens" not in a
    assert why in a["genai_cost.status.detail"]


def assert_partial(a: dict[str, Any], stub: StubProvider, why: str) -> None:
    usage = start_usage(stub)
    assert_usage(a, usage)
    assert_priced(a, SNAPSHOT, usage, status="partial")
    assert why in a["genai_cost.status.detail"]


# --- complete streams ------------------------------------------------------------------------


def test_stream_sees_exactly_the_uninstrumented_events(span_exporter: Any) -> None:
    def run() -> list[dict[str, Any]]:
        with StubProvider() as fresh:
            # No SDK spans: a bare root span reporting the same stub id would make ours look
            # like a second report of that call to the processor.
            claude = anthropic.Anthropic(base_url=fresh.url, api_key="test", max_retries=0, open_telemetry=False)
            return [e.to_dict() for e in create_stream(claude)]

    with uninstrumented():
        bare = run()
    assert run() == bare
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.time_to_first_chunk"] > 0


def test_stream_usage_and_price(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", usage=RICH_USAGE, text=LONG)
    events = list(create_stream(client))

    span = only_span(span_exporter)
    a = attrs(span)
    assert a["gen_ai.response.id"] == events[0].message.id
    assert a["gen_ai.response.model"] == SNAPSHOT
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    usage = usage_of(wire_usage(stub))
    assert usage["output_tokens"] > 1 and usage["cache_write_1h_tokens"] == 2000
    assert_usage(a, usage)
    assert_priced(a, SNAPSHOT, usage)
    assert span.status.status_code is not StatusCode.ERROR


def test_stream_thinking(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    list(
        client.messages.create(
            model="claude-opus-4-5",
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=MESSAGES,
            stream=True,
        )
    )
    a = attrs(only_span(span_exporter))
    usage = usage_of(wire_usage(stub))
    assert usage["output_reasoning_tokens"] > 0
    assert_usage(a, usage)
    assert_priced(a, "claude-opus-4-5-20251101", usage)


async def test_async_stream(aclient: anthropic.AsyncAnthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", usage=RICH_USAGE)
    stream = await aclient.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES, stream=True)
    events = [e async for e in stream]
    assert events[-1].type == "message_stop"
    a = attrs(only_span(span_exporter))
    usage = usage_of(wire_usage(stub))
    assert_usage(a, usage)
    assert_priced(a, SNAPSHOT, usage)


def test_beta_stream(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    list(client.beta.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES, stream=True))
    assert_priced(attrs(only_span(span_exporter)), SNAPSHOT, usage_of(wire_usage(stub)))


# --- every way a raw stream can end early ----------------------------------------------------


def test_break_then_close(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", text=LONG)
    stream = create_stream(client)
    for event in stream:
        if event.type == "content_block_delta":
            break
    assert genai_spans(span_exporter) == []  # still open: the caller may read on
    stream.close()
    assert_partial(attrs(only_span(span_exporter)), stub, "closed the stream")


def test_context_manager_exit(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", text=LONG)
    with create_stream(client) as stream:
        next(iter(stream))
    assert_partial(attrs(only_span(span_exporter)), stub, "left the stream")


def test_caller_exception_in_the_loop(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", text=LONG)
    with pytest.raises(CallerError), create_stream(client) as stream:
        for _ in stream:
            raise CallerError
    span = only_span(span_exporter)
    assert span.status.status_code is not StatusCode.ERROR  # the provider call did not fail
    assert_partial(attrs(span), stub, "raised CallerError")


def test_server_error_mid_stream(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", text=LONG, fail_after_events=4)
    stream = create_stream(client)
    # Whatever the SDK raises for a dropped connection (httpx2.TransportError before anthropic 2.17,
    # APIConnectionError since) must reach the caller unchanged: not one of ours, named on the span.
    with pytest.raises(Exception) as caught:
        list(stream)
    assert not type(caught.value).__module__.startswith("genai_cost")
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.status.status_code is StatusCode.ERROR
    assert a["error.type"].endswith(type(caught.value).__name__)
    assert_partial(a, stub, "failed before it completed")


def test_error_event_mid_stream(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_err",
            "type": "message",
            "role": "assistant",
            "model": SNAPSHOT,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 321, "output_tokens": 1},
        },
    }
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    stub.enqueue("/v1/messages", sse_events=[start, error])
    with pytest.raises(anthropic.APIStatusError):
        list(create_stream(client))
    a = attrs(only_span(span_exporter))
    assert a["error.type"].startswith("anthropic.")
    assert_priced(a, SNAPSHOT, {"input_tokens": 321, "output_tokens": 1}, status="partial")


def test_never_consumed(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    stream = create_stream(client)
    del stream
    gc.collect()
    assert_unread(attrs(only_span(span_exporter)), "abandoned")


def test_ends_exactly_once(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    stream = create_stream(client)
    list(stream)
    stream.close()
    with stream:
        pass
    del stream
    gc.collect()
    assert only_span(span_exporter)


async def test_async_early_endings(aclient: anthropic.AsyncAnthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", text=LONG)
    stream = await aclient.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES, stream=True)
    async for _ in stream:
        break
    await stream.close()
    assert_partial(attrs(only_span(span_exporter)), stub, "closed the stream")

    span_exporter.clear()
    stub.enqueue("/v1/messages", text=LONG, fail_after_events=3)
    stream = await aclient.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES, stream=True)
    with pytest.raises(Exception) as caught:  # the dropped connection, as the SDK raises it
        async for _ in stream:
            pass
    assert not type(caught.value).__module__.startswith("genai_cost")
    assert attrs(only_span(span_exporter))["genai_cost.status"] == "partial"


# --- the .stream() helper ----------------------------------------------------------------------


def helper(client: anthropic.Anthropic, **kwargs: Any) -> Any:
    return client.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES, **kwargs)


def test_helper_get_final_message(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", usage=RICH_USAGE)
    with helper(client) as stream:
        message = stream.get_final_message()
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.id"] == message.id
    usage = usage_of(wire_usage(stub))
    assert usage_of(message.usage.to_dict()) == usage  # the helper's accumulated usage agrees
    assert_usage(a, usage)
    assert_priced(a, SNAPSHOT, usage)


def test_helper_text_stream(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", text=LONG)
    with helper(client) as stream:
        text = "".join(stream.text_stream)
    assert text == LONG
    assert_priced(attrs(only_span(span_exporter)), SNAPSHOT, usage_of(wire_usage(stub)))


def test_helper_events_match_uninstrumented(span_exporter: Any) -> None:
    def run() -> list[str]:
        with StubProvider() as fresh:
            # No SDK spans: a bare root span reporting the same stub id would make ours look
            # like a second report of that call to the processor.
            claude = anthropic.Anthropic(base_url=fresh.url, api_key="test", max_retries=0, open_telemetry=False)
            with helper(claude) as stream:
                return [e.type for e in stream]

    with uninstrumented():
        bare = run()
    assert run() == bare and "text" in bare
    assert only_span(span_exporter)


def test_helper_left_early(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", text=LONG)
    with helper(client) as stream:
        for _ in stream.text_stream:
            break
    assert_partial(attrs(only_span(span_exporter)), stub, "left the stream")


def test_helper_never_read(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    with helper(client):
        pass
    assert_unread(attrs(only_span(span_exporter)), "left the stream")


def test_helper_caller_exception(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", text=LONG)
    with pytest.raises(CallerError), helper(client) as stream:
        for _ in stream:
            raise CallerError
    assert_partial(attrs(only_span(span_exporter)), stub, "raised CallerError")


def test_helper_request_error(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", status=429)
    with pytest.raises(anthropic.RateLimitError), helper(client):
        pass
    span = only_span(span_exporter)
    assert attrs(span)["error.type"] == "anthropic.RateLimitError"
    assert span.status.status_code is StatusCode.ERROR


def test_beta_helper(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    with client.beta.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as stream:
        stream.until_done()
    assert_priced(attrs(only_span(span_exporter)), SNAPSHOT, usage_of(wire_usage(stub)))


async def test_async_helper(aclient: anthropic.AsyncAnthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", usage=RICH_USAGE)
    async with aclient.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as stream:
        message = await stream.get_final_message()
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.id"] == message.id
    assert_priced(a, SNAPSHOT, usage_of(wire_usage(stub)))

    span_exporter.clear()
    stub.enqueue("/v1/messages", text=LONG)
    async with aclient.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as stream:
        async for _ in stream.text_stream:
            break
    assert_partial(attrs(only_span(span_exporter)), stub, "left the stream")


async def test_vertex_stream(stub: StubProvider, span_exporter: Any) -> None:
    from test_anthropic_messages import VERTEX_MODEL, VERTEX_PATH, _vertex

    from genai_cost.testing.stub_server import SseEvent

    with StubProvider() as source:  # the stub's own Anthropic events, replayed on the Vertex path
        claude = anthropic.Anthropic(base_url=source.url, api_key="test", max_retries=0)
        list(claude.messages.create(model=SNAPSHOT, max_tokens=256, messages=MESSAGES, stream=True))
        events = source.last_request.response_body
    span_exporter.clear()

    stub.enqueue(f"{VERTEX_PATH}:streamRawPredict", sse_events=[SseEvent(json.dumps(e), e["type"]) for e in events])
    with _vertex(stub).messages.stream(model=VERTEX_MODEL, max_tokens=256, messages=MESSAGES) as stream:
        stream.get_final_message()
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.provider.name"] == "gcp.vertex_ai"
    assert_priced(a, VERTEX_MODEL, usage_of(wire_usage(stub)), provider="google")


async def test_bedrock_streams(stub: StubProvider, span_exporter: Any) -> None:
    """AnthropicBedrock streams arrive as AWS eventstream frames (the stub's Bedrock wire)."""
    model_id = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    credentials = {"aws_access_key": "AKIDEXAMPLE", "aws_secret_key": "secret", "aws_region": "us-east-1"}
    bedrock = anthropic.AnthropicBedrock(**credentials, base_url=stub.url, max_retries=0)
    abedrock = anthropic.AsyncAnthropicBedrock(**credentials, base_url=stub.url, max_retries=0)

    def sent_usage() -> dict[str, int]:
        return usage_of(wire_usage(stub))

    usages = []
    list(bedrock.messages.create(model=model_id, max_tokens=64, messages=MESSAGES, stream=True))
    usages.append(sent_usage())
    with bedrock.messages.stream(model=model_id, max_tokens=64, messages=MESSAGES) as stream:
        stream.get_final_message()
    usages.append(sent_usage())
    async with abedrock.messages.stream(model=model_id, max_tokens=64, messages=MESSAGES) as astream:
        await astream.get_final_message()
    usages.append(sent_usage())

    spans = genai_spans(span_exporter)
    assert len(spans) == 3
    for span, usage in zip(spans, usages, strict=True):
        a = attrs(span)
        assert stub.requests[0].path == f"/model/{model_id}/invoke-with-response-stream"
        assert a["gen_ai.provider.name"] == "aws.bedrock" and a["gen_ai.request.stream"] is True
        assert usage["output_tokens"] > 1
        assert_usage(a, usage)
        assert_priced(a, model_id, usage, provider="aws")


def test_stream_content_when_asked(
    client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    stub.enqueue("/v1/messages", text=LONG)
    list(create_stream(client))
    a = attrs(only_span(span_exporter))
    assert "Say this is a test" in a["gen_ai.input.messages"]
    output = json.loads(a["gen_ai.output.messages"])
    assert output == [{"role": "assistant", "parts": [{"type": "text", "content": LONG}], "finish_reason": "end_turn"}]


async def test_async_context_manager_and_caller_exception(
    aclient: anthropic.AsyncAnthropic, stub: StubProvider, span_exporter: Any
) -> None:
    stub.enqueue("/v1/messages", text=LONG)
    async with await aclient.messages.create(model=MODEL, max_tokens=256, messages=MESSAGES, stream=True) as stream:
        await stream.__anext__()
    assert_partial(attrs(only_span(span_exporter)), stub, "left the stream")

    span_exporter.clear()
    stub.enqueue("/v1/messages", text=LONG)
    with pytest.raises(CallerError):
        async with aclient.messages.stream(model=MODEL, max_tokens=256, messages=MESSAGES) as helper_stream:
            async for _ in helper_stream:
                raise CallerError
    assert_partial(attrs(only_span(span_exporter)), stub, "raised CallerError")
