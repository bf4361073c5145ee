"""Whole responses: chat (sync and async, tools, parse), fill-in-the-middle, agents and embeddings,
priced at genai-prices' own figure for the usage the server sent; errors; opt-in content."""

from __future__ import annotations

import json
from typing import Any

import pytest
from mistral_support import (
    API_KEY,
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
    no_content_capture,
    only_span,
    server_url,
    usage_of,
    wire_usage,
)
from opentelemetry.trace import StatusCode

from genai_cost.testing import StubProvider
from genai_cost.testing.mistral_wire import AGENT_MODEL

__all__ = ["client", "instrumented", "no_content_capture"]


def test_chat_complete(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    response = client.chat.complete(model=MODEL, messages=MESSAGES, max_tokens=64, temperature=0.3)
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == f"chat {MODEL}"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "mistral_ai"
    assert a["gen_ai.request.model"] == MODEL
    assert a["gen_ai.request.max_tokens"] == 64 and a["gen_ai.request.temperature"] == 0.3
    assert a["gen_ai.response.model"] == response.model
    assert a["gen_ai.response.id"] == response.id
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == stub.port
    assert "gen_ai.request.stream" not in a
    usage = usage_of(wire_usage(stub))
    assert_usage(a, usage)
    assert_priced(a, MODEL, usage)
    assert "gen_ai.input.messages" not in a  # content only when asked for
    assert API_KEY not in json.dumps(a)


# Prompt-cache hits (part or all of the prompt), long answers, empty answers, huge prompts: each
# priced as genai-prices prices it.
USAGE_SHAPES = [
    ("mistral-small-latest", 1, 0, 0),
    ("mistral-small-latest", 1234, 56, 0),
    ("mistral-small-latest", 5000, 300, 4096),
    ("mistral-large-2512", 2_000_000, 200_000, 0),
    ("mistral-large-2512", 64_000, 1, 64_000),
    ("codestral-2508", 900, 4000, 512),
    ("ministral-8b-2512", 17, 170_000, 16),
    ("magistral-medium", 33_333, 77_777, 0),
]


@pytest.mark.parametrize(("model", "prompt", "completion", "cached"), USAGE_SHAPES)
def test_many_usage_shapes_price_as_genai_prices(
    client: Any, stub: StubProvider, span_exporter: Any, model: str, prompt: int, completion: int, cached: int
) -> None:
    forced = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    stub.enqueue("/mistral/v1/chat/completions", usage=forced)
    client.chat.complete(model=model, messages=MESSAGES)
    usage = usage_of(wire_usage(stub))
    assert usage["input_tokens"] == prompt and usage.get("cache_read_tokens", 0) == cached
    a = attrs(only_span(span_exporter))
    assert_usage(a, usage)
    assert_priced(a, model, usage)


async def test_chat_complete_async(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    response = await client.chat.complete_async(model=MODEL, messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.id"] == response.id
    assert_priced(a, MODEL, usage_of(wire_usage(stub)))


def test_tool_call(client: Any, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    response = client.chat.complete(model=MODEL, messages=MESSAGES, tools=TOOLS, tool_choice="any")
    call = response.choices[0].message.tool_calls[0]
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    output = json.loads(a["gen_ai.output.messages"])
    assert output[0]["parts"] == [
        {"type": "tool_call", "id": call.id, "name": "get_weather", "arguments": json.loads(call.function.arguments)}
    ]
    assert_priced(a, MODEL, usage_of(wire_usage(stub)))


def test_parse_is_one_span(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    pydantic = pytest.importorskip("pydantic")
    if not hasattr(client.chat, "parse"):
        pytest.skip("this mistralai has no chat.parse")

    class Answer(pydantic.BaseModel):
        city: str

    stub.enqueue("/mistral/v1/chat/completions", text='{"city": "Paris"}')
    client.chat.parse(model=MODEL, messages=MESSAGES, response_format=Answer)
    assert_priced(attrs(only_span(span_exporter)), MODEL, usage_of(wire_usage(stub)))


def test_content_when_asked(
    client: Any, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    messages = [{"role": "system", "content": "Be brief."}, *MESSAGES]
    client.chat.complete(model=MODEL, messages=messages)
    a = attrs(only_span(span_exporter))
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say this is a test"}]}
    ]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "This is a test."}], "finish_reason": "stop"}
    ]


def test_fim(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    model = "codestral-2508"
    response = client.fim.complete(model=model, prompt="def add(a, b):", suffix="return c", max_tokens=32)
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == f"text_completion {model}"
    assert a["gen_ai.operation.name"] == "text_completion"
    assert a["gen_ai.response.id"] == response.id
    assert_priced(a, model, usage_of(wire_usage(stub)))


async def test_fim_async(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    await client.fim.complete_async(model="codestral-2508", prompt="def add(a, b):")
    assert_priced(attrs(only_span(span_exporter)), "codestral-2508", usage_of(wire_usage(stub)))


def test_agents_priced_by_the_answering_model(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    client.agents.complete(agent_id="ag_stub_1", messages=MESSAGES)
    span = only_span(span_exporter)
    a = attrs(span)
    assert a["gen_ai.operation.name"] == "invoke_agent"
    assert a["gen_ai.agent.id"] == "ag_stub_1"
    assert "gen_ai.request.model" not in a
    assert a["gen_ai.response.model"] == AGENT_MODEL
    assert_priced(a, AGENT_MODEL, usage_of(wire_usage(stub)))


async def test_agents_async(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    await client.agents.complete_async(agent_id="ag_stub_1", messages=MESSAGES)
    assert_priced(attrs(only_span(span_exporter)), AGENT_MODEL, usage_of(wire_usage(stub)))


@pytest.mark.parametrize("tokens", [1, 7_000, 1_500_000])
def test_embeddings(client: Any, stub: StubProvider, span_exporter: Any, tokens: int) -> None:
    stub.enqueue("/mistral/v1/embeddings", usage={"prompt_tokens": tokens, "total_tokens": tokens})
    response = client.embeddings.create(model="mistral-embed", inputs=["first text", "second text"])
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == "embeddings mistral-embed"
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.embeddings.dimension.count"] == len(response.data[0].embedding)
    assert a["gen_ai.usage.input_tokens"] == tokens and a["gen_ai.usage.output_tokens"] == 0
    assert_priced(a, "mistral-embed", {"input_tokens": tokens})


async def test_embeddings_async(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    await client.embeddings.create_async(model="mistral-embed", inputs="one text")
    assert_priced(attrs(only_span(span_exporter)), "mistral-embed", usage_of(wire_usage(stub)))


@pytest.mark.parametrize("status", [400, 401, 422, 429, 500])
def test_errors_reach_the_caller_unchanged(client: Any, stub: StubProvider, span_exporter: Any, status: int) -> None:
    stub.enqueue("/mistral/v1/chat/completions", status=status)
    with pytest.raises(Exception) as caught:
        client.chat.complete(model=MODEL, messages=MESSAGES)
    assert not type(caught.value).__module__.startswith("genai_cost")
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.status.status_code is StatusCode.ERROR
    assert a["error.type"].startswith("mistralai.") and a["error.type"].endswith(type(caught.value).__name__)
    assert a["genai_cost.status"] == "no_usage" and "genai_cost.amount" not in a


async def test_async_error(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/mistral/v1/embeddings", status=503)
    with pytest.raises(Exception) as caught:
        await client.embeddings.create_async(model="mistral-embed", inputs="x")
    assert not type(caught.value).__module__.startswith("genai_cost")
    assert attrs(only_span(span_exporter))["error.type"].startswith("mistralai.")


def test_unknown_model_is_not_free(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    client.chat.complete(model="my-fine-tune-of-mistral-xyz", messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "unknown_model" and "genai_cost.amount" not in a


def test_uninstrumented_sdk_makes_no_span(stub: StubProvider, span_exporter: Any) -> None:
    from mistral_support import uninstrumented

    with uninstrumented():
        bare = Mistral(api_key=API_KEY, server_url=server_url(stub))  # held: 1.x closes a collected client
        bare.chat.complete(model=MODEL, messages=MESSAGES)
    assert genai_spans(span_exporter) == []
