"""generate_content, sync and async, on the Gemini API and Vertex AI: span contract, usage in
semconv terms, exact price, errors and unknown models."""

from __future__ import annotations

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
    vertex_client,
)
from google import genai
from google.genai import errors, types
from opentelemetry.trace import StatusCode

from genai_cost.testing import StubProvider

__all__ = ["client", "instrumented"]


def sent(stub: StubProvider) -> dict[str, Any]:
    """The response document the stub sent for the last request."""
    return stub.last_request.response_body  # type: ignore[no-any-return]


def test_span_contract_and_price(client: genai.Client, stub: StubProvider, span_exporter: Any) -> None:
    config = types.GenerateContentConfig(
        temperature=0.2, top_p=0.9, top_k=40, max_output_tokens=200, stop_sequences=["END"], seed=7
    )
    response = client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT, config=config)

    assert response.text == "This is a test."
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == "generate_content gemini-2.5-flash"
    assert a["gen_ai.operation.name"] == "generate_content"
    assert a["gen_ai.provider.name"] == provider_of(client)
    assert a["gen_ai.request.model"] == "gemini-2.5-flash"
    assert a["gen_ai.response.model"] == "gemini-2.5-flash"
    assert a["gen_ai.response.id"] == response.response_id
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["server.address"] == "127.0.0.1"
    assert a["server.port"] == stub.port
    assert a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.request.top_k"] == 40
    assert a["gen_ai.request.max_tokens"] == 200
    assert a["gen_ai.request.stop_sequences"] == ("END",)
    assert a["gen_ai.request.seed"] == 7
    assert "gen_ai.request.stream" not in a
    assert span.status.status_code is StatusCode.UNSET
    metadata = sent(stub)["usageMetadata"]
    assert metadata["thoughtsTokenCount"] > 0  # 2.5 Flash thinks by default
    assert_usage(span, metadata)
    assert_priced(span, sent(stub), "gemini-2.5-flash")
    assert a["genai_cost.price.provider"] == "google"


def test_no_key_and_no_content_on_the_span(client: genai.Client, stub: StubProvider, span_exporter: Any) -> None:
    client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
    values = " ".join(str(v) for v in attrs(only_span(span_exporter)).values())
    assert "secret" not in values and "test-oauth-token" not in values
    assert PROMPT not in values and "This is a test." not in values


async def test_async_generate(client: genai.Client, stub: StubProvider, span_exporter: Any) -> None:
    response = await client.aio.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
    assert response.text == "This is a test."
    span = only_span(span_exporter)
    assert attrs(span)["gen_ai.provider.name"] == provider_of(client)
    assert_usage(span, sent(stub)["usageMetadata"])
    assert_priced(span, sent(stub), "gemini-2.0-flash")


def test_caller_sees_the_same_response_as_without_us(stub: StubProvider, span_exporter: Any) -> None:
    from gemini_support import instrument

    from genai_cost.instrumentation.google_genai import GoogleGenAIInstrumentor

    def run() -> dict[str, Any]:
        with StubProvider() as fresh:
            fresh_client = gemini_client(fresh)  # held: a collected Client closes its HTTP client
            return fresh_client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT).to_json_dict()

    with_us = run()
    GoogleGenAIInstrumentor().uninstrument()
    try:
        without = run()
    finally:
        instrument()
    with_us.pop("sdk_http_response"), without.pop("sdk_http_response")  # Date headers differ
    assert with_us == without


# --- usage: cache, thoughts, tool use, modalities --------------------------------------------


def test_cached_content_is_a_cache_read_inside_input(
    client: genai.Client, stub: StubProvider, span_exporter: Any
) -> None:
    config = types.GenerateContentConfig(cached_content="cachedContents/abc123")
    client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT, config=config)
    span = only_span(span_exporter)
    metadata = sent(stub)["usageMetadata"]
    assert metadata["cachedContentTokenCount"] == 1024
    assert_usage(span, metadata)
    a = attrs(span)
    assert a["gen_ai.usage.cache_read.input_tokens"] == 1024
    assert a["gen_ai.usage.input_tokens"] >= 1024  # semconv: input includes cache reads
    assert a["genai_cost.cache_read"] > 0 and a["genai_cost.savings"] > 0
    assert_priced(span, sent(stub), "gemini-2.5-flash")


def test_tool_use_prompt_and_thoughts_are_billed(stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    forced = {
        "promptTokenCount": 120,
        "candidatesTokenCount": 30,
        "thoughtsTokenCount": 50,
        "toolUsePromptTokenCount": 400,
    }
    stub.enqueue(model_path(client, "gemini-2.5-pro", "generateContent"), usage=forced)
    client.models.generate_content(model="gemini-2.5-pro", contents=PROMPT)
    span = only_span(span_exporter)
    a = attrs(span)
    assert a["gen_ai.usage.input_tokens"] == 520
    assert a["gen_ai.usage.output_tokens"] == 80
    assert a["gen_ai.usage.reasoning.output_tokens"] == 50
    assert_priced(span, sent(stub), "gemini-2.5-pro")


def details(**counts: int) -> list[dict[str, Any]]:
    return [{"modality": modality, "tokenCount": count} for modality, count in counts.items()]


MODALITY_CASES = {
    # cached audio (and audio input) above the text rate
    "gemini-2.0-flash": {
        "promptTokenCount": 3000,
        "cachedContentTokenCount": 1200,
        "candidatesTokenCount": 40,
        "promptTokensDetails": details(TEXT=1000, AUDIO=2000),
        "cacheTokensDetails": details(AUDIO=1200),
    },
    # video and a document (billed as image) in, audio out
    "gemini-live-2.5-flash": {
        "promptTokenCount": 5000,
        "candidatesTokenCount": 900,
        "promptTokensDetails": details(TEXT=500, VIDEO=4000, DOCUMENT=500),
        "candidatesTokensDetails": details(TEXT=100, AUDIO=800),
    },
    # video out
    "gemini-omni-flash-preview": {
        "promptTokenCount": 100,
        "candidatesTokenCount": 5000,
        "candidatesTokensDetails": details(VIDEO=5000),
    },
    # tool results fed back as audio
    "gemini-2.5-flash": {
        "promptTokenCount": 100,
        "candidatesTokenCount": 10,
        "toolUsePromptTokenCount": 600,
        "toolUsePromptTokensDetails": details(AUDIO=600),
    },
}


@pytest.mark.parametrize("model", sorted(MODALITY_CASES))
def test_per_modality_counts_are_priced_at_their_rates(stub: StubProvider, span_exporter: Any, model: str) -> None:
    from gemini_support import oracle

    client = gemini_client(stub)
    forced = MODALITY_CASES[model]
    stub.enqueue(model_path(client, model, "generateContent"), usage={**forced, "thoughtsTokenCount": 0})
    client.models.generate_content(model=model, contents=PROMPT)
    span = only_span(span_exporter)
    assert_usage(span, sent(stub)["usageMetadata"])
    assert_priced(span, sent(stub), model)
    plain = {k: v for k, v in sent(stub)["usageMetadata"].items() if not k.endswith("TokensDetails")}
    assert attrs(span)["genai_cost.amount"] != pytest.approx(oracle({"usageMetadata": plain}, model), abs=1e-9)


@pytest.mark.parametrize(
    ("model", "prompt_tokens"),
    [
        ("gemini-2.5-pro", 200_000),
        ("gemini-2.5-pro", 200_001),
        ("gemini-2.5-pro", 250_000),
        ("gemini-1.5-pro", 300_000),
    ],
)
def test_long_context_tier(stub: StubProvider, span_exporter: Any, model: str, prompt_tokens: int) -> None:
    client = vertex_client(stub)
    forced = {
        "promptTokenCount": prompt_tokens,
        "candidatesTokenCount": 1000,
        "thoughtsTokenCount": 0,
        "cachedContentTokenCount": 50_000,
    }
    stub.enqueue(model_path(client, model, "generateContent"), usage=forced)
    client.models.generate_content(model=model, contents=PROMPT)
    span = only_span(span_exporter)
    assert_priced(span, sent(stub), model)
    a = attrs(span)
    # Above 200k input tokens every input and output token is at the higher rate.
    base_rate = {"gemini-2.5-pro": 10e-6, "gemini-1.5-pro": 5e-6}[model]
    long_rate = {"gemini-2.5-pro": 15e-6, "gemini-1.5-pro": 10e-6}[model]
    expected_output = 1000 * (long_rate if prompt_tokens > 200_000 else base_rate)
    assert a["genai_cost.output"] == pytest.approx(expected_output, abs=1e-9)


def test_provisioned_throughput_is_an_estimate(stub: StubProvider, span_exporter: Any) -> None:
    client = vertex_client(stub)
    stub.enqueue(
        model_path(client, "gemini-2.0-flash", "generateContent"), usage={"trafficType": "PROVISIONED_THROUGHPUT"}
    )
    client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "estimated"
    assert "provisioned throughput" in a["genai_cost.status.detail"]
    assert a["genai_cost.amount"] > 0


def test_several_candidates_and_max_tokens(client: genai.Client, stub: StubProvider, span_exporter: Any) -> None:
    config = types.GenerateContentConfig(candidate_count=2, max_output_tokens=2, response_mime_type="application/json")
    client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT, config=config)
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.request.choice.count"] == 2
    assert a["gen_ai.output.type"] == "json"
    assert a["gen_ai.response.finish_reasons"] == ("max_tokens", "max_tokens")


def test_automatic_function_calling_prices_every_request(stub: StubProvider, span_exporter: Any) -> None:
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}"

    client = gemini_client(stub)
    response = client.models.generate_content(
        model="gemini-2.0-flash", contents="Weather in Paris?", config=types.GenerateContentConfig(tools=[get_weather])
    )
    assert response.text == "This is a test."
    requests = [r for r in stub.requests if r.path.endswith(":generateContent")]
    assert len(requests) == 2  # the function call, then the answer to its result
    spans = genai_spans(span_exporter)
    assert len(spans) == 2
    for span, request in zip(spans, requests, strict=True):
        assert_priced(span, request.response_body, "gemini-2.0-flash")
    assert attrs(spans[1])["gen_ai.usage.input_tokens"] > attrs(spans[0])["gen_ai.usage.input_tokens"]


def test_chat_session_goes_through_the_same_span(stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    chat = client.chats.create(model="gemini-2.0-flash")
    chat.send_message(PROMPT)
    chat.send_message("again")
    assert len(genai_spans(span_exporter)) == 2


# --- errors and unknown models ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, errors.ClientError),
        (404, errors.ClientError),
        (429, errors.ClientError),
        (500, errors.ServerError),
        (503, errors.ServerError),
    ],
)
def test_provider_errors_reach_the_caller_unchanged(
    client: genai.Client, stub: StubProvider, span_exporter: Any, status: int, error_class: type
) -> None:
    stub.enqueue(model_path(client, "gemini-2.0-flash", "generateContent"), status=status)
    with pytest.raises(error_class) as caught:
        client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
    assert type(caught.value) is error_class
    assert caught.value.code == status
    span = only_span(span_exporter)
    a = attrs(span)
    assert a["error.type"] == f"google.genai.errors.{error_class.__name__}"
    assert span.status.status_code is StatusCode.ERROR
    assert a["genai_cost.status"] == "no_usage"
    assert "genai_cost.amount" not in a


async def test_async_error(client: genai.Client, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue(model_path(client, "gemini-2.0-flash", "generateContent"), status=429)
    with pytest.raises(errors.ClientError):
        await client.aio.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
    span = only_span(span_exporter)
    assert attrs(span)["error.type"] == "google.genai.errors.ClientError"
    assert span.status.status_code is StatusCode.ERROR


def test_unknown_model_is_not_free(client: genai.Client, stub: StubProvider, span_exporter: Any) -> None:
    client.models.generate_content(model="my-tuned-model-7", contents=PROMPT)
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "unknown_model"
    assert "genai_cost.amount" not in a and "gen_ai.usage.cost" not in a
    assert a["gen_ai.usage.input_tokens"] > 0  # the usage is still reported


def test_a_response_without_usage_is_no_usage(client: genai.Client, stub: StubProvider, span_exporter: Any) -> None:
    document = {"candidates": [{"content": {"role": "model", "parts": [{"text": "hi"}]}, "finishReason": "STOP"}]}
    stub.enqueue(model_path(client, "gemini-2.0-flash", "generateContent"), json=document)
    client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "no_usage"
    assert "genai_cost.amount" not in a


def test_impossible_usage_is_invalid_not_priced(client: genai.Client, stub: StubProvider, span_exporter: Any) -> None:
    forced = {"promptTokenCount": 10, "cachedContentTokenCount": 50}  # more cached than the prompt
    stub.enqueue(model_path(client, "gemini-2.0-flash", "generateContent"), usage=forced)
    client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "invalid_usage"
    assert "genai_cost.amount" not in a


def test_a_raw_http_response_is_priced_from_its_body(
    client: genai.Client, stub: StubProvider, span_exporter: Any
) -> None:
    config = types.GenerateContentConfig(should_return_http_response=True)
    response = client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT, config=config)
    assert response.usage_metadata is None and response.sdk_http_response is not None  # only the HTTP response
    span = only_span(span_exporter)
    assert attrs(span)["gen_ai.response.id"] == sent(stub)["responseId"]
    assert_usage(span, sent(stub)["usageMetadata"])
    assert_priced(span, sent(stub), "gemini-2.5-flash")


def test_metrics_carry_the_gemini_provider(stub: StubProvider, span_exporter: Any, metric_reader: Any) -> None:
    from conftest import metric_points

    def points(name: str) -> list[Any]:
        return [
            p
            for p in metric_points(metric_reader, name)
            if p.attributes.get("gen_ai.provider.name") == "gcp.vertex_ai"
            and p.attributes.get("gen_ai.request.model") == "gemini-2.0-flash-lite"
        ]

    def total(name: str, token_type: str | None = None) -> float:
        return sum(
            p.sum for p in points(name) if token_type is None or p.attributes.get("gen_ai.token.type") == token_type
        )

    before_input, before_cost = total("gen_ai.client.token.usage", "input"), total("gen_ai.client.operation.cost")
    client = vertex_client(stub)
    client.models.generate_content(model="gemini-2.0-flash-lite", contents=PROMPT)
    metadata = sent(stub)["usageMetadata"]
    assert total("gen_ai.client.token.usage", "input") - before_input == metadata["promptTokenCount"]
    amount = attrs(only_span(span_exporter))["genai_cost.amount"]
    assert total("gen_ai.client.operation.cost") - before_cost == pytest.approx(amount, abs=1e-12)
