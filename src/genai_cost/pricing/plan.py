"""Compiled price plans: one resolved genai-prices ``ModelPrice`` turned into plain float rates.

genai-prices prices a call by decomposing usage into "leaf" units (input tokens that are not cache
reads, cache writes that are not 1-hour writes, ...), each charged at its own price, with tiers
chosen by the total input size. Done per call that costs 70-100 µs. The decomposition is linear in
the reported counts, so we do it once per (model, price period) symbolically: every usage field
gets a rate per breakdown bucket, and pricing a call is a handful of multiplications.

Only the common usage fields take this fast path (plain/cached/reasoning tokens and hosted tool
calls). Audio/image token counts make genai-prices' own inference rules apply (some combinations
must be reported explicitly), so those calls go through ``exact_breakdown``, which runs
genai-prices' own decomposition. The property test checks both against ``calc_price``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from genai_cost.usage import TokenUsage

# Breakdown buckets, in the order of the rate tuples below.
INPUT, OUTPUT, CACHE_READ, CACHE_WRITE, TOOLS = range(5)
BUCKETS = 5

# TokenUsage field -> genai-prices usage key, for the fields the fast path handles.
FAST_FIELDS: tuple[tuple[str, str], ...] = (
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cache_read_tokens", "cache_read_tokens"),
    ("cache_write_tokens", "cache_write_tokens"),
    ("cache_write_5m_tokens", "cache_write_5m_tokens"),
    ("cache_write_1h_tokens", "cache_write_1h_tokens"),
    ("reasoning_tokens", "output_reasoning_tokens"),
    ("web_searches", "web_searches"),
    ("code_executions", "code_executions"),
    ("rerank_searches", "rerank_searches"),
)
_FAST_KEY_TO_FIELD = {key: field for field, key in FAST_FIELDS}


def _bucket_of(unit: Any) -> int:
    dims = unit.dimensions
    token_type = dims.get("token_type")
    if token_type == "cache_read":
        return CACHE_READ
    if token_type == "cache_write":
        return CACHE_WRITE
    if dims.get("family") in ("tool_calls", "rerank"):
        return TOOLS
    if dims.get("direction") == "output":
        return OUTPUT
    # Input-direction units, and per-request / duration fees that have no direction.
    return INPUT


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-bucket amounts for one tier band: ``rows`` are (TokenUsage field, rates per bucket)."""

    rows: tuple[tuple[str, tuple[float, ...]], ...]
    constant: tuple[float, ...]  # per-request fees
    # Money saved per cache-read token against the uncached input price (may be 0).
    savings_per_cache_read: float

    def compile(self) -> Callable[[TokenUsage], tuple[float, ...]]:
        """A function computing this band's amounts with the rates inlined as literals.

        Generated code (as ``dataclasses`` and ``namedtuple`` do) because this runs on every
        call: a straight-line expression is ~3x faster than looping over the rate table. Float
        ``repr`` round-trips exactly, so the literals are the rates bit for bit.
        """
        terms: list[list[str]] = [[repr(c)] if c else [] for c in self.constant]
        for field, rates in self.rows:
            for bucket, rate in enumerate(rates):
                if rate:
                    terms[bucket].append(f"u.{field} * {rate!r}")
        sums = [" + ".join(t) if t else "0.0" for t in terms]
        savings = f"u.cache_read_tokens * {self.savings_per_cache_read!r}" if self.savings_per_cache_read else "0.0"
        source = f"def amounts(u):\n    return ({', '.join(sums)}, {savings})\n"
        namespace: dict[str, Any] = {}
        exec(source, namespace)
        return namespace["amounts"]  # type: ignore[no-any-return]


# (input, output, cache_read, cache_write, tools, savings): a plain tuple because building it
# is on every call's path and a tuple is the cheapest record Python has.
Amounts = tuple[float, float, float, float, float, float]


def scale(amounts: Amounts, factor: float) -> Amounts:
    i, o, cr, cw, t, s = amounts
    return (i * factor, o * factor, cr * factor, cw * factor, t * factor, s * factor)


class PricePlan:
    """Float rates for one resolved ``ModelPrice``; ``amounts(usage)`` is the hot path."""

    __slots__ = ("model_price", "_thresholds", "_bands", "_single")

    def __init__(self, model_price: Any) -> None:
        from genai_prices.types import TieredPrices  # deferred: genai-prices loads lazily
        from genai_prices.units import _get_registry  # pinned <0.3: private API is stable there
        from genai_prices.validation import validate_priced_units

        self.model_price = model_price
        registry = _get_registry()
        priced = [
            (unit, price)
            for unit in registry.units.values()
            if (price := getattr(model_price, unit.price_key, None)) is not None
        ]
        validate_priced_units(tuple(unit for unit, _ in priced), registry)
        thresholds = sorted(
            {tier.start for _, price in priced if isinstance(price, TieredPrices) for tier in price.tiers}
        )
        self._thresholds = thresholds
        self._bands = tuple(_compile_band(priced, band, thresholds).compile() for band in range(len(thresholds) + 1))
        self._single = self._bands[0] if len(self._bands) == 1 else None

    def amounts(self, usage: TokenUsage) -> Amounts:
        single = self._single
        if single is not None:
            return single(usage)  # type: ignore[return-value]
        # A tier applies when total input is strictly greater than its start (genai-prices'
        # "cliff" model); bisect_left counts the thresholds below the input size.
        return self._bands[bisect_left(self._thresholds, usage.input_tokens)](usage)  # type: ignore[return-value]


def _compile_band(priced: list[tuple[Any, Any]], band: int, thresholds: list[int]) -> Rates:
    from genai_prices.types import TieredPrices

    def price_in_band(price: Any) -> float:
        if not isinstance(price, TieredPrices):
            return float(price)
        # In band b the input size is above thresholds[b-1]: every tier starting at or below it
        # applies, and the highest such tier wins.
        applicable = price.base
        if band:
            limit = thresholds[band - 1]
            for tier in price.tiers:
                if tier.start <= limit:
                    applicable = tier.price
        return float(applicable)

    token_units = [(unit, price) for unit, price in priced if unit.usage_key != "requests"]
    # Leaf decomposition exactly as genai_prices.decompose.compute_leaf_values, but symbolic:
    # each leaf is a linear combination of reported counts.
    ordered = sorted(token_units, key=lambda up: (-len(up[0].dimensions), up[0].usage_key))
    leaf_coefficients: dict[str, dict[str, int]] = {}
    for unit, _ in ordered:
        coefficients = {unit.usage_key: 1}
        for other, _ in ordered:
            if other is not unit and unit.dimensions.items() <= other.dimensions.items():
                for key, c in leaf_coefficients[other.usage_key].items():
                    coefficients[key] = coefficients.get(key, 0) - c
        leaf_coefficients[unit.usage_key] = coefficients

    rates: dict[str, list[float]] = {}
    for unit, price in token_units:
        per_unit = price_in_band(price) / unit.per
        bucket = _bucket_of(unit)
        for key, c in leaf_coefficients[unit.usage_key].items():
            field = _FAST_KEY_TO_FIELD.get(key)
            if field is None:
                continue  # a count the fast path never reports is zero, so its leaf adds nothing
            rates.setdefault(field, [0.0] * BUCKETS)[bucket] += c * per_unit

    constant = [0.0] * BUCKETS
    for unit, price in priced:
        if unit.usage_key == "requests":
            constant[_bucket_of(unit)] += price_in_band(price) / unit.per
    cache_read_rates = rates.get("cache_read_tokens")
    return Rates(
        rows=tuple((field, tuple(r)) for field, r in rates.items() if any(r)),
        constant=tuple(constant),
        savings_per_cache_read=-sum(cache_read_rates) if cache_read_rates else 0.0,
    )


def exact_breakdown(model_price: Any, usage: TokenUsage) -> Amounts:
    """genai-prices' own decomposition, per bucket (for usage the fast path does not cover).

    Raises ``ValueError`` when genai-prices rejects the usage shape.
    """
    amounts = _exact_buckets(model_price, usage.genai_prices_values())
    if usage.cache_read_tokens:
        uncached = dict(usage.genai_prices_values())
        for key in [k for k in uncached if "read" in k]:
            del uncached[key]
        savings = sum(_exact_buckets(model_price, uncached)) - sum(amounts)
    else:
        savings = 0.0
    i, o, cr, cw, t = amounts
    return (i, o, cr, cw, t, max(savings, 0.0))


def _exact_buckets(model_price: Any, values: Mapping[str, int]) -> list[float]:
    from genai_prices.types import (
        TieredPrices,
        Usage,
        _collect_resolved_model_prices,
        _compute_registry_priced_counts,
        calc_unit_price,
    )
    from genai_prices.units import _get_registry
    from genai_prices.validation import validate_priced_units

    registry = _get_registry()
    resolved = _collect_resolved_model_prices(model_price, registry)
    validate_priced_units(tuple(unit for unit, _ in resolved), registry)
    usage = Usage(**values)
    counts = _compute_registry_priced_counts(resolved, usage)
    total_input = usage.input_tokens if any(isinstance(p, TieredPrices) for _, p in resolved) else 0
    buckets = [Decimal(0)] * BUCKETS
    for unit, price in resolved:
        buckets[_bucket_of(unit)] += calc_unit_price(price, counts[unit.usage_key], total_input, unit.per)
    return [float(b) for b in buckets]
