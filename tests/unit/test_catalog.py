"""The catalog beyond plain look-ups: names as spans carry them, overrides, history, misses."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from genai_prices import Usage, calc_price

from genai_cost.attributes import Status
from genai_cost.pricing import CustomPrice, Discount, PriceCatalog, PriceOverrides
from genai_cost.usage import TokenUsage

USAGE = TokenUsage(input_tokens=10_000, output_tokens=1_000, cache_read_tokens=4_000)


def reference(model: str, provider: str, when: datetime | None = None) -> float:
    return float(
        calc_price(
            Usage(input_tokens=10_000, output_tokens=1_000, cache_read_tokens=4_000),
            model,
            provider_id=provider,
            genai_request_timestamp=when,
        ).total_price
    )


@pytest.mark.parametrize(
    ("provider_name", "model", "server", "expect_provider", "expect_model"),
    [
        ("openai", "gpt-4o-mini-2024-07-18", None, "openai", "gpt-4o-mini"),
        ("openai", "ft:gpt-4o-mini-2024-07-18:acme::AbC123", None, "openai", "ft:gpt-4o-mini"),
        ("aws.bedrock", "us.anthropic.claude-3-5-sonnet-20240620-v1:0", None, "aws", None),
        (
            "aws.bedrock",
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.anthropic.claude-3-5-sonnet-20240620-v1:0",
            None,
            "aws",
            None,
        ),
        ("gcp.vertex_ai", "claude-3-5-sonnet-v2@20241022", None, "google", "claude-3-5-sonnet"),
        ("gcp.gemini", "models/gemini-2.0-flash", None, "google", "gemini-2.0-flash"),
        ("openrouter", "openai/gpt-4o", None, "openrouter", "openai/gpt-4o"),
        (None, "openai/gpt-4o", None, "openai", "gpt-4o"),
        ("azure.ai.openai", "gpt-4o-2024-08-06", None, "azure", "gpt-4o"),
        ("openai", "llama-3.1-8b-instant", "api.groq.com", "groq", "llama-3.1-8b-instant"),
        ("Anthropic", "claude-sonnet-4-5-20250929", None, "anthropic", "claude-sonnet-4-5"),
    ],
)
def test_names_as_spans_carry_them(provider_name, model, server, expect_provider, expect_model) -> None:
    catalog = PriceCatalog()
    cost = catalog.price(model, USAGE, provider_name=provider_name, server_address=server)
    assert cost.status == Status.PRICED, cost.detail
    assert cost.price_provider == expect_provider
    if expect_model:
        assert cost.price_model == expect_model
    # oracle: genai-prices' own calculation on the catalog entry that matched
    match = catalog.resolve(model, provider_name, server)
    expected = match.model.calc_price(
        Usage(input_tokens=10_000, output_tokens=1_000, cache_read_tokens=4_000), match.provider
    )
    assert cost.amount == pytest.approx(float(expected.total_price), abs=1e-12)


def test_unknown_model_is_unknown_and_the_miss_is_cached() -> None:
    catalog = PriceCatalog()
    first = catalog.price("my-private-model", USAGE, provider_name="openai")
    assert first.status == Status.UNKNOWN_MODEL and first.amount is None
    assert "my-private-model" in first.detail
    assert catalog.price("my-private-model", USAGE, provider_name="openai") is first  # no second search
    # a local server is never guessed at by model name alone
    assert catalog.price("llama3.2", USAGE, provider_name="openai", server_address="localhost").amount is None


def test_alias_maps_azure_deployment_to_base_model() -> None:
    catalog = PriceCatalog(PriceOverrides(aliases={"prod-chat": "gpt-4o-2024-08-06"}))
    cost = catalog.price("prod-chat", USAGE, provider_name="azure.ai.openai")
    assert cost.amount == pytest.approx(reference("gpt-4o", "azure"), abs=1e-12)


def test_discount_scales_every_part_and_says_so() -> None:
    catalog = PriceCatalog(PriceOverrides(discounts=(Discount(percent=20, provider="openai", model="gpt-4o*"),)))
    cost = catalog.price("gpt-4o", USAGE, provider_name="openai")
    assert cost.amount == pytest.approx(0.8 * reference("gpt-4o", "openai"), abs=1e-12)
    assert cost.input + cost.output + cost.cache_read + cost.cache_write + cost.tools == pytest.approx(cost.amount)
    assert "discount=20" in cost.source
    # other providers' prices are untouched
    assert catalog.price("claude-sonnet-4-5", USAGE, provider_name="anthropic").amount == pytest.approx(
        reference("claude-sonnet-4-5", "anthropic"), abs=1e-12
    )


def test_custom_token_price_for_a_fine_tune() -> None:
    custom = CustomPrice(
        model="ft:gpt-4o-mini:acme:*", input_per_mtok=1.0, output_per_mtok=4.0, cache_read_per_mtok=0.5
    )
    cost = PriceCatalog(PriceOverrides(custom_models=(custom,))).price(
        "ft:gpt-4o-mini:acme:v2:xyz", USAGE, provider_name="openai"
    )
    assert cost.source == "override" and cost.status == Status.PRICED
    assert cost.amount == pytest.approx((6_000 * 1.0 + 4_000 * 0.5 + 1_000 * 4.0) / 1e6)
    assert cost.savings == pytest.approx(4_000 * 0.5 / 1e6)


def test_gpu_hour_price_charges_the_call_duration() -> None:
    custom = CustomPrice(model="llama-3.1-70b", per_gpu_hour=3.6, gpus=2, currency="EUR")
    catalog = PriceCatalog(PriceOverrides(custom_models=(custom,)))
    cost = catalog.price("llama-3.1-70b", USAGE, provider_name="openai", server_address="localhost", duration_s=10)
    assert cost.amount == pytest.approx(3.6 * 2 * 10 / 3600) and cost.currency == "EUR"
    # time-based prices do not need token usage at all
    assert catalog.price("llama-3.1-70b", None, duration_s=1).amount == pytest.approx(0.002)
    # without a duration there is nothing to charge: unpriced and saying why, never a silent 0
    unknown = catalog.price("llama-3.1-70b", USAGE)
    assert unknown.amount is None and unknown.status == Status.NO_USAGE
    assert "per GPU-hour" in (unknown.detail or "")


def test_historic_price_follows_the_call_start_time() -> None:
    """gpt-4o's price dropped in Oct 2024: a span from before then is priced at the old price."""
    catalog = PriceCatalog()
    before = datetime(2024, 6, 1, tzinfo=UTC)
    after = datetime(2025, 6, 1, tzinfo=UTC)
    old = catalog.price("gpt-4o", USAGE, provider_name="openai", start_time_ns=int(before.timestamp() * 1e9))
    new = catalog.price("gpt-4o", USAGE, provider_name="openai", start_time_ns=int(after.timestamp() * 1e9))
    assert old.amount == pytest.approx(reference("gpt-4o", "openai", before), abs=1e-12)
    assert new.amount == pytest.approx(reference("gpt-4o", "openai", after), abs=1e-12)


def test_service_tier_variant() -> None:
    catalog = PriceCatalog()
    flex = catalog.price("o3", USAGE, provider_name="openai", price_context={"service_tier": "flex"})
    default = catalog.price("o3", USAGE, provider_name="openai")
    expected = calc_price(
        Usage(input_tokens=10_000, output_tokens=1_000, cache_read_tokens=4_000),
        "o3",
        provider_id="openai",
        price_context={"service_tier": "flex"},
    ).total_price
    assert flex.amount == pytest.approx(float(expected), abs=1e-12)
    assert flex.amount < default.amount


def test_no_model_or_no_usage_is_not_a_price() -> None:
    catalog = PriceCatalog()
    assert catalog.price(None, USAGE).status == Status.UNKNOWN_MODEL
    assert catalog.price("gpt-4o", None, provider_name="openai").status == Status.NO_USAGE


@pytest.mark.parametrize("searches", [1, 7, 1000])
def test_search_units_are_priced_as_genai_prices_prices_them(searches: int) -> None:
    # genai-prices' data model has a per-1,000-searches unit (rerank_searches_kcount); no model in
    # its data uses it yet, so the plan is checked against calc_price on a price that does.
    from decimal import Decimal

    from genai_prices.types import ModelPrice

    from genai_cost.pricing.plan import PricePlan

    price = ModelPrice(input_mtok=Decimal("0.5"), rerank_searches_kcount=Decimal("2"))
    usage = TokenUsage(input_tokens=1200, rerank_searches=searches)
    expected = float(price.calc_price(Usage(input_tokens=1200, rerank_searches=searches))["total_price"])
    assert sum(PricePlan(price).amounts(usage)[:5]) == pytest.approx(expected, abs=1e-12)


def test_search_units_without_a_search_price_are_unknown_never_free() -> None:
    per_token = CustomPrice(model="rerank-english-*", input_per_mtok=1.0)
    per_search = CustomPrice(model="rerank-v3.5", per_search_unit=0.002)
    catalog = PriceCatalog(PriceOverrides(custom_models=(per_token, per_search)))
    searched = TokenUsage(rerank_searches=3)
    priced = catalog.price("rerank-v3.5", searched, provider_name="cohere")
    assert priced.status == Status.PRICED and priced.amount == pytest.approx(0.006) and priced.tools == priced.amount
    for model in ("rerank-english-v3.0", "rerank-nobody-knows"):
        cost = catalog.price(model, searched, provider_name="cohere")
        assert cost.status == Status.UNKNOWN_MODEL and cost.amount is None
        assert "3 search unit(s)" in (cost.detail or "")
