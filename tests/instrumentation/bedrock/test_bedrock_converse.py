"""Converse through real boto3: one priced span per call, model ids of every spelling, errors
reaching the caller unchanged, unknown models unpriced, and no other AWS client touched."""

from __future__ import annotations

from typing import Any

import botocore
import botocore.exceptions
import pytest
import wrapt
from conftest import metric_points
from bedrock_support import (
    MESSAGES,
    assert_no_secrets,
    assert_priced,
    assert_usage,
    attrs,
    client,
    genai_prices_usage,
    genai_spans,
    instrumented,
    make_client,
    no_content_capture,
    only_span,
    oracle,
    path,
    uninstrumented,
)
from opentelemetry.trace import StatusCode
from packaging.version import Version

from genai_cost.testing import StubProvider

__all__ = ["client", "instrumented", "no_content_capture"]

SONNET_45 = "anthropic.claude-sonnet-4-5-20250929-v1:0"


def test_converse_span_usage_and_price(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    model = "us.anthropic.claude-3-7-sonnet-20250219-v1:0"
    forced = {"inputTokens": 1200, "outputTokens": 300, "cacheReadInputTokens": 4000, "cacheWriteInputTokens": 800}
    stub.enqueue(path(model, "converse"), usage=forced)

    response = client.converse(
        modelId=model, messages=MESSAGES, inferenceConfig={"maxTokens": 512, "temperature": 0.2, "topP": 0.9}
    )

    assert response["usage"]["cacheReadInputTokens"] == 4000  # the caller's response is untouched
    request = stub.last_request
    assert request.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/")  # real SigV4
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == f"chat {model}"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "aws.bedrock"
    assert a["gen_ai.request.model"] == model
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == stub.port
    assert a["gen_ai.request.max_tokens"] == 512
    assert a["gen_ai.request.temperature"] == 0.2 and a["gen_ai.request.top_p"] == 0.9
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert a["aws.request_id"] == response["ResponseMetadata"]["RequestId"]
    assert "gen_ai.request.stream" not in a
    usage = genai_prices_usage(1200, 300, cache_read=4000, cache_write=800)
    assert a["gen_ai.usage.input_tokens"] == 6000  # semconv: input includes cache reads and writes
    assert_usage(a, usage)
    assert_priced(a, model, usage)
    assert a["genai_cost.cache_read"] > 0 and a["genai_cost.cache_write"] > 0
    assert_no_secrets(span, "Say this is a test")


@pytest.mark.parametrize(
    ("model", "price_ref"),
    [
        (SONNET_45, SONNET_45),
        ("us." + SONNET_45, "us." + SONNET_45),
        ("eu." + SONNET_45, "eu." + SONNET_45),
        ("apac.anthropic.claude-sonnet-4-20250514-v1:0", "apac.anthropic.claude-sonnet-4-20250514-v1:0"),
        ("global." + SONNET_45, "global." + SONNET_45),
        (f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/global.{SONNET_45}", "global." + SONNET_45),
        (f"arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.{SONNET_45}", "eu." + SONNET_45),
        (
            "arn:aws:bedrock:us-west-2::foundation-model/meta.llama3-1-70b-instruct-v1:0",
            "meta.llama3-1-70b-instruct-v1:0",
        ),
        ("us.meta.llama3-3-70b-instruct-v1:0", "us.meta.llama3-3-70b-instruct-v1:0"),
        ("eu.amazon.nova-lite-v1:0", "eu.amazon.nova-lite-v1:0"),
        ("apac.amazon.nova-pro-v1:0", "apac.amazon.nova-pro-v1:0"),
        ("mistral.mistral-large-2402-v1:0", "mistral.mistral-large-2402-v1:0"),
    ],
)
def test_model_ids_profiles_and_arns(
    client: Any, stub: StubProvider, span_exporter: Any, model: str, price_ref: str
) -> None:
    stub.enqueue(path(model, "converse"), usage={"inputTokens": 2000, "outputTokens": 500})
    client.converse(modelId=model, messages=MESSAGES)

    a = attrs(only_span(span_exporter))
    assert a["gen_ai.request.model"] == model
    usage = genai_prices_usage(2000, 500)
    assert_priced(a, price_ref, usage)


def test_global_and_regional_profiles_are_priced_apart(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    amounts = {}
    for model in ("global." + SONNET_45, "us." + SONNET_45):
        span_exporter.clear()
        stub.enqueue(path(model, "converse"), usage={"inputTokens": 10_000, "outputTokens": 1000})
        client.converse(modelId=model, messages=MESSAGES)
        amounts[model] = attrs(only_span(span_exporter))["genai_cost.amount"]
    # Regional endpoints cost more than global routing for this model: the profile decides.
    assert amounts["us." + SONNET_45] > amounts["global." + SONNET_45]
    assert oracle("us." + SONNET_45, genai_prices_usage(10_000, 1000)) == pytest.approx(amounts["us." + SONNET_45])


@pytest.mark.parametrize(
    "model",
    ["acme.frontier-9-v1:0", "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/a1b2c3d4e5"],
)
def test_unknown_model_is_unpriced_not_free(
    client: Any, stub: StubProvider, span_exporter: Any, metric_reader: Any, model: str
) -> None:
    stub.enqueue(path(model, "converse"), usage={"inputTokens": 50, "outputTokens": 7})
    client.converse(modelId=model, messages=MESSAGES)

    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "unknown_model"
    assert "genai_cost.amount" not in a and "gen_ai.usage.cost" not in a
    assert model in a["genai_cost.status.detail"]
    assert a["gen_ai.usage.input_tokens"] == 50 and a["gen_ai.usage.output_tokens"] == 7
    unpriced = [
        p
        for p in metric_points(metric_reader, "genai_cost.unpriced.calls")
        if p.attributes.get("gen_ai.request.model") == model
    ]
    assert [p.value for p in unpriced] == [1]


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "ValidationException"),
        (403, "AccessDeniedException"),
        (429, "ThrottlingException"),
        (500, "InternalServerException"),
        (503, "ServiceUnavailableException"),
    ],
)
def test_errors_reach_the_caller_unchanged(span_exporter: Any, status: int, code: str) -> None:
    model = "amazon.nova-pro-v1:0"

    def call() -> botocore.exceptions.ClientError:
        with StubProvider() as fresh:
            fresh.enqueue(path(model, "converse"), status=status)
            with pytest.raises(botocore.exceptions.ClientError) as raised:
                make_client(fresh).converse(modelId=model, messages=MESSAGES)
            return raised.value

    with uninstrumented():
        bare = call()
    assert not genai_spans(span_exporter)
    ours = call()

    assert type(ours).__name__ == type(bare).__name__ == code
    assert ours.response["Error"] == bare.response["Error"]
    assert str(ours) == str(bare)
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.status.status_code is StatusCode.ERROR
    assert a["error.type"] == "botocore.exceptions.ClientError"
    assert a["aws.error.code"] == code
    assert a["aws.request_id"] == ours.response["ResponseMetadata"]["RequestId"]
    assert "genai_cost.amount" not in a


def test_connection_error_reaches_the_caller(span_exporter: Any) -> None:
    with StubProvider() as gone:
        dead = make_client(gone)
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        dead.converse(modelId="amazon.nova-pro-v1:0", messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    assert a["error.type"] == "botocore.exceptions.EndpointConnectionError"
    assert "aws.error.code" not in a


def test_other_services_and_operations_are_not_wrapped(stub: StubProvider) -> None:
    runtime = make_client(stub)
    for name in ("converse", "converse_stream", "invoke_model", "invoke_model_with_response_stream"):
        assert isinstance(type(runtime).__dict__[name], wrapt.FunctionWrapper), name
    assert not isinstance(type(runtime).__dict__["apply_guardrail"], wrapt.FunctionWrapper)
    for service in ("s3", "dynamodb", "bedrock", "bedrock-agent-runtime"):
        other = make_client(stub, service)
        wrapped = [n for n, v in type(other).__dict__.items() if isinstance(v, wrapt.FunctionWrapper)]
        assert wrapped == [], service
    assert not isinstance(type(runtime).__mro__[1].__dict__["_make_api_call"], wrapt.FunctionWrapper)


def test_uninstrument_leaves_existing_clients_silent(stub: StubProvider, span_exporter: Any) -> None:
    made_while_on = make_client(stub)
    with uninstrumented():
        made_while_on.converse(modelId="amazon.nova-pro-v1:0", messages=MESSAGES)
        made_while_off = make_client(stub)
        assert not isinstance(type(made_while_off).__dict__["converse"], wrapt.FunctionWrapper)
        assert genai_spans(span_exporter) == []
    made_while_on.converse(modelId="amazon.nova-pro-v1:0", messages=MESSAGES)
    assert len(genai_spans(span_exporter)) == 1


@pytest.mark.skipif(
    Version(botocore.__version__) < Version("1.42.31"),
    reason="needs botocore >= 1.42.31: earlier service models drop Converse usage's cacheDetails",
)
def test_one_hour_cache_writes_are_priced_at_their_own_rate(
    client: Any, stub: StubProvider, span_exporter: Any
) -> None:
    model = "global." + SONNET_45
    details = [{"ttl": "1h", "inputTokens": 3000}, {"ttl": "5m", "inputTokens": 1000}]
    forced = {"inputTokens": 500, "outputTokens": 80, "cacheWriteInputTokens": 4000, "cacheDetails": details}
    stub.enqueue(path(model, "converse"), usage=forced)
    client.converse(modelId=model, messages=MESSAGES)

    a = attrs(only_span(span_exporter))
    usage = {**genai_prices_usage(500, 80, cache_write=4000), "cache_write_1h_tokens": 3000}
    assert_priced(a, model, usage)
    # All 4000 written at the 5-minute rate would be cheaper: the split is what is charged.
    assert a["genai_cost.amount"] > oracle(model, genai_prices_usage(500, 80, cache_write=4000)) + 1e-6
