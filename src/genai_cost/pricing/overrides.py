"""User price overrides: custom models, deployment aliases, negotiated discounts, GPU-hour prices.

These come from the ``pricing:`` section of the config file (validated in ``genai_cost.config``)
and take precedence over the catalog. Model patterns are shell globs (``gpt-4o*``), matched
case-insensitively.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

from genai_cost.pricing.plan import Amounts
from genai_cost.usage import TokenUsage

_MTOK = 1_000_000


def _matches(pattern: str | None, value: str | None) -> bool:
    if pattern is None:
        return True
    return value is not None and fnmatchcase(value.lower(), pattern.lower())


@dataclass(frozen=True, slots=True)
class CustomPrice:
    """A price the user states for a model the catalog lacks (fine-tune, private deployment).

    Either per-token prices (money per million tokens) or a time-based price for self-hosted
    models: money per GPU-hour times the number of GPUs, charged for the call's share of its
    endpoint's busy time (``pricing.busy_time``; the catalog marks such prices ``estimated``).
    ``per_search_unit`` prices what is billed per search (Cohere's rerank search units); without
    it a call that reports searches is unpriced, never charged 0 for them.
    """

    model: str
    provider: str | None = None
    input_per_mtok: float = 0.0
    output_per_mtok: float = 0.0
    cache_read_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None
    per_gpu_hour: float | None = None
    gpus: float = 1.0
    currency: str = "USD"
    per_search_unit: float | None = None

    @property
    def is_time_based(self) -> bool:
        return self.per_gpu_hour is not None

    def matches(self, provider_id: str | None, model: str) -> bool:
        return _matches(self.model, model) and _matches(self.provider, provider_id)

    def amounts(self, usage: TokenUsage, duration_s: float | None) -> Amounts:
        if self.per_gpu_hour is not None:
            # Self-hosted capacity is paid by time, not tokens: ``duration_s`` is the call's share
            # of the endpoint's busy time.
            compute = self.per_gpu_hour * self.gpus * (duration_s or 0.0) / 3600.0
            return (compute, 0.0, 0.0, 0.0, 0.0, 0.0)
        rate_in = self.input_per_mtok / _MTOK
        # Without a cache price, cached tokens are charged as plain input.
        rate_read = rate_in if self.cache_read_per_mtok is None else self.cache_read_per_mtok / _MTOK
        rate_write = rate_in if self.cache_write_per_mtok is None else self.cache_write_per_mtok / _MTOK
        plain_input = usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens
        return (
            plain_input * rate_in,
            usage.output_tokens * self.output_per_mtok / _MTOK,
            usage.cache_read_tokens * rate_read,
            usage.cache_write_tokens * rate_write,
            usage.rerank_searches * self.per_search_unit if self.per_search_unit else 0.0,
            usage.cache_read_tokens * (rate_in - rate_read),
        )


@dataclass(frozen=True, slots=True)
class Discount:
    """A negotiated discount, in percent, on catalog prices matching provider/model."""

    percent: float
    provider: str | None = None
    model: str | None = None

    def matches(self, provider_id: str | None, model: str) -> bool:
        return _matches(self.model, model) and _matches(self.provider, provider_id)


@dataclass(frozen=True, slots=True)
class PriceOverrides:
    # Model name as spans carry it (e.g. an Azure deployment) -> the model to price it as.
    aliases: dict[str, str] = field(default_factory=dict)
    custom_models: tuple[CustomPrice, ...] = ()
    discounts: tuple[Discount, ...] = ()

    def resolve_alias(self, model: str) -> str:
        return self.aliases.get(model) or self.aliases.get(model.lower()) or model

    def custom_price(self, provider_id: str | None, model: str) -> CustomPrice | None:
        return next((c for c in self.custom_models if c.matches(provider_id, model)), None)

    def discount_factor(self, provider_id: str | None, model: str, catalog_model_id: str) -> float:
        for discount in self.discounts:
            if discount.matches(provider_id, model) or discount.matches(provider_id, catalog_model_id):
                return 1.0 - discount.percent / 100.0
        return 1.0
