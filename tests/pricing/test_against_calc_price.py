"""Property test: our totals equal genai-prices' own ``calc_price`` over the whole catalog.

Cases are drawn from the catalog itself (every provider's models), with usage shapes covering
plain, cached, cache-write (with and without 5m/1h split), reasoning, hosted tool calls, inputs
large enough to cross long-context tiers, audio/image tokens (the exact slow path), historic
timestamps and service-tier / batch variants. Deterministic (seeded) so CI failures reproduce;
set GENAI_COST_PROPERTY_SEED to explore other draws.
"""

from __future__ import annotations

import os
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import get_snapshot

from genai_cost.attributes import Status
from genai_cost.pricing import PriceCatalog
from genai_cost.usage import InvalidUsage, TokenUsage

SEED = int(os.environ.get("GENAI_COST_PROPERTY_SEED", "20261122"))
CASES = 3000
TOLERANCE = 1e-9

_VARIANTS = [None, {"service_tier": "flex"}, {"service_tier": "priority"}, {"processing": "batch"}]


def _draw_usage(rng: random.Random) -> TokenUsage:
    shape = rng.choice(
        ["plain", "cached", "cache_write", "ttl_split", "reasoning", "tools", "tier", "audio", "image", "mixed"]
    )
    scale = (
        rng.choice([10, 1_000, 50_000, 150_000, 250_000, 1_200_000])
        if shape in ("tier", "mixed")
        else rng.choice([10, 500, 5_000, 40_000])
    )
    input_tokens = rng.randint(1, scale)
    output_tokens = rng.randint(0, max(1, scale // 4))
    fields: dict[str, int] = {"input_tokens": input_tokens, "output_tokens": output_tokens}
    if shape in ("cached", "mixed", "tier"):
        fields["cache_read_tokens"] = rng.randint(0, input_tokens // 2)
    if shape in ("cache_write", "ttl_split", "mixed"):
        fields["cache_write_tokens"] = rng.randint(0, input_tokens - fields.get("cache_read_tokens", 0))
    if shape == "ttl_split":
        write = fields["cache_write_tokens"]
        five = rng.randint(0, write)
        fields["cache_write_5m_tokens"] = five
        fields["cache_write_1h_tokens"] = rng.randint(0, write - five)
    if shape in ("reasoning", "mixed"):
        fields["reasoning_tokens"] = rng.randint(0, output_tokens)
    if shape in ("tools", "mixed"):
        fields["web_searches"] = rng.randint(0, 5)
    if shape == "audio":
        fields["input_audio_tokens"] = rng.randint(0, input_tokens)
        fields["output_audio_tokens"] = rng.randint(0, output_tokens)
    if shape == "image":
        fields["input_image_tokens"] = rng.randint(0, input_tokens)
    return TokenUsage(**fields)


def _draw_time(rng: random.Random) -> datetime:
    start = datetime(2023, 6, 1, tzinfo=UTC)
    return start + timedelta(seconds=rng.randint(0, int((datetime(2026, 11, 1, tzinfo=UTC) - start).total_seconds())))


def _reference(
    usage: TokenUsage, model_id: str, provider_id: str, when: datetime, context: dict[str, str] | None
) -> Decimal | str:
    try:
        return calc_price(
            Usage(**usage.genai_prices_values()),
            model_id,
            provider_id=provider_id,
            genai_request_timestamp=when,
            price_context=context,
        ).total_price
    except ValueError as exc:
        return f"rejected: {exc}"


def test_totals_match_calc_price_over_the_catalog() -> None:
    rng = random.Random(SEED)
    snapshot = get_snapshot()
    # Models reachable by their own id (a few catalog ids do not match their own patterns).
    models = [
        (provider.id, model.id)
        for provider in snapshot.providers
        for model in provider.models
        if provider.find_model(model.id, all_providers=snapshot.providers) is model
    ]
    assert len(models) > 1000
    ours = PriceCatalog()
    mismatches: list[str] = []
    priced = rejected = 0
    for case in range(CASES):
        # Every model at least once, then random ones.
        provider_id, model_id = models[case] if case < len(models) else rng.choice(models)
        usage = _draw_usage(rng)
        when = _draw_time(rng)
        context = rng.choice(_VARIANTS)
        expected = _reference(usage, model_id, provider_id, when, context)
        got = ours.price(
            model_id,
            usage,
            provider_name=provider_id,
            start_time_ns=int(when.timestamp()) * 1_000_000_000,
            price_context=context,
        )
        where = f"{provider_id}/{model_id} {usage} at {when:%Y-%m-%d %H:%M} {context}"
        if isinstance(expected, str):
            rejected += 1
            if got.status != Status.INVALID_USAGE or got.amount is not None:
                mismatches.append(f"{where}: calc_price {expected}, we said {got.status} {got.amount}")
            continue
        priced += 1
        if got.amount is None:
            mismatches.append(f"{where}: calc_price {expected}, we said {got.status}: {got.detail}")
            continue
        parts = got.input + got.output + got.cache_read + got.cache_write + got.tools
        if abs(got.amount - float(expected)) > TOLERANCE or abs(parts - got.amount) > TOLERANCE:
            mismatches.append(f"{where}: calc_price {expected}, we {got.amount} (parts {parts})")
    assert not mismatches, f"{len(mismatches)} of {CASES} disagree, e.g.:\n" + "\n".join(mismatches[:20])
    assert priced >= 1000, f"only {priced} priced cases"
    print(f"{priced} priced cases agree; {rejected} rejected by both")


@pytest.mark.parametrize(
    "bad",
    [
        {"input_tokens": 10, "cache_read_tokens": 20},
        {"input_tokens": 10, "output_tokens": 5, "reasoning_tokens": 6},
        {"input_tokens": -1},
        {"input_tokens": "12"},
        {"input_tokens": 100, "cache_write_tokens": 10, "cache_write_5m_tokens": 8, "cache_write_1h_tokens": 8},
    ],
)
def test_impossible_usage_is_rejected_with_a_reason(bad: dict) -> None:
    with pytest.raises(InvalidUsage) as info:
        TokenUsage(**bad)
    assert str(info.value)


def test_long_context_tier_boundaries_match_calc_price() -> None:
    """Every tiered model at each threshold and one token either side (the "cliff")."""
    from genai_prices.types import TieredPrices

    snapshot = get_snapshot()
    ours = PriceCatalog()
    when = datetime(2026, 10, 1, tzinfo=UTC)
    checked = 0
    mismatches = []
    for provider in snapshot.providers:
        for model in provider.models:
            if provider.find_model(model.id, all_providers=snapshot.providers) is not model:
                continue
            prices = model.get_prices(when)
            starts = {t.start for v in prices.__dict__.values() if isinstance(v, TieredPrices) for t in v.tiers}
            for start in starts:
                for input_tokens in (start - 1, start, start + 1):
                    usage = TokenUsage(
                        input_tokens=input_tokens, output_tokens=1000, cache_read_tokens=input_tokens // 3
                    )
                    expected = _reference(usage, model.id, provider.id, when, None)
                    got = ours.price(
                        model.id, usage, provider_name=provider.id, start_time_ns=int(when.timestamp() * 1e9)
                    )
                    checked += 1
                    if isinstance(expected, str) or got.amount is None or abs(got.amount - float(expected)) > TOLERANCE:
                        mismatches.append(f"{provider.id}/{model.id} input={input_tokens}: {expected} vs {got.amount}")
    assert checked > 100
    assert not mismatches, "\n".join(mismatches[:20])
