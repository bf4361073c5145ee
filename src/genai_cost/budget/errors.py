"""The exception a blocked call raises: the budget that stopped it, and when it opens again."""

from __future__ import annotations

from datetime import datetime


class BudgetExceeded(Exception):
    """A call was blocked before it reached the provider: its budget's limit is spent.

    ``reset_at`` is when the budget's window rolls over (timezone-aware); HTTP middleware turns
    it into ``Retry-After``. Money is in ``currency`` units (floats for display; the ledger keeps
    integer micro-units). ``reason`` is set when the call was blocked without reading the budget
    (the ledger was unreachable and the fail mode is ``closed``).
    """

    def __init__(
        self,
        budget: str,
        *,
        limit: float,
        spent: float,
        reset_at: datetime | None,
        window: str,
        currency: str = "USD",
        estimate: float | None = None,
        reason: str | None = None,
    ) -> None:
        self.budget = budget
        self.limit = limit
        self.spent = spent
        self.reset_at = reset_at
        self.window = window
        self.currency = currency
        self.estimate = estimate
        self.reason = reason
        when = f"; resets {reset_at.isoformat()}" if reset_at is not None else ""
        why = f" ({reason})" if reason else ""
        super().__init__(
            f"budget {budget!r} exceeded: spent {spent:.6f} of {limit:.6f} {currency} this {window}{when}{why}"
        )
