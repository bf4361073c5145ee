"""generate_content_stream: every way a stream can end ends its span exactly once, with the usage
seen so far (Gemini's chunks carry the cumulative usage) and a partial status when cut short."""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest
from gemini_support import (
    PROMPT,
    assert_priced,
    assert_usage,
    attrs,
    client,
    gemini_client,
    genai_spans,
    instrumented,
    model_path,
    only_span,
    provider_of,
)
from google import genai
from google.genai import errors
from opentelemetry.trace import StatusCode

from genai_cost.testing import StubProvider

__all__ = ["client", "instrumented"]

LONG = "one two three four five six seven eight nine ten"
MODEL = "gemini-2.5-flash"


class CallerError(Exception):
    pass


def chunks_sent(stub: StubProvider) -> list[dict[str, Any]]:
    return stub.last_request.response_body  # type: ignore[no-any-return]


def stream_path(client: genai.Client) -> str:
    return model_path(client, MODEL, "streamGenerateContent")


def test_exhausted_stream_is_priced_from_the_last_chunk(
    client: genai.Client, stub: StubProvider, span_exporter: Any
) -> None:
    texts = [c.text for c in client.models.generate_content_stream(model=MODEL, contents=PROMPT)]
    assert "".join(texts) == "This is a test."
    span = only_span(span_exporter)
    a = attrs(span)
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.provider.name"] == provider_of(client)
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["gen_ai.response.time_to_first_chunk"] >= 0
    last = chunks_sent(stub)[-1]
    assert_usage(span, last["usageMetadata"])
    assert_priced(span, last, MODEL)
    assert "genai_cost.status.detail" not in a


async def test_async_exhausted_stream(client: genai.Client, stub: StubProvider, span_exporter: Any) -> None:
    texts = [c.text async for c in await client.aio.models.generate_content_stream(model=MODEL, contents=PROMPT)]
    assert "".join(texts) == "This is a test."
    span = only_span(span_exporter)
    assert_priced(span, chunks_sent(stub)[-1], MODEL)
    assert attrs(span)["genai_cost.status"] == "priced"


def test_caller_sees_the_same_chunks_as_without_us(span_exporter: Any) -> None:
    from gemini_support import instrument

    from genai_cost.instrumentation.google_genai import GoogleGenAIInstrumentor

    def run() -> list[dict[str, Any]]:
        with StubProvider() as fresh:
            fresh_client = gemini_client(fresh)
            chunks = [c.to_json_dict() for c in fresh_client.models.generate_content_stream(model=MODEL, contents=LONG)]
        for chunk in chunks:
            chunk.pop("sdk_http_response")  # Date headers differ
        return chunks

    with_us = run()
    GoogleGenAIInstrumentor().uninstrument()
    try:
        without = run()
    finally:
        instrument()
    assert with_us == without


# --- cut short -------------------------------------------------------------------------------


def assert_partial(span: Any, usage_of: dict[str, Any], why: str) -> None:
    a = attrs(span)
    assert a["genai_cost.status"] == "partial"
    assert why in a["genai_cost.status.detail"]
    assert_usage(span, usage_of["usageMetadata"])
    assert a["genai_cost.amount"] > 0  # what was seen is still priced


def test_break_then_close_ends_the_span_with_the_usage_seen(stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    stub.enqueue(stream_path(client), text=LONG)
    stream = client.models.generate_content_stream(model=MODEL, contents=PROMPT)
    for index, _ in enumerate(stream):
        if index == 2:
            break
    assert genai_spans(span_exporter) == []  # the caller still holds the stream
    stream.close()
    span = only_span(span_exporter)
    assert_partial(span, chunks_sent(stub)[2], "before it completed")


def test_a_stream_dropped_mid_way_ends_once(stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    stub.enqueue(stream_path(client), text=LONG)
    for index, _ in enumerate(client.models.generate_content_stream(model=MODEL, contents=PROMPT)):
        if index == 0:
            break
    gc.collect()
    span = only_span(span_exporter)
    assert_partial(span, chunks_sent(stub)[0], "before it completed")


def test_caller_exception_in_the_loop(stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    stub.enqueue(stream_path(client), text=LONG)

    def consume() -> None:
        for index, _ in enumerate(client.models.generate_content_stream(model=MODEL, contents=PROMPT)):
            if index == 1:
                raise CallerError("boom")

    with pytest.raises(CallerError):
        consume()
    gc.collect()
    span = only_span(span_exporter)
    assert_partial(span, chunks_sent(stub)[1], "before it completed")
    assert "error.type" not in attrs(span)  # the caller's error is not the provider's


def test_server_drops_the_connection_mid_stream(stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    stub.enqueue(stream_path(client), text=LONG, fail_after_events=3)
    seen = []
    with pytest.raises(Exception) as caught:  # whatever the SDK raises reaches the caller
        for chunk in client.models.generate_content_stream(model=MODEL, contents=PROMPT):
            seen.append(chunk)
    assert len(seen) == 3
    span = only_span(span_exporter)
    a = attrs(span)
    assert a["error.type"].endswith(type(caught.value).__name__)
    assert span.status.status_code is StatusCode.ERROR
    assert_partial(span, chunks_sent(stub)[2], "the stream failed")


def test_never_consumed_stream_sends_nothing_and_bills_nothing(stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    stream = client.models.generate_content_stream(model=MODEL, contents=PROMPT)
    del stream
    gc.collect()
    assert stub.requests == []  # the SDK sends the request on the first next()
    assert genai_spans(span_exporter) == []


async def test_async_break_and_aclose(stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    stub.enqueue(stream_path(client), text=LONG)
    stream = await client.aio.models.generate_content_stream(model=MODEL, contents=PROMPT)
    async for index, _ in _aenumerate(stream):
        if index == 1:
            break
    await stream.aclose()
    # The SDK's inner async generators are finalised by the event loop (asyncio's asyncgen hook
    # schedules their aclose()), so the span ends on the loop's next turns, not synchronously.
    gc.collect()
    for _ in range(3):
        await asyncio.sleep(0)
    span = only_span(span_exporter)
    assert_partial(span, chunks_sent(stub)[1], "before it completed")


async def test_async_server_drop(stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    stub.enqueue(stream_path(client), text=LONG, fail_after_events=2)
    with pytest.raises(Exception):  # noqa: B017 - whatever the SDK raises reaches the caller
        async for _ in await client.aio.models.generate_content_stream(model=MODEL, contents=PROMPT):
            pass
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert_partial(span, chunks_sent(stub)[1], "the stream failed")


async def _aenumerate(stream: Any) -> Any:
    index = 0
    async for item in stream:
        yield index, item
        index += 1


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "error_class"), [(429, errors.ClientError), (503, errors.ServerError)])
def test_error_status_before_the_stream(
    client: genai.Client, stub: StubProvider, span_exporter: Any, status: int, error_class: type
) -> None:
    stub.enqueue(stream_path(client), status=status)
    with pytest.raises(error_class) as caught:
        list(client.models.generate_content_stream(model=MODEL, contents=PROMPT))
    assert type(caught.value) is error_class and caught.value.code == status
    span = only_span(span_exporter)
    assert attrs(span)["error.type"] == f"google.genai.errors.{error_class.__name__}"
    assert span.status.status_code is StatusCode.ERROR
    assert "genai_cost.amount" not in attrs(span)


async def test_async_error_status_before_the_stream(
    client: genai.Client, stub: StubProvider, span_exporter: Any
) -> None:
    stub.enqueue(stream_path(client), status=429)
    stream = await client.aio.models.generate_content_stream(model=MODEL, contents=PROMPT)
    with pytest.raises(errors.ClientError):  # the request goes out on the first __anext__
        await stream.__anext__()
    span = only_span(span_exporter)
    assert attrs(span)["error.type"] == "google.genai.errors.ClientError"
    assert span.status.status_code is StatusCode.ERROR


def test_unknown_model_stream(stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    list(client.models.generate_content_stream(model="my-tuned-model-7", contents=PROMPT))
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "unknown_model"
    assert "genai_cost.amount" not in a


async def test_async_never_consumed_stream_sends_nothing(stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    stream = await client.aio.models.generate_content_stream(model=MODEL, contents=PROMPT)
    del stream
    gc.collect()
    await asyncio.sleep(0)
    assert stub.requests == []  # the request goes out on the first __anext__
    assert genai_spans(span_exporter) == []
