"""Non-streaming calls: messages.create / parse / count_tokens (and beta), sync and async, the
Bedrock and Vertex clients, errors and unknown models -- each span priced exactly as genai-prices
prices the usage the server sent."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pydantic
import pytest
from anthropic_support import (
    API_KEY,
    MESSAGES,
    MODEL,
    RICH_USAGE,
    SNAPSHOT,
    aclient,
    assert_priced,
    assert_usage,
    attrs,
    genai_spans,
    client,
    instrumented,
    no_content_capture,
    only_span,
    response_usage,
    uninstrumented,
    usage_of,
    wire_usage,
)
from opentelemetry.trace import StatusCode

from genai_cost.testing import StubProvider

__all__ = ["aclient", "client", "instrumented", "no_content_capture"]


def test_create_span_contract_and_price(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", usage=RICH_USAGE)
    message = client.messages.create(model=MODEL, max_tokens=64, stop_sequences=["END"], messages=MESSAGES)

    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == f"chat {MODEL}"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "anthropic"
    assert a["gen_ai.request.model"] == MODEL
    assert a["gen_ai.response.model"] == SNAPSHOT == message.model
    assert a["gen_ai.response.id"] == message.id
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert a["gen_ai.request.max_tokens"] == 64
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == stub.port
    usage = usage_of(wire_usage(stub))
    # Semconv input includes cache reads and writes; each part is charged at its own rate.
    assert a["gen_ai.usage.input_tokens"] == 1200 + 4000 + 3000
    assert usage["cache_write_1h_tokens"] == 2000 and usage["web_searches"] == 2
    assert_usage(a, usage)
    assert a["anthropic.usage.cache_creation.ephemeral_5m_input_tokens"] == 1000
    assert a["anthropic.usage.cache_creation.ephemeral_1h_input_tokens"] == 2000
    assert a["anthropic.usage.server_tool_use.web_search_requests"] == 2
    assert a["anthropic.usage.server_tool_use.web_fetch_requests"] == 3
    assert_priced(a, SNAPSHOT, usage)
    assert a["genai_cost.tools"] > 0 and a["genai_cost.cache_write"] > 0 and a["genai_cost.savings"] > 0
    parts = ("input", "output", "cache_read", "cache_write", "tools")
    assert sum(a.get(f"genai_cost.{p}", 0.0) for p in parts) == pytest.approx(a["genai_cost.amount"], abs=1e-12)
    assert span.status.status_code is not StatusCode.ERROR


def test_one_hour_writes_cost_more_than_five_minute_ones(
    client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any
) -> None:
    def cost(creation: dict[str, int]) -> float:
        span_exporter.clear()
        stub.enqueue("/v1/messages", usage={"cache_creation_input_tokens": 3000, "cache_creation": creation})
        client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        a = attrs(only_span(span_exporter))
        assert_priced(a, SNAPSHOT, usage_of(wire_usage(stub)))
        return float(a["genai_cost.cache_write"])

    assert cost({"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 3000}) > cost(
        {"ephemeral_5m_input_tokens": 3000, "ephemeral_1h_input_tokens": 0}
    )


def test_thinking_tokens_are_output(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    client.messages.create(
        model="claude-opus-4-5",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=MESSAGES,
    )
    a = attrs(only_span(span_exporter))
    usage = usage_of(wire_usage(stub))
    assert usage["output_reasoning_tokens"] > 0
    assert a["gen_ai.usage.reasoning.output_tokens"] == usage["output_reasoning_tokens"]
    assert_usage(a, usage)
    assert_priced(a, "claude-opus-4-5-20251101", usage)


async def test_async_create(aclient: anthropic.AsyncAnthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", usage=RICH_USAGE)
    message = await aclient.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.id"] == message.id
    usage = usage_of(wire_usage(stub))
    assert_usage(a, usage)
    assert_priced(a, SNAPSHOT, usage)


class Answer(pydantic.BaseModel):
    answer: str


def test_parse(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", text=json.dumps({"answer": "42"}))
    parsed = client.messages.parse(model=MODEL, max_tokens=64, messages=MESSAGES, output_format=Answer)
    assert parsed.parsed_output == Answer(answer="42")
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.output.type"] == "json"
    assert_priced(a, SNAPSHOT, usage_of(wire_usage(stub)))


async def test_beta_create_sync_and_async(
    client: anthropic.Anthropic, aclient: anthropic.AsyncAnthropic, stub: StubProvider, span_exporter: Any
) -> None:
    client.beta.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, betas=["context-1m-2025-08-07"])
    first = usage_of(wire_usage(stub))
    await aclient.beta.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    second = usage_of(wire_usage(stub))
    spans = [s for s in span_exporter.get_finished_spans() if s.instrumentation_scope.name == "genai_cost"]
    assert len(spans) == 2
    assert_priced(attrs(spans[0]), SNAPSHOT, first)
    assert_priced(attrs(spans[1]), SNAPSHOT, second)


async def test_count_tokens_has_a_span_and_no_price(
    client: anthropic.Anthropic, aclient: anthropic.AsyncAnthropic, stub: StubProvider, span_exporter: Any
) -> None:
    counted = client.messages.count_tokens(model=MODEL, messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.operation.name"] == "count_tokens"
    assert a["anthropic.message.count_tokens.input_tokens"] == counted.input_tokens
    assert a["genai_cost.status"] == "no_usage"
    assert "genai_cost.amount" not in a and "gen_ai.usage.input_tokens" not in a
    span_exporter.clear()
    await aclient.beta.messages.count_tokens(model=MODEL, messages=MESSAGES)
    assert attrs(only_span(span_exporter))["genai_cost.status"] == "no_usage"


def test_raw_response(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    assert raw.parse().id == raw.parse().id  # the caller's parse is untouched
    assert_priced(attrs(only_span(span_exporter)), SNAPSHOT, usage_of(wire_usage(stub)))


def test_unknown_model_is_not_free(client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any) -> None:
    client.messages.create(model="claude-from-the-future-9", max_tokens=64, messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "unknown_model"
    assert "genai_cost.amount" not in a and "gen_ai.usage.cost" not in a
    assert a["gen_ai.usage.input_tokens"] > 0  # the usage is still there, just not priced


@pytest.mark.parametrize(
    ("status", "error", "error_type"),
    [
        (400, anthropic.BadRequestError, "anthropic.BadRequestError"),
        (404, anthropic.NotFoundError, "anthropic.NotFoundError"),
        (429, anthropic.RateLimitError, "anthropic.RateLimitError"),
        (500, anthropic.InternalServerError, "anthropic.InternalServerError"),
        (529, anthropic.OverloadedError, "anthropic.OverloadedError"),
    ],
)
def test_errors_reach_the_caller_unchanged(
    client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any, status: int, error: type, error_type: str
) -> None:
    def call() -> BaseException:
        stub.enqueue("/v1/messages", status=status)
        with pytest.raises(error) as caught:
            client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        return caught.value

    with uninstrumented():
        bare = call()
    ours = call()
    assert type(ours) is type(bare) and str(ours) == str(bare) and ours.status_code == status
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.status.status_code is StatusCode.ERROR
    assert a["error.type"] == error_type
    assert a["genai_cost.status"] == "no_usage" and "genai_cost.amount" not in a


async def test_async_rate_limit(aclient: anthropic.AsyncAnthropic, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", status=429)
    with pytest.raises(anthropic.RateLimitError):
        await aclient.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    assert a["error.type"] == "anthropic.RateLimitError"


def test_no_content_or_key_unless_asked(client: anthropic.Anthropic, span_exporter: Any) -> None:
    client.messages.create(model=MODEL, max_tokens=64, system="be brief", messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    text = repr(a)
    assert "Say this is a test" not in text and "be brief" not in text and API_KEY not in text
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a


def test_content_when_asked(client: anthropic.Anthropic, span_exporter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    client.messages.create(model=MODEL, max_tokens=64, system="be brief", messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    assert "Say this is a test" in a["gen_ai.input.messages"]
    assert a["gen_ai.system_instructions"] == "be brief"
    output = json.loads(a["gen_ai.output.messages"])
    assert output[0]["parts"][0] == {"type": "text", "content": "This is a test."}
    assert API_KEY not in repr(a)


# --- Bedrock and Vertex clients: same resources, priced as aws.bedrock / gcp.vertex_ai ---------


def _message_json(model: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "msg_bdrk_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": "This is a test."}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"output_tokens": 5, **usage},
    }


@pytest.mark.parametrize(
    ("model_id", "price_id"),
    [
        ("global.anthropic.claude-haiku-4-5-20251001-v1:0", "global.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("us.anthropic.claude-haiku-4-5-20251001-v1:0", "us.anthropic.claude-haiku-4-5-20251001-v1:0"),
        ("anthropic.claude-haiku-4-5-20251001-v1:0", "anthropic.claude-haiku-4-5-20251001-v1:0"),
    ],
)
def test_bedrock_client(stub: StubProvider, span_exporter: Any, model_id: str, price_id: str) -> None:
    usage = {"input_tokens": 900, "cache_read_input_tokens": 2000}
    stub.enqueue(f"/model/{model_id}/invoke", json=_message_json("claude-haiku-4-5-20251001", usage))
    bedrock = anthropic.AnthropicBedrock(
        aws_access_key="AKIDEXAMPLE", aws_secret_key="secret", aws_region="us-east-1", base_url=stub.url, max_retries=0
    )
    bedrock.messages.create(model=model_id, max_tokens=64, messages=MESSAGES)

    assert stub.last_request.headers["authorization"].startswith("AWS4-HMAC-SHA256")  # real signing ran
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.provider.name"] == "aws.bedrock"
    assert a["gen_ai.request.model"] == model_id
    assert a["gen_ai.response.model"] == "claude-haiku-4-5-20251001"
    # Priced by the inference profile the request named: global and regional prices differ.
    assert_priced(a, price_id, usage_of(_message_json("", usage)["usage"]), provider="aws")


def _vertex(stub: StubProvider, is_async: bool = False) -> Any:
    cls = anthropic.AsyncAnthropicVertex if is_async else anthropic.AnthropicVertex
    return cls(region="us-east5", project_id="proj", access_token="ya29.test", base_url=f"{stub.url}/v1", max_retries=0)


VERTEX_MODEL = "claude-haiku-4-5@20251001"
VERTEX_PATH = f"/v1/projects/proj/locations/us-east5/publishers/anthropic/models/{VERTEX_MODEL}"


async def test_vertex_client(stub: StubProvider, span_exporter: Any) -> None:
    usage = {"input_tokens": 700, "cache_creation_input_tokens": 300}
    stub.enqueue(f"{VERTEX_PATH}:rawPredict", json=_message_json("claude-haiku-4-5-20251001", usage))
    stub.enqueue(f"{VERTEX_PATH}:rawPredict", json=_message_json("claude-haiku-4-5-20251001", usage))
    _vertex(stub).messages.create(model=VERTEX_MODEL, max_tokens=64, messages=MESSAGES)
    await _vertex(stub, is_async=True).messages.create(model=VERTEX_MODEL, max_tokens=64, messages=MESSAGES)

    spans = [s for s in span_exporter.get_finished_spans() if s.instrumentation_scope.name == "genai_cost"]
    assert len(spans) == 2
    for span in spans:
        a = attrs(span)
        assert a["gen_ai.provider.name"] == "gcp.vertex_ai"
        assert a["gen_ai.request.model"] == VERTEX_MODEL
        assert_priced(a, VERTEX_MODEL, usage_of(_message_json("", usage)["usage"]), provider="google")


def test_malformed_usage_is_invalid_not_free(
    client: anthropic.Anthropic, stub: StubProvider, span_exporter: Any
) -> None:
    message = _message_json(SNAPSHOT, {"input_tokens": -5})
    stub.enqueue("/v1/messages", json=message)
    assert client.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES).usage.input_tokens == -5
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "invalid_usage"
    assert "input_tokens" in a["genai_cost.status.detail"]
    assert "genai_cost.amount" not in a and "gen_ai.usage.input_tokens" not in a


@pytest.mark.parametrize("stream", [False, True])
def test_beta_tool_runner_prices_every_round_trip(stub: StubProvider, span_exporter: Any, stream: bool) -> None:
    @anthropic.beta_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    claude = anthropic.Anthropic(base_url=stub.url, api_key="test", max_retries=0, open_telemetry=False)
    runner = claude.beta.messages.tool_runner(
        model=MODEL, max_tokens=200, tools=[get_weather], messages=MESSAGES, stream=stream
    )
    stops = [(item.get_final_message() if stream else item).stop_reason for item in runner]
    assert stops == ["tool_use", "end_turn"]
    spans = genai_spans(span_exporter)
    assert len(spans) == len(stub.requests) == 2  # the tool call's round trip and the answer
    for span, request in zip(spans, stub.requests, strict=True):
        assert_priced(attrs(span), SNAPSHOT, usage_of(response_usage(request.response_body)))
