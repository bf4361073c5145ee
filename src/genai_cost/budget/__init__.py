"""Budgets: policies, ledgers (memory, SQLite, Redis), the per-call guard, and alerts.

The pieces, one job each: ``policy`` (what a budget is), ``windows`` (calendar windows in a time
zone), ``ledger`` (atomic integer spend: memory, SQLite, Redis), ``estimate`` (the pre-call
estimate, counted offline), ``guard`` (reserve/decide, settle, release, status), ``state`` (the
decision, status and alert records), ``hook`` (the guard's side of the instrumentation
lifecycle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from genai_cost.budget.errors import BudgetExceeded

if TYPE_CHECKING:
    from genai_cost.budget.guard import BudgetGuard

__all__ = ["BudgetExceeded", "active_guard", "install_guard"]


def active_guard() -> BudgetGuard | None:
    """The process's budget guard, or None when no budgets are configured."""
    from genai_cost import runtime

    guard: BudgetGuard | None = runtime.budget_guard
    return guard


def install_guard(guard: BudgetGuard | None) -> BudgetGuard | None:
    """Make ``guard`` decide every instrumented call from now on (None: budgets off); returns the
    guard it replaces, whose ledger the caller may close."""
    from genai_cost import runtime

    previous: BudgetGuard | None = runtime.budget_guard
    runtime.budget_guard = guard
    return previous
