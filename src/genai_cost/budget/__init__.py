"""Budgets: policies, ledgers (memory, SQLite, Redis), the per-call guard, and alerts."""

from __future__ import annotations

from genai_cost.budget.errors import BudgetExceeded

__all__ = ["BudgetExceeded"]
