"""chat.completions create/parse through the real openai SDK against the local stand-in."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from openai_support import (
    API_KEY,
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
    oracle,
)
from opentelemetry.trace import StatusCode
from pydantic import BaseModel

from conftest import metric_points
from genai_cost.testing import StubProvider

__all__ = ["aclient", "client", "instrumented", "no_content_capture"]

CACHED_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "prompt_tokens_details": {"cached_tokens": 1024, "cache_write_tokens": 100, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 100, "audio_tokens": 0},
}
PARAMS = {
    "max_completion_tokens": 50,
    "temperature": 0.5,
    "top_p": 0.9,
    "seed": 42,
    "stop": "END",
    "n": 2,
    "frequency_penalty": 0.1,
    "presence_penalty": 0.2,
    "response_format": {"type": "json_object"},
    "service_tier": "default",
}


def check_chat_span(span_attributes: dict[str, Any], stub: StubProvider, model: str = "gpt-4o-mini") -> None:
    sent = stub.last_request.response_body
    assert span_attributes["gen_ai.operation.name"] == "chat"
    assert span_attributes["gen_ai.provider.name"] == "openai"
    assert span_attributes["gen_ai.request.model"] == model
    assert span_attributes["gen_ai.response.model"] == sent["model"]
    assert span_attributes["gen_ai.response.id"] == sent["id"]
    assert span_attributes["server.address"] == "127.0.0.1"
    assert span_attributes["server.port"] == stub.port
    assert span_attributes["openai.api.type"] == "chat_completions"
    usage = chat_usage_of(sent["usage"])
    assert_usage(span_attributes, usage)
    assert_priced(span_attributes, sent["model"], usage)


def test_create(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, **PARAMS)

    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == "chat gpt-4o-mini"
    check_chat_span(a, stub)
    assert a["gen_ai.response.finish_reasons"] == ("stop", "stop")
    assert a["gen_ai.request.max_tokens"] == 50
    assert a["gen_ai.request.temperature"] == 0.5
    assert a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.seed"] == 42
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["gen_ai.request.choice.count"] == 2
    assert a["gen_ai.request.frequency_penalty"] == 0.1
    assert a["gen_ai.request.presence_penalty"] == 0.2
    assert a["gen_ai.output.type"] == "json"
    assert a["openai.request.service_tier"] == "default"
    assert a["openai.response.service_tier"] == "default"
    assert "gen_ai.request.stream" not in a
    assert a["genai_cost.price.source"].startswith("genai-prices@")
    assert completion.usage is not None and a["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens
    assert span.status.status_code is StatusCode.UNSET


async def test_create_async(aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any) -> None:
    await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=7)

    span = only_span(span_exporter)
    assert span.name == "chat gpt-4o-mini"
    check_chat_span(attrs(span), stub)
    assert attrs(span)["gen_ai.request.max_tokens"] == 7


def test_cached_reasoning_and_cache_write_tokens(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/chat/completions", usage=CACHED_USAGE)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    a = attrs(only_span(span_exporter))
    assert a["gen_ai.usage.input_tokens"] == 1200  # inclusive of cache reads and writes
    assert a["gen_ai.usage.output_tokens"] == 300  # inclusive of reasoning
    assert a["gen_ai.usage.cache_read.input_tokens"] == 1024
    assert a["gen_ai.usage.cache_write.input_tokens"] == 100
    assert a["gen_ai.usage.reasoning.output_tokens"] == 100
    usage = chat_usage_of(CACHED_USAGE)
    assert_priced(a, "gpt-4o-mini-2024-07-18", usage)
    # The cached part is cheaper: pricing all 1200 as fresh input would differ.
    assert a["genai_cost.amount"] != pytest.approx(
        oracle("gpt-4o-mini-2024-07-18", {"input_tokens": 1200, "output_tokens": 300}), abs=1e-9
    )
    assert a["genai_cost.cache_read"] > 0


def test_service_tier_of_the_response_selects_the_price(
    client: openai.OpenAI, stub: StubProvider, span_exporter: Any
) -> None:
    client.chat.completions.create(model="o3", messages=MESSAGES)
    body = stub.last_request.response_body
    stub.enqueue("/v1/chat/completions", json={**body, "service_tier": "flex"})
    span_exporter.clear()

    client.chat.completions.create(model="o3", messages=MESSAGES, service_tier="flex")

    a = attrs(only_span(span_exporter))
    assert a["openai.response.service_tier"] == "flex"
    usage = chat_usage_of(body["usage"])
    assert_priced(a, "o3-2025-04-16", usage, tier="flex")
    assert oracle("o3-2025-04-16", usage, tier="flex") != pytest.approx(oracle("o3-2025-04-16", usage), abs=1e-9)


def test_provider_reported_cost_wins(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/chat/completions", usage={"cost": 0.0123})
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    a = attrs(only_span(span_exporter))
    assert a["genai_cost.amount"] == pytest.approx(0.0123, abs=1e-12)
    assert a["genai_cost.price.source"] == "provider-reported"


def test_parse_is_one_span(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    class Answer(BaseModel):
        city: str

    stub.enqueue("/v1/chat/completions", text='{"city": "Paris"}')
    parsed = client.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Answer)

    assert parsed.choices[0].message.parsed == Answer(city="Paris")
    span = only_span(span_exporter)
    assert attrs(span)["gen_ai.output.type"] == "json"
    check_chat_span(attrs(span), stub)


async def test_parse_async_is_one_span(aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any) -> None:
    class Answer(BaseModel):
        city: str

    stub.enqueue("/v1/chat/completions", text='{"city": "Rome"}')
    parsed = await aclient.chat.completions.parse(model="gpt-4o-mini", messages=MESSAGES, response_format=Answer)

    assert parsed.choices[0].message.parsed == Answer(city="Rome")
    check_chat_span(attrs(only_span(span_exporter)), stub)


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "name"),
    [(429, openai.RateLimitError, "openai.RateLimitError"), (404, openai.NotFoundError, "openai.NotFoundError")],
)
def test_provider_errors_reach_the_caller_unchanged(
    client: openai.OpenAI, stub: StubProvider, span_exporter: Any, status: int, error: type, name: str
) -> None:
    stub.enqueue("/v1/chat/completions", status=status)
    with pytest.raises(error) as raised:
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert type(raised.value) is error
    span = only_span(span_exporter)
    a = attrs(span)
    assert a["error.type"] == name
    assert span.status.status_code is StatusCode.ERROR
    assert "genai_cost.amount" not in a
    assert a["genai_cost.status"] == "no_usage"


async def test_provider_error_async(aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/chat/completions", status=500)
    with pytest.raises(openai.InternalServerError):
        await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    a = attrs(only_span(span_exporter))
    assert a["error.type"] == "openai.InternalServerError"


def test_connection_error(span_exporter: Any) -> None:
    with StubProvider() as gone:
        url = gone.base_url
    dead = openai.OpenAI(base_url=url, api_key=API_KEY, max_retries=0, timeout=2)
    with pytest.raises(openai.APIConnectionError):
        dead.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert attrs(only_span(span_exporter))["error.type"] == "openai.APIConnectionError"


# --- pricing statuses ------------------------------------------------------------------------


def test_unknown_model_is_not_free(client: openai.OpenAI, span_exporter: Any, metric_reader: Any) -> None:
    model = "no-such-model-chat-unknown"
    client.chat.completions.create(model=model, messages=MESSAGES)

    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "unknown_model"
    assert "genai_cost.amount" not in a and "gen_ai.usage.cost" not in a
    assert a["gen_ai.usage.input_tokens"] > 0  # the usage is still reported
    unpriced = [
        p
        for p in metric_points(metric_reader, "genai_cost.unpriced.calls")
        if p.attributes.get("gen_ai.request.model") == model
    ]
    assert [p.value for p in unpriced] == [1]
    assert unpriced[0].attributes["genai_cost.status"] == "unknown_model"


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_tokens": -5},
        {"prompt_tokens": 10, "prompt_tokens_details": {"cached_tokens": 50}},  # cache > input
        {"completion_tokens": 2, "completion_tokens_details": {"reasoning_tokens": 9}},
    ],
)
def test_malformed_usage_is_reported_not_raised(
    client: openai.OpenAI, stub: StubProvider, span_exporter: Any, usage: dict[str, Any]
) -> None:
    stub.enqueue("/v1/chat/completions", usage=usage)
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert completion.choices[0].message.content == "This is a test."
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "invalid_usage"
    assert "malformed" in a["genai_cost.status.detail"]
    assert "genai_cost.amount" not in a
    assert "gen_ai.usage.input_tokens" not in a


def test_missing_usage_is_no_usage(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    body = {k: v for k, v in stub.last_request.response_body.items() if k != "usage"}
    stub.enqueue("/v1/chat/completions", json=body)
    span_exporter.clear()

    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "no_usage"
    assert "genai_cost.amount" not in a


def test_metrics_are_recorded(
    client: openai.OpenAI, stub: StubProvider, span_exporter: Any, metric_reader: Any
) -> None:
    def sums(name: str) -> dict[Any, float]:
        return {
            (p.attributes.get("gen_ai.token.type"), p.attributes.get("error.type")): p.sum
            for p in metric_points(metric_reader, name)
            if p.attributes.get("gen_ai.request.model") == "gpt-4.1-nano"
        }

    tokens_before, durations_before = sums("gen_ai.client.token.usage"), sums("gen_ai.client.operation.duration")
    client.chat.completions.create(model="gpt-4.1-nano", messages=MESSAGES)
    sent = stub.last_request.response_body["usage"]
    tokens, durations = sums("gen_ai.client.token.usage"), sums("gen_ai.client.operation.duration")

    assert tokens[("input", None)] - tokens_before.get(("input", None), 0) == sent["prompt_tokens"]
    assert tokens[("output", None)] - tokens_before.get(("output", None), 0) == sent["completion_tokens"]
    assert durations[(None, None)] > durations_before.get((None, None), 0)
    cost = [
        p
        for p in metric_points(metric_reader, "gen_ai.client.operation.cost")
        if p.attributes.get("gen_ai.request.model") == "gpt-4.1-nano"
    ]
    assert cost and cost[0].sum == pytest.approx(attrs(only_span(span_exporter))["genai_cost.amount"], abs=1e-12)


# --- message content -------------------------------------------------------------------------

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def test_no_content_and_no_secrets_by_default(client: openai.OpenAI, span_exporter: Any) -> None:
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=TOOLS)

    a = attrs(only_span(span_exporter))
    assert not {"gen_ai.input.messages", "gen_ai.output.messages"} & set(a)
    assert not any(API_KEY in str(v) or "Say this is a test" in str(v) for v in a.values())


def test_content_when_opted_in(client: openai.OpenAI, span_exporter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    messages = [{"role": "system", "content": "Be brief."}, *MESSAGES]
    client.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=TOOLS)

    a = attrs(only_span(span_exporter))
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Say this is a test"}]},
    ]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "call_stub_1", "name": "get_weather", "arguments": {"city": "stub"}}],
            "finish_reason": "tool_calls",
        }
    ]
    assert not any(API_KEY in str(v) for v in a.values())


# --- who served the call ---------------------------------------------------------------------


def test_azure_prices_the_response_model_not_the_deployment(stub: StubProvider, span_exporter: Any) -> None:
    azure = openai.AzureOpenAI(azure_endpoint=stub.url, api_version="2024-10-21", api_key=API_KEY, max_retries=0)
    reference = openai.OpenAI(base_url=stub.base_url, api_key=API_KEY, max_retries=0)
    reference.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    body = stub.last_request.response_body  # Azure answers with the model behind the deployment
    stub.enqueue("/openai/deployments/prod-chat/chat/completions", json=body)
    span_exporter.clear()

    azure.chat.completions.create(model="prod-chat", messages=MESSAGES)

    assert stub.last_request.path == "/openai/deployments/prod-chat/chat/completions"
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == "chat prod-chat"
    assert a["gen_ai.provider.name"] == "azure.ai.openai"
    assert a["gen_ai.request.model"] == "prod-chat"
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["genai_cost.price.provider"] == "azure"
    assert_priced(a, "gpt-4o-mini-2024-07-18", chat_usage_of(body["usage"]), provider="azure")


@pytest.mark.parametrize(
    ("base_url", "provider", "port"),
    [
        ("https://api.openai.com/v1", "openai", 443),
        ("https://api.groq.com/openai/v1", "groq", 443),
        ("https://api.deepseek.com", "deepseek", 443),
        ("https://openrouter.ai/api/v1", "openrouter", 443),
        ("https://api.together.xyz/v1", "together", 443),
        ("https://api.mistral.ai/v1", "mistral_ai", 443),
        ("https://api.x.ai/v1", "x_ai", 443),
        ("https://api.fireworks.ai/inference/v1", "fireworks", 443),
        ("https://myres.openai.azure.com/openai/v1", "azure.ai.openai", 443),
        (
            "https://us-central1-aiplatform.googleapis.com/v1/projects/p/locations/l/endpoints/openapi",
            "gcp.vertex_ai",
            443,
        ),
        ("https://bedrock-runtime.us-east-1.amazonaws.com/openai/v1", "aws.bedrock", 443),
        ("http://localhost:11434/v1", "openai", 11434),  # Ollama: the API flavour is all we know
        ("http://vllm.internal:8000/v1", "openai", 8000),
        ("https://evil-api.openai.com.attacker.io/v1", "openai", 443),  # suffix, not substring
    ],
)
def test_provider_name_from_the_base_url(base_url: str, provider: str, port: int) -> None:
    from genai_cost.instrumentation.openai.request import server_of

    server = server_of(openai.OpenAI(base_url=base_url, api_key=API_KEY).chat.completions)
    assert (server.provider_name, server.port) == (provider, port)
    assert server.address == base_url.split("://")[1].split("/")[0].split(":")[0]


def test_compatible_server_span_uses_its_provider_name(stub: StubProvider, span_exporter: Any) -> None:
    """A base_url elsewhere keeps the OpenAI API flavour; pricing decides by server.address and
    model (a local server's model is unknown unless configured: never guessed)."""
    local = openai.OpenAI(base_url=f"http://localhost:{stub.port}/v1", api_key=API_KEY, max_retries=0)
    local.chat.completions.create(model="llama3.1:8b", messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    assert (a["gen_ai.provider.name"], a["server.address"], a["server.port"]) == ("openai", "localhost", stub.port)
    assert a["genai_cost.status"] == "unknown_model"


def test_one_span_per_call_in_a_sequence(client: openai.OpenAI, span_exporter: Any) -> None:
    for _ in range(3):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    spans = genai_spans(span_exporter)
    assert [s.name for s in spans] == ["chat gpt-4o-mini"] * 3
    assert len({s.attributes["gen_ai.response.id"] for s in spans}) == 3
