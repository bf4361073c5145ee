"""Turning budget settings into the process's guard (``configure()`` and zero-code both use it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from genai_cost.budget import install_guard
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import LedgerUnavailable
from genai_cost.budget.policy import BudgetPolicy, BudgetSettings, InvalidBudget, as_policies
from genai_cost.errors import ConfigError

if TYPE_CHECKING:
    from genai_cost.budget.alerts import AlertSettings


def apply_budgets(settings: BudgetSettings) -> BudgetGuard | None:
    """Install a guard for ``settings`` (none when it has no policies); the old one is closed.

    A ledger that cannot even be opened (an unwritable SQLite path, redis-py not installed) is a
    configuration error; one that is merely down (Redis) is the fail mode's business, per call.
    """
    guard = None
    if settings.policies:
        try:
            guard = BudgetGuard.from_settings(settings)
        except (LedgerUnavailable, ImportError) as exc:
            raise ConfigError(f"budgets.ledger: cannot open {settings.ledger!r}: {exc}") from None
    previous = install_guard(guard)
    if previous is not None:
        previous.close()
    return guard


def start_budgets(settings: BudgetSettings, alerts: AlertSettings) -> BudgetGuard | None:
    """``apply_budgets``, with alerts going to the log and the webhooks, and the remaining-budget
    gauge exported: what a process with budgets configured runs (the SDK, the gateway)."""
    guard = apply_budgets(settings)
    if guard is not None:
        from genai_cost.budget.alerts import AlertDispatcher
        from genai_cost.budget.status import ensure_remaining_gauge

        guard.on_alert.append(AlertDispatcher(alerts))
        ensure_remaining_gauge()
    return guard


def budgets_in_code(
    settings: BudgetSettings,
    budgets: Sequence[BudgetPolicy | Mapping[str, object]] | None,
    ledger: str | None,
    fail_mode: str | None,
) -> BudgetSettings:
    """``configure(budgets=..., ledger=..., budget_fail_mode=...)`` over the file/env settings.
    Raises ``InvalidBudget`` (a ``ValueError``) naming the budget and key."""
    changes: dict[str, object] = {}
    if budgets is not None:
        try:
            changes["policies"] = as_policies(budgets)
        except TypeError as exc:  # a mapping with an unknown key
            raise InvalidBudget("*", "budgets", str(exc)) from None
    if ledger is not None:
        changes["ledger"] = ledger
    if fail_mode is not None:
        changes["fail_mode"] = fail_mode
    if not changes:
        return settings
    return replace(settings, **changes)  # type: ignore[arg-type]
