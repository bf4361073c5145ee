"""genai-cost: LLM spend as an OpenTelemetry signal.

``import genai_cost`` is cheap: the SDK pieces and the price data load only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from genai_cost.version import __version__

__all__ = [
    "BudgetExceeded",
    "BudgetPolicy",
    "ConfigError",
    "CostBreakdown",
    "CostSpanProcessor",
    "TokenUsage",
    "__version__",
    "budget_status",
    "configure",
    "cost_context",
    "price",
]

if TYPE_CHECKING:
    from genai_cost.autoconfig import configure
    from genai_cost.budget.errors import BudgetExceeded
    from genai_cost.budget.policy import BudgetPolicy
    from genai_cost.budget.status import budget_status
    from genai_cost.errors import ConfigError
    from genai_cost.context import cost_context
    from genai_cost.pricing.breakdown import CostBreakdown
    from genai_cost.processor import CostSpanProcessor
    from genai_cost.usage import TokenUsage

_LAZY = {
    "BudgetExceeded": "genai_cost.budget.errors",
    "BudgetPolicy": "genai_cost.budget.policy",
    "budget_status": "genai_cost.budget.status",
    "configure": "genai_cost.autoconfig",
    "ConfigError": "genai_cost.errors",
    "cost_context": "genai_cost.context",
    "CostBreakdown": "genai_cost.pricing.breakdown",
    "CostSpanProcessor": "genai_cost.processor",
    "TokenUsage": "genai_cost.usage",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'genai_cost' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def price(model: str, usage: TokenUsage, *, provider: str | None = None, **kwargs: Any) -> CostBreakdown:
    """Price one call by hand: ``genai_cost.price("gpt-4o", TokenUsage(input_tokens=1000))``."""
    from genai_cost.pricing import catalog

    return catalog().price(model, usage, provider_name=provider, **kwargs)
