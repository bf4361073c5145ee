"""What the guard hands out: a call's ``Decision``, a budget's ``BudgetStatus``, and the
``BudgetAlert`` events alert sinks (log, webhooks) receive.

Money here is in currency units (floats, for spans and people); the ledger keeps integer
micro-units and these are converted once, at the edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from genai_cost import attributes as attr
from genai_cost.budget.errors import BudgetExceeded
from genai_cost.budget.policy import ALLOW, BLOCK, DOWNGRADE


@dataclass(slots=True)
class BudgetState:
    """One budget scope in its current window, as a decision or a status saw it."""

    name: str
    scope: str  # the fan-out value (``alice`` for ``per: user``), "" for a plain budget
    window: str  # hour, day, month
    window_name: str  # the concrete window: 2026-12, 2026-12-01, 2026-12-01T10+0000
    limit: float
    spent: float
    reserved: float
    reset_at: datetime
    currency: str
    action: str

    @property
    def remaining(self) -> float:
        return max(0.0, self.limit - self.spent - self.reserved)


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """``BudgetGuard.status()`` row: a budget scope's spend, what is left, and where it is heading.

    ``projected`` is the current window's rate of spend (``spent`` over the time elapsed in the
    window) extrapolated over the calendar month in the budget's time zone: for a month budget,
    what the month will cost at this pace; for day/hour budgets, what a month at today's/this
    hour's pace would cost.
    """

    name: str
    scope: str
    window: str
    window_name: str
    limit: float
    spent: float
    reserved: float
    remaining: float
    reset_at: datetime
    projected: float
    currency: str
    action: str
    status: str | None = None  # why the figures are missing (ledger unavailable), if they are


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    """Something people should hear about: a threshold crossed, or a call blocked/warned/downgraded.

    ``kind`` is ``threshold`` (``threshold`` holds the percentage), ``block``, ``warn`` or
    ``downgrade``. Threshold alerts happen exactly once per budget scope, window and threshold
    (the ledger's atomic settle tells which call crossed it); block/warn/downgrade alerts happen on
    every such call, so sinks deduplicate by ``dedup_key`` (one per budget scope, window and kind).
    """

    kind: str
    budget: str
    scope: str
    window: str
    window_name: str
    limit: float
    spent: float
    currency: str
    reset_at: datetime
    at: datetime
    threshold: float | None = None
    model: str | None = None
    downgrade_to: str | None = None

    @property
    def dedup_key(self) -> str:
        which = f"{self.kind}:{self.threshold:g}" if self.threshold is not None else self.kind
        return f"{self.budget}|{self.scope}|{self.window_name}|{which}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "budget": self.budget,
            "scope": self.scope,
            "window": self.window,
            "window_name": self.window_name,
            "limit": self.limit,
            "spent": self.spent,
            "currency": self.currency,
            "reset_at": self.reset_at.isoformat(),
            "at": self.at.isoformat(),
            "threshold": self.threshold,
            "model": self.model,
            "downgrade_to": self.downgrade_to,
        }


@dataclass(frozen=True, slots=True)
class ThresholdCrossing:
    """A threshold this call's settled cost carried a budget across (a span event)."""

    state: BudgetState
    threshold: float  # percent

    def event_attributes(self) -> dict[str, Any]:
        state = self.state
        attributes: dict[str, Any] = {
            attr.BUDGET_NAME: state.name,
            attr.BUDGET_THRESHOLD_PERCENT: self.threshold,
            attr.BUDGET_LIMIT: state.limit,
            attr.BUDGET_SPENT: state.spent,
            attr.BUDGET_WINDOW: state.window,
        }
        if state.scope:
            attributes[attr.BUDGET_SCOPE] = state.scope
        return attributes


@dataclass(slots=True)
class Decision:
    """The guard's answer for one call, and the handle to settle or release it afterwards.

    ``decision`` is allow, warn, downgrade or block; ``budget`` the budget that decided it (for
    allow: the one with the least left). ``model`` is the model to call (the downgrade target when
    downgraded). ``status`` says why no ledger was consulted (fail open / fail closed), if so.
    """

    decision: str
    budget: BudgetState | None
    model: str | None = None
    original_model: str | None = None
    estimate: float | None = None
    status: str | None = None
    # Filled by settle(): thresholds crossed by this call.
    crossings: list[ThresholdCrossing] = field(default_factory=list)
    # The guard's bookkeeping for settle/release; not part of the public shape.
    ticket: Any = None

    @property
    def blocked(self) -> bool:
        return self.decision == BLOCK

    def span_attributes(self) -> dict[str, Any]:
        attributes: dict[str, Any] = {}
        self.add_span_attributes(attributes)
        return attributes

    def add_span_attributes(self, attributes: dict[str, Any]) -> None:
        """``span_attributes`` written into ``attributes`` (the call's end-of-call update)."""
        attributes[attr.BUDGET_DECISION] = self.decision
        state = self.budget
        if state is not None:
            attributes[attr.BUDGET_NAME] = state.name
            attributes[attr.BUDGET_LIMIT] = state.limit
            attributes[attr.BUDGET_WINDOW] = state.window
            if self.status is None:  # otherwise the ledger was not read: spend is unknown, not 0
                spent = state.spent
                attributes[attr.BUDGET_SPENT] = spent
                # state.remaining, inline: every budgeted call's end
                attributes[attr.BUDGET_REMAINING] = max(0.0, state.limit - spent - state.reserved)
            if state.scope:
                attributes[attr.BUDGET_SCOPE] = state.scope
        if self.estimate is not None:
            attributes[attr.BUDGET_ESTIMATE] = self.estimate
        if self.decision == DOWNGRADE and self.original_model:
            attributes[attr.BUDGET_ORIGINAL_MODEL] = self.original_model
        if self.status:
            attributes[attr.BUDGET_STATUS] = self.status

    def exception(self) -> BudgetExceeded:
        state = self.budget
        if state is None:  # fail closed before any budget could be read
            return BudgetExceeded(
                "<unknown>", limit=0.0, spent=0.0, reset_at=None, window="", estimate=self.estimate, reason=self.status
            )
        return BudgetExceeded(
            state.name,
            limit=state.limit,
            spent=state.spent + state.reserved,
            reset_at=state.reset_at,
            window=state.window,
            currency=state.currency,
            estimate=self.estimate,
            reason=self.status,
        )


__all__ = ["ALLOW", "BudgetAlert", "BudgetState", "BudgetStatus", "Decision", "ThresholdCrossing"]
