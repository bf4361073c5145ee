"""Whole responses: chat (sync and async, tools, raw), embeddings; prices checked against
genai-prices over many usage shapes; errors; opt-in content."""

from __future__ import annotations

import json
from typing import Any

import groq
import pytest
from groq_support import (
    API_KEY,
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


def test_chat(client: groq.Groq, stub: StubProvider, span_exporter: Any) -> None:
    response = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=64, seed=7)
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == f"chat {MODEL}"
    assert a["gen_ai.provider.name"] == "groq" and a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.max_tokens"] == 64 and a["gen_ai.request.seed"] == 7
    assert a["gen_ai.response.id"] == response.id and a["gen_ai.response.model"] == response.model
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == stub.port
    usage = usage_of(wire_usage(stub))
    assert_usage(a, usage)
    assert_priced(a, MODEL, usage)
    assert "gen_ai.input.messages" not in a and API_KEY not in json.dumps(a)


USAGE_SHAPES = [
    (MODEL, {"prompt_tokens": 1, "completion_tokens": 0}),
    (MODEL, {"prompt_tokens": 123_456, "completion_tokens": 7_890}),
    (
        CACHING_MODEL,
        {"prompt_tokens": 5000, "completion_tokens": 300, "prompt_tokens_details": {"cached_tokens": 4096}},
    ),
    (
        CACHING_MODEL,
        {
            "prompt_tokens": 900,
            "completion_tokens": 2000,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 1500},
        },
    ),
    (
        CACHING_MODEL,
        {"prompt_tokens": 64_000, "completion_tokens": 1, "prompt_tokens_details": {"cached_tokens": 64_000}},
    ),
    ("openai/gpt-oss-20b", {"prompt_tokens": 2_000_000, "completion_tokens": 100_000}),
    ("meta-llama/llama-4-scout-17b-16e-instruct", {"prompt_tokens": 17, "completion_tokens": 170_000}),
    ("llama-3.1-8b-instant", {"prompt_tokens": 3333, "completion_tokens": 4444}),
]


@pytest.mark.parametrize(("model", "forced"), USAGE_SHAPES)
def test_many_usage_shapes_price_as_genai_prices(
    client: groq.Groq, stub: StubProvider, span_exporter: Any, model: str, forced: dict[str, Any]
) -> None:
    stub.enqueue("/openai/v1/chat/completions", usage=forced)
    client.chat.completions.create(model=model, messages=MESSAGES)
    usage = usage_of(wire_usage(stub))
    assert usage["input_tokens"] == forced["prompt_tokens"]
    a = attrs(only_span(span_exporter))
    assert_usage(a, usage)
    assert_priced(a, model, usage)


async def test_chat_async(aclient: groq.AsyncGroq, stub: StubProvider, span_exporter: Any) -> None:
    response = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.id"] == response.id
    assert_priced(a, MODEL, usage_of(wire_usage(stub)))


def test_tool_call_and_content(
    client: groq.Groq, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    messages = [{"role": "system", "content": "Be brief."}, *MESSAGES]
    response = client.chat.completions.create(model=MODEL, messages=messages, tools=TOOLS, tool_choice="required")
    call = response.choices[0].message.tool_calls[0]
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say this is a test"}]}
    ]
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "tool_call", "id": call.id, "name": "get_weather", "arguments": json.loads(call.function.arguments)}
    ]
    assert_priced(a, MODEL, usage_of(wire_usage(stub)))


def test_raw_response(client: groq.Groq, stub: StubProvider, span_exporter: Any) -> None:
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.parse().choices[0].message.content
    assert_priced(attrs(only_span(span_exporter)), MODEL, usage_of(wire_usage(stub)))


def test_embeddings_are_traced_and_unpriced_not_free(
    client: groq.Groq, aclient: groq.AsyncGroq, stub: StubProvider, span_exporter: Any
) -> None:
    response = client.embeddings.create(model="nomic-embed-text-v1_5", input=["one", "two"])
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.embeddings.dimension.count"] == len(response.data[0].embedding)
    assert a["gen_ai.usage.input_tokens"] == response.usage.prompt_tokens
    # genai-prices has no Groq embedding price: unknown, never $0.
    assert a["genai_cost.status"] == "unknown_model" and "genai_cost.amount" not in a


async def test_embeddings_async(aclient: groq.AsyncGroq, stub: StubProvider, span_exporter: Any) -> None:
    await aclient.embeddings.create(model="nomic-embed-text-v1_5", input="one")
    assert attrs(only_span(span_exporter))["gen_ai.operation.name"] == "embeddings"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, groq.BadRequestError),
        (401, groq.AuthenticationError),
        (429, groq.RateLimitError),
        (500, groq.InternalServerError),
    ],
)
def test_errors_reach_the_caller_unchanged(
    client: groq.Groq, stub: StubProvider, span_exporter: Any, status: int, error: type
) -> None:
    stub.enqueue("/openai/v1/chat/completions", status=status)
    with pytest.raises(error):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.status.status_code is StatusCode.ERROR
    assert a["error.type"] == f"groq.{error.__name__}"
    assert a["genai_cost.status"] == "no_usage" and "genai_cost.amount" not in a


def test_uninstrumented_sdk_makes_no_span(stub: StubProvider, span_exporter: Any) -> None:
    with uninstrumented():
        groq.Groq(api_key=API_KEY, base_url=stub.url, max_retries=0).chat.completions.create(
            model=MODEL, messages=MESSAGES
        )
    assert genai_spans(span_exporter) == []


def test_entry_point_names_the_instrumentor() -> None:
    from importlib.metadata import entry_points

    from genai_cost.instrumentation.groq import GroqInstrumentor

    [entry_point] = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "genai_cost_groq"]
    assert entry_point.load() is GroqInstrumentor
