"""Hostile numbers never become money (issue 11, finding 1).

One absurd token count or amount, priced and settled in a shared ledger, would set a budget's
spend to anything. Each entry is tried with real parts: the openai SDK against the local
stand-in reporting 1e19 tokens; foreign spans (2**63-1, 1e300, a 23-digit string) priced by the
session's CostSpanProcessor; a real gateway receiving OTLP with ``account_prepriced`` and an
amount of -50 (and NaN, 1e300). Each must be ``invalid_usage`` or kept out of the ledger, which
stays unchanged.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

sys.path.append(str(Path(__file__).resolve().parents[1] / "instrumentation" / "openai"))
sys.path.append(str(Path(__file__).resolve().parents[1] / "gateway"))
from gateway_support import gateway_config, genai_attributes, http_exporter, service
from openai_support import MESSAGES, client, instrumented, no_content_capture

from conftest import attrs, genai_spans, only_span
from genai_cost import attributes as attr
from genai_cost.budget import install_guard
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import lease_at, open_ledger
from genai_cost.budget.ledger.memory import MemoryLedger
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.gateway import Gateway
from genai_cost.testing import StubProvider
from genai_cost.testing.otlp_receiver import OtlpReceiver
from genai_cost.usage import InvalidUsage, TokenUsage

__all__ = ["client", "instrumented", "no_content_capture"]


def spent_and_reserved(guard: BudgetGuard) -> list[tuple[str, int, int]]:
    balances = guard.ledger.balances("", lease_at(time.time()))
    return sorted((key, b.spent, b.reserved) for key, b in balances.items())


@pytest.fixture
def guard() -> Iterator[BudgetGuard]:
    guard = BudgetGuard([BudgetPolicy("company", limit=100.0, window="month")], MemoryLedger())
    install_guard(guard)
    yield guard
    install_guard(None)
    guard.close()


def test_a_response_reporting_1e19_tokens_is_invalid_usage_and_never_settled(
    client: openai.OpenAI, stub: StubProvider, guard: BudgetGuard, span_exporter: Any
) -> None:
    stub.enqueue("/v1/chat/completions", usage={"prompt_tokens": 10**19, "completion_tokens": 5, "total_tokens": 0})
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert completion.usage is not None and completion.usage.prompt_tokens == 10**19  # the SDK took it
    a = attrs(only_span(span_exporter))
    assert a[attr.COST_STATUS] == "invalid_usage"
    assert attr.COST_AMOUNT not in a and attr.USAGE_COST_ALIAS not in a
    assert "plausible" in a[attr.COST_STATUS_DETAIL]
    # The reservation was given back and nothing was spent.
    assert all(spent == 0 and reserved == 0 for _, spent, reserved in spent_and_reserved(guard))


def test_a_provider_reported_cost_of_1e300_is_never_settled(
    client: openai.OpenAI, stub: StubProvider, guard: BudgetGuard, span_exporter: Any
) -> None:
    stub.enqueue("/v1/chat/completions", usage={"cost": 1e300})
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert all(spent == 0 and reserved == 0 for _, spent, reserved in spent_and_reserved(guard))


@pytest.mark.parametrize(
    "tokens", [2**63 - 1, 1e300, "99999999999999999999999", float("inf"), float("nan"), -5, True, "12e3", "٣"]
)
def test_a_foreign_span_with_absurd_counts_is_invalid_usage(
    tracer_provider: Any, span_exporter: Any, tokens: Any
) -> None:
    tracer = tracer_provider.get_tracer("some.other.instrumentation")
    with tracer.start_as_current_span("chat gpt-4o") as span:
        span.set_attributes(
            {
                attr.OPERATION_NAME: "chat",
                attr.PROVIDER_NAME: "openai",
                attr.REQUEST_MODEL: "gpt-4o",
                attr.USAGE_INPUT_TOKENS: tokens,
                attr.USAGE_OUTPUT_TOKENS: 10,
            }
        )
    [priced] = genai_spans(span_exporter, "some.other.instrumentation")
    a = attrs(priced)
    assert a[attr.COST_STATUS] == "invalid_usage", a
    assert attr.COST_AMOUNT not in a


def test_usage_bound_is_configurable() -> None:
    from genai_cost import plausibility

    TokenUsage(input_tokens=plausibility.DEFAULT_MAX_USAGE_TOKENS)
    with pytest.raises(InvalidUsage, match="plausible"):
        TokenUsage(input_tokens=plausibility.DEFAULT_MAX_USAGE_TOKENS + 1)
    with pytest.raises(InvalidUsage):
        TokenUsage(output_tokens=10, web_searches=10**12)
    try:
        plausibility.set_bounds(usage_tokens=1000)
        with pytest.raises(InvalidUsage):
            TokenUsage(input_tokens=1001)
    finally:
        plausibility.set_bounds(usage_tokens=plausibility.DEFAULT_MAX_USAGE_TOKENS)


@pytest.mark.parametrize("amount", [-50.0, float("nan"), float("inf"), 1e300])
def test_a_prepriced_span_with_an_absurd_amount_leaves_the_ledger_unchanged(tmp_path: Path, amount: float) -> None:
    ledger = f"sqlite://{tmp_path / 'ledger.db'}"
    guard = BudgetGuard([BudgetPolicy("company", limit=10.0, window="month")], open_ledger(ledger, timeout=1.0))
    with OtlpReceiver() as downstream:
        gateway = Gateway(
            gateway_config(downstream.endpoint, grpc_port=None, account_prepriced=True), budget_guard=guard
        ).start()
        try:
            provider = service("hostile", http_exporter(gateway))
            tracer = provider.get_tracer("t")
            for n, value in enumerate((0.25, amount, 0.5)):
                extra = {attr.COST_STATUS: "priced", attr.COST_AMOUNT: value, attr.RESPONSE_ID: f"r{n}"}
                with tracer.start_as_current_span(
                    "chat gpt-4o", attributes=genai_attributes("gpt-4o", "openai", 1, 1, **extra)
                ):
                    pass
            provider.shutdown()
            spans = sorted(
                downstream.wait_for_spans(lambda s: len(s) >= 3), key=lambda s: s.attributes[attr.RESPONSE_ID]
            )
        finally:
            gateway.shutdown()
    [(_key, spent, reserved)] = spent_and_reserved(guard)
    assert spent == 750_000 and reserved == 0  # 0.25 + 0.5: the absurd one counted as nothing
    assert len(spans) == 3  # delivered all the same
    absurd = spans[1].attributes
    assert absurd[attr.BUDGET_STATUS].startswith("not recorded")
    assert attr.BUDGET_SPENT not in absurd
    guard.close()
