"""Budgets on Bedrock calls: a block never reaches AWS, a downgrade replaces ``modelId`` (for
InvokeModel only with a model of the same body format), and the real cost is settled."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bedrock_support import (
    MESSAGES,
    assert_priced,
    attrs,
    client,
    genai_prices_usage,
    instrumented,
    only_span,
    path,
)

from genai_cost.budget import BudgetExceeded
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.testing import StubProvider

__all__ = ["client", "instrumented"]

EXPENSIVE = "us.anthropic.claude-opus-4-1-20250805-v1:0"
CHEAP = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
NOVA = "amazon.nova-micro-v1:0"
BODY = json.dumps(
    {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]}
)


def downgrade_to(model: str) -> BudgetPolicy:
    return BudgetPolicy("bedrock", limit=0.0, action="downgrade", downgrade_to=model)


@pytest.mark.parametrize("budget", [BudgetPolicy("bedrock", limit=0.0)], indirect=True)
def test_a_blocked_call_never_reaches_aws(
    budget: BudgetGuard, client: Any, stub: StubProvider, span_exporter: Any
) -> None:
    with pytest.raises(BudgetExceeded):
        client.converse(modelId=EXPENSIVE, messages=MESSAGES, inferenceConfig={"maxTokens": 64})
    with pytest.raises(BudgetExceeded):
        client.invoke_model_with_response_stream(modelId=EXPENSIVE, body=BODY)
    assert stub.requests == []
    spans = [s for s in span_exporter.get_finished_spans() if s.instrumentation_scope.name == "genai_cost"]
    assert [attrs(s)["genai_cost.budget.decision"] for s in spans] == ["block", "block"]


@pytest.mark.parametrize("budget", [downgrade_to(NOVA)], indirect=True)
def test_converse_downgrade_replaces_the_model_id(
    budget: BudgetGuard, client: Any, stub: StubProvider, span_exporter: Any
) -> None:
    stub.enqueue(path(NOVA, "converse"), usage={"inputTokens": 100, "outputTokens": 20})
    client.converse(modelId=EXPENSIVE, messages=MESSAGES, inferenceConfig={"maxTokens": 64})

    assert stub.last_request.path == path(NOVA, "converse")  # Converse takes any model's messages
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.budget.decision"] == "downgrade"
    assert a["genai_cost.budget.original_model"] == EXPENSIVE
    assert a["gen_ai.request.model"] == NOVA
    assert_priced(a, NOVA, genai_prices_usage(100, 20))


@pytest.mark.parametrize("budget", [downgrade_to(CHEAP)], indirect=True)
def test_invoke_downgrade_within_the_family(
    budget: BudgetGuard, client: Any, stub: StubProvider, span_exporter: Any
) -> None:
    client.invoke_model(modelId=EXPENSIVE, body=BODY)
    assert stub.last_request.path == path(CHEAP, "invoke")
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.budget.decision"] == "downgrade"
    assert a["genai_cost.price.model"].endswith("claude-3-5-haiku-20241022-v1:0")


@pytest.mark.parametrize("budget", [downgrade_to(NOVA)], indirect=True)
def test_invoke_downgrade_across_families_is_refused(
    budget: BudgetGuard, client: Any, stub: StubProvider, span_exporter: Any
) -> None:
    response = client.invoke_model(modelId=EXPENSIVE, body=BODY)
    assert json.loads(response["body"].read())["type"] == "message"  # a Claude body went to Claude
    assert stub.last_request.path == path(EXPENSIVE, "invoke")
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.budget.decision"] == "warn"
    assert a["gen_ai.request.model"] == EXPENSIVE


@pytest.mark.parametrize("budget", [BudgetPolicy("bedrock", limit=10.0)], indirect=True)
def test_an_allowed_stream_settles_its_real_cost(budget: BudgetGuard, client: Any, span_exporter: Any) -> None:
    response = client.converse_stream(modelId=CHEAP, messages=MESSAGES, inferenceConfig={"maxTokens": 64})
    list(response["stream"])
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.budget.decision"] == "allow"
    assert a["genai_cost.budget.spent"] == pytest.approx(a["genai_cost.amount"], abs=1e-6)


def test_image_bytes_are_estimated_as_an_image_not_by_their_length() -> None:
    from genai_cost.budget.estimate import IMAGE_TOKENS
    from genai_cost.instrumentation.bedrock.wrappers import OPERATIONS, budget_ask

    picture = {"image": {"format": "png", "source": {"bytes": b"\x00" * 3_000_000}}}
    kwargs = {"modelId": CHEAP, "messages": [{"role": "user", "content": [{"text": "what is this?"}, picture]}]}
    ask = budget_ask(OPERATIONS[0], kwargs)()
    assert IMAGE_TOKENS < ask.input_tokens < IMAGE_TOKENS + 20
