"""The result of pricing one call, and how it is written onto a span."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from genai_cost import attributes as attr
from genai_cost.attributes import Status
from genai_cost.pricing.plan import Amounts


@dataclass(slots=True)
class CostBreakdown:
    """What one call cost, part by part, and which price produced it.

    ``amount`` is ``None`` whenever the call could not be priced: an unknown model is never
    reported as free. The parts always sum to ``amount``. Treat instances as immutable: unpriced
    results are cached and shared (not frozen only because frozen dataclasses are slow to build).
    """

    status: str
    amount: float | None = None
    input: float = 0.0
    output: float = 0.0
    cache_read: float = 0.0
    cache_write: float = 0.0
    tools: float = 0.0
    savings: float = 0.0
    currency: str = "USD"
    price_model: str | None = None
    price_provider: str | None = None
    source: str | None = None
    detail: str | None = None

    @classmethod
    def priced(
        cls,
        amounts: Amounts,
        *,
        currency: str,
        price_model: str,
        price_provider: str | None,
        source: str,
        status: str = Status.PRICED,
        detail: str | None = None,
    ) -> CostBreakdown:
        i, o, cr, cw, t, s = amounts
        total = i + o + cr + cw + t
        return cls(status, total, i, o, cr, cw, t, s, currency, price_model, price_provider, source, detail)

    @classmethod
    def unpriced(cls, status: str, detail: str | None = None) -> CostBreakdown:
        return cls(status=status, detail=detail)

    @property
    def is_priced(self) -> bool:
        return self.amount is not None

    def with_status(self, status: str, detail: str | None = None) -> CostBreakdown:
        """The same price under another status (``partial``/``estimated`` streams)."""
        from dataclasses import replace

        return replace(self, status=status, detail=detail if detail is not None else self.detail)

    def span_attributes(self, amount_aliases: Sequence[str] = (attr.USAGE_COST_ALIAS,)) -> dict[str, object]:
        """The ``genai_cost.*`` attributes for a span (DESIGN.md, "Span contract")."""
        out: dict[str, object] = {attr.COST_STATUS: self.status}
        if self.detail:
            out[attr.COST_STATUS_DETAIL] = self.detail
        if self.amount is None:
            return out
        out[attr.COST_AMOUNT] = self.amount
        out[attr.COST_CURRENCY] = self.currency
        out[attr.COST_INPUT] = self.input
        out[attr.COST_OUTPUT] = self.output
        # Parts that are zero are left out (absent means 0): most calls have no cache writes or
        # tool fees, and every attribute costs the SDK a validation on every span.
        if self.cache_read:
            out[attr.COST_CACHE_READ] = self.cache_read
        if self.cache_write:
            out[attr.COST_CACHE_WRITE] = self.cache_write
        if self.tools:
            out[attr.COST_TOOLS] = self.tools
        if self.savings:
            out[attr.COST_SAVINGS] = self.savings
        if self.price_model is not None:
            out[attr.PRICE_MODEL] = self.price_model
        if self.price_provider is not None:
            out[attr.PRICE_PROVIDER] = self.price_provider
        if self.source is not None:
            out[attr.PRICE_SOURCE] = self.source
        for alias in amount_aliases:
            out[alias] = self.amount
        return out
