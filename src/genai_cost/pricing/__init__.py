"""Pricing: what a call cost, from genai-prices' catalog plus the user's overrides.

The public surface is small: ``catalog()`` returns the process-wide ``PriceCatalog``;
``PriceCatalog.price(model, usage, ...)`` returns a ``CostBreakdown``.
"""

from __future__ import annotations

import threading

from genai_cost.pricing.breakdown import CostBreakdown
from genai_cost.pricing.catalog import PriceCatalog
from genai_cost.pricing.overrides import CustomPrice, Discount, PriceOverrides

__all__ = ["CostBreakdown", "CustomPrice", "Discount", "PriceCatalog", "PriceOverrides", "catalog", "set_catalog"]

_catalog: PriceCatalog | None = None
_lock = threading.Lock()


def catalog() -> PriceCatalog:
    """The process-wide catalog (created empty of overrides on first use)."""
    global _catalog
    if _catalog is None:
        with _lock:
            if _catalog is None:
                _catalog = PriceCatalog()
    return _catalog


def set_catalog(new: PriceCatalog) -> None:
    """Install a catalog (``configure()`` does this with the configured overrides)."""
    global _catalog
    _catalog = new
