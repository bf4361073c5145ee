"""InvokeModel: each model family's body format read for usage, the caller's body unchanged."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bedrock_support import (
    assert_priced,
    assert_usage,
    attrs,
    client,
    genai_prices_usage,
    instrumented,
    make_client,
    only_span,
    path,
    uninstrumented,
)

from genai_cost.testing import StubProvider

__all__ = ["client", "instrumented"]

ANTHROPIC_BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 256,
    "messages": [{"role": "user", "content": "Say this is a test"}],
}
PROMPT_BODY = {"prompt": "Say this is a test", "max_gen_len": 256}
NOVA_BODY = {"messages": [{"role": "user", "content": [{"text": "Say this is a test"}]}]}
TITAN_BODY = {"inputText": "Say this is a test", "textGenerationConfig": {"maxTokenCount": 256}}
COHERE_BODY = {"message": "Say this is a test"}

# (model id, request body, forced counts, whether the family reports cache counts, finish reason)
FAMILIES = [
    ("anthropic.claude-3-5-haiku-20241022-v1:0", ANTHROPIC_BODY, True, "end_turn"),
    ("us.anthropic.claude-sonnet-4-20250514-v1:0", ANTHROPIC_BODY, True, "end_turn"),
    ("meta.llama3-1-8b-instruct-v1:0", PROMPT_BODY, False, "stop"),
    ("us.amazon.nova-pro-v1:0", NOVA_BODY, True, "end_turn"),
    ("amazon.titan-text-express-v1", TITAN_BODY, False, "FINISH"),
    ("mistral.mistral-7b-instruct-v0:2", PROMPT_BODY, False, "stop"),
]


@pytest.mark.parametrize(("model", "body", "cached", "finish"), FAMILIES, ids=[f[0] for f in FAMILIES])
def test_invoke_model_usage_per_family(
    client: Any, stub: StubProvider, span_exporter: Any, model: str, body: dict[str, Any], cached: bool, finish: str
) -> None:
    forced = {"inputTokens": 700, "outputTokens": 90, "cacheReadInputTokens": 300, "cacheWriteInputTokens": 100}
    stub.enqueue(path(model, "invoke"), usage=forced)

    response = client.invoke_model(modelId=model, body=json.dumps(body))

    assert json.loads(response["body"].read()) == stub.last_request.response_body  # the caller's body, unread
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == model
    assert a["gen_ai.response.finish_reasons"] == (finish,)
    usage = genai_prices_usage(700, 90, *((300, 100) if cached else (0, 0)))
    assert_usage(a, usage)
    assert_priced(a, model, usage)


def test_anthropic_body_names_the_base_model_but_the_profile_sets_the_price(
    client: Any, stub: StubProvider, span_exporter: Any
) -> None:
    model = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
    stub.enqueue(path(model, "invoke"), usage={"inputTokens": 5000, "outputTokens": 400})
    client.invoke_model(modelId=model, body=json.dumps(ANTHROPIC_BODY))

    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.model"] == "claude-sonnet-4-5-20250929"
    assert a["gen_ai.response.id"] == stub.last_request.response_body["id"]
    assert_priced(a, model, genai_prices_usage(5000, 400))
    assert a["genai_cost.price.model"] == "global.anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_cohere_usage_from_headers_and_unpriced_when_the_catalog_has_no_price(
    client: Any, stub: StubProvider, span_exporter: Any
) -> None:
    model = "cohere.command-r-plus-v1:0"
    stub.enqueue(path(model, "invoke"), usage={"inputTokens": 41, "outputTokens": 12})
    response = client.invoke_model(modelId=model, body=json.dumps(COHERE_BODY))

    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-input-token-count"] == "41"
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.usage.input_tokens"] == 41 and a["gen_ai.usage.output_tokens"] == 12
    assert a["gen_ai.response.finish_reasons"] == ("COMPLETE",)
    # genai-prices has no Bedrock price for Cohere: unknown, never $0.
    assert a["genai_cost.status"] == "unknown_model"
    assert "genai_cost.amount" not in a


def test_titan_embeddings(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    model = "amazon.titan-embed-text-v2:0"
    stub.enqueue(path(model, "invoke"), usage={"inputTokens": 64})
    response = client.invoke_model(modelId=model, body=json.dumps({"inputText": "embed me"}))

    assert len(json.loads(response["body"].read())["embedding"]) == 8
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.usage.input_tokens"] == 64 and a["gen_ai.usage.output_tokens"] == 0
    assert_priced(a, model, {"input_tokens": 64})


def test_caller_sees_the_same_body_as_without_us(span_exporter: Any) -> None:
    model = "meta.llama3-1-8b-instruct-v1:0"

    def run() -> tuple[bytes, list[bytes]]:
        with StubProvider() as fresh:
            response = make_client(fresh).invoke_model(modelId=model, body=json.dumps(PROMPT_BODY))
            body = response["body"]
            return body.read(5) + body.read(), list(
                make_client(fresh).invoke_model(modelId=model, body=json.dumps(PROMPT_BODY))["body"].iter_lines()
            )

    with uninstrumented():
        bare = run()
    assert run() == bare


def test_a_body_we_cannot_read_still_reaches_the_caller(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    model = "meta.llama3-1-8b-instruct-v1:0"
    stub.enqueue(path(model, "invoke"), body="{not json", headers={"Content-Type": "application/json"})
    response = client.invoke_model(modelId=model, body=json.dumps(PROMPT_BODY))

    assert response["body"].read() == b"{not json"
    a = attrs(only_span(span_exporter))
    assert "error.type" not in a
    assert a["genai_cost.status"] == "no_usage"


def test_a_body_cut_short_fails_for_the_caller_as_without_us(span_exporter: Any) -> None:
    model = "meta.llama3-1-8b-instruct-v1:0"

    def run() -> BaseException:
        with StubProvider() as fresh:
            fresh.enqueue(path(model, "invoke"), fail_after_events=0)
            response = make_client(fresh).invoke_model(modelId=model, body=json.dumps(PROMPT_BODY))
            with pytest.raises(Exception) as raised:
                response["body"].read()
            return raised.value

    with uninstrumented():
        bare = run()
    ours = run()
    assert type(ours) is type(bare)
    a = attrs(only_span(span_exporter))
    assert a["error.type"].endswith(type(bare).__name__)


def test_openai_chat_format_bodies(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    model = "openai.gpt-oss-120b-1:0"
    body = {
        "id": "chatcmpl-bedrock-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1500, "completion_tokens": 250, "total_tokens": 1750},
    }
    stub.enqueue(path(model, "invoke"), json=body)  # no token-count headers: the body alone says
    client.invoke_model(modelId=model, body=json.dumps({"messages": [{"role": "user", "content": "hi"}]}))

    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert_priced(a, model, genai_prices_usage(1500, 250))
