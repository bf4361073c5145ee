"""Streams: v2 ``chat_stream`` (SSE; usage on ``message-end``) and v1 ``chat_stream`` /
``generate_stream`` (JSON lines; ``stream-end`` carries the response), sync and async. Cohere's
stream methods are generators -- nothing is sent until they are read -- and every way a stream can
end ends its span exactly once."""

from __future__ import annotations

import contextlib
import gc
import json
from typing import Any

import cohere
import pytest
from cohere_support import (
    MESSAGES,
    MODEL,
    TOOLS,
    V1_MODEL,
    assert_priced,
    assert_usage,
    attrs,
    av1,
    av2,
    make,
    billed_units,
    genai_spans,
    instrumented,
    no_content_capture,
    only_span,
    uninstrumented,
    usage_of,
    v1,
    v2,
)
from opentelemetry.trace import StatusCode

from genai_cost.testing import StubProvider

__all__ = ["av1", "av2", "instrumented", "no_content_capture", "v1", "v2"]

LONG = "one two three four five six seven eight nine ten eleven twelve"


class CallerError(Exception):
    pass


def assert_unpriced_partial(a: dict[str, Any], why: str) -> None:
    assert a["genai_cost.status"] == "no_usage"
    assert "genai_cost.amount" not in a and "gen_ai.usage.input_tokens" not in a
    assert why in a["genai_cost.status.detail"]


def test_v2_stream_sees_exactly_the_uninstrumented_events(span_exporter: Any) -> None:
    def run() -> list[Any]:
        with StubProvider() as fresh:
            client = make(cohere.ClientV2, fresh)
            return [e.dict() for e in client.chat_stream(model=MODEL, messages=MESSAGES)]

    with uninstrumented():
        bare = run()
    assert run() == bare
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.request.stream"] is True and a["gen_ai.response.time_to_first_chunk"] > 0


def test_v2_stream_usage_and_price(v2: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/cohere/v2/chat", usage={"input_tokens": 4321, "output_tokens": 12}, text=LONG)
    events = list(v2.chat_stream(model=MODEL, messages=MESSAGES))
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.id"] == events[0].id
    assert a["gen_ai.response.finish_reasons"] == ("COMPLETE",)
    usage = usage_of(billed_units(stub))
    assert usage == {"input_tokens": 4321, "output_tokens": 12}
    assert_usage(a, usage)
    assert_priced(a, MODEL, usage)


def test_v2_stream_content_and_tools(
    v2: Any, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    stub.enqueue("/cohere/v2/chat", text=LONG)
    list(v2.chat_stream(model=MODEL, messages=MESSAGES))
    list(v2.chat_stream(model=MODEL, messages=MESSAGES, tools=TOOLS))
    text, tool = (json.loads(attrs(s)["gen_ai.output.messages"]) for s in genai_spans(span_exporter))
    assert text[0]["parts"] == [{"type": "text", "content": LONG}]
    assert tool[0]["finish_reason"] == "TOOL_CALL"
    assert tool[0]["parts"][0]["name"] == "get_weather" and tool[0]["parts"][0]["arguments"] == {"city": "stub"}


async def test_v2_async_stream(av2: Any, stub: StubProvider, span_exporter: Any) -> None:
    events = [e async for e in av2.chat_stream(model=MODEL, messages=MESSAGES)]
    assert events[-1].type == "message-end"
    assert_priced(attrs(only_span(span_exporter)), MODEL, usage_of(billed_units(stub)))


def test_v1_chat_stream(v1: Any, stub: StubProvider, span_exporter: Any) -> None:
    events = list(v1.chat_stream(model=V1_MODEL, message="hi"))
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.id"] == events[-1].response.response_id
    assert_priced(a, V1_MODEL, usage_of(billed_units(stub)))


async def test_v1_async_chat_stream(av1: Any, stub: StubProvider, span_exporter: Any) -> None:
    [e async for e in av1.chat_stream(model=V1_MODEL, message="hi")]
    assert_priced(attrs(only_span(span_exporter)), V1_MODEL, usage_of(billed_units(stub)))


def test_v1_generate_stream_says_it_reports_no_usage(v1: Any, stub: StubProvider, span_exporter: Any) -> None:
    list(v1.generate_stream(model="command", prompt="hi"))
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.operation.name"] == "text_completion"
    assert a["genai_cost.status"] == "no_usage" and "generate stream" in a["genai_cost.status.detail"]


def test_nothing_is_sent_until_the_stream_is_read(v2: Any, stub: StubProvider, span_exporter: Any) -> None:
    stream = v2.chat_stream(model=MODEL, messages=MESSAGES)
    assert stub.requests == []
    del stream
    gc.collect()
    assert_unpriced_partial(attrs(only_span(span_exporter)), "abandoned")


def test_break_then_close(v2: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/cohere/v2/chat", text=LONG)
    stream = v2.chat_stream(model=MODEL, messages=MESSAGES)
    for _ in stream:
        break
    assert genai_spans(span_exporter) == []
    with contextlib.suppress(RuntimeError):  # cohere 5.9's stream generators ignore GeneratorExit
        stream.close()
    assert_unpriced_partial(attrs(only_span(span_exporter)), "closed the stream")


def test_caller_exception_in_the_loop(v1: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/cohere/v1/chat", text=LONG)
    with pytest.raises(CallerError):
        for _ in v1.chat_stream(model=V1_MODEL, message="hi"):
            raise CallerError
    gc.collect()
    span = only_span(span_exporter)
    assert span.status.status_code is not StatusCode.ERROR
    assert attrs(span)["genai_cost.status"] == "no_usage"


@pytest.mark.parametrize("path", ["/cohere/v2/chat", "/cohere/v1/chat"])
def test_server_error_mid_stream(v1: Any, v2: Any, stub: StubProvider, span_exporter: Any, path: str) -> None:
    stub.enqueue(path, text=LONG, fail_after_events=3)
    with pytest.raises(Exception) as caught:
        if "v2" in path:
            list(v2.chat_stream(model=MODEL, messages=MESSAGES))
        else:
            list(v1.chat_stream(model=V1_MODEL, message="hi"))
    assert not type(caught.value).__module__.startswith("genai_cost")
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"].endswith(type(caught.value).__name__)
    assert_unpriced_partial(attrs(span), "failed before it completed")


def test_http_error_on_first_read(v2: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/cohere/v2/chat", status=429)
    stream = v2.chat_stream(model=MODEL, messages=MESSAGES)
    with pytest.raises(cohere.TooManyRequestsError):
        next(iter(stream))
    a = attrs(only_span(span_exporter))
    assert a["error.type"] == "cohere.TooManyRequestsError"


async def test_async_early_endings(av2: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/cohere/v2/chat", text=LONG)
    stream = av2.chat_stream(model=MODEL, messages=MESSAGES)
    async for _ in stream:
        break
    with contextlib.suppress(RuntimeError):  # as above
        await stream.aclose()
    assert_unpriced_partial(attrs(only_span(span_exporter)), "closed the stream")

    span_exporter.clear()
    stub.enqueue("/cohere/v2/chat", text=LONG, fail_after_events=3)
    with pytest.raises(Exception) as caught:
        async for _ in av2.chat_stream(model=MODEL, messages=MESSAGES):
            pass
    assert not type(caught.value).__module__.startswith("genai_cost")
    assert_unpriced_partial(attrs(only_span(span_exporter)), "failed before it completed")
