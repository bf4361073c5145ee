"""One period's spend, gathered once for everything a person reads: the HTML report, the digest
(e-mail, Slack, webhook) and their tests.

``gather(store, since, until)`` asks the store (through ``reports.query``) for the period's total
and the previous period's, spend by project, feature, model, user and service, the daily trend by
project, and runs the anomaly detectors over the period. Renderers only format what is here, so
the figures in a mail, a chat message and the HTML page are the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from genai_cost.reports import query
from genai_cost.reports.anomalies import AnomalySettings, Finding, detect

TABLE_DIMENSIONS = ("project", "feature", "model", "user")
MOVER_DIMENSIONS = ("project", "feature", "model", "user")
_TOP = 10


@dataclass
class Mover:
    """A group whose spend changed most against the previous period."""

    dimension: str
    value: str | None
    amount: float
    previous: float

    @property
    def delta(self) -> float:
        return self.amount - self.previous


@dataclass
class Overview:
    since: datetime
    until: datetime
    total: query.Group
    previous: query.Group | None
    by: dict[str, list[query.Group]]  # dimension -> groups, highest spend first
    daily: list[query.Group]  # by day, oldest first
    daily_by_project: list[query.Group]
    tokens_by_service: list[query.Group]
    movers: list[Mover]
    findings: list[Finding]
    budgets: list[Any] = field(default_factory=list)  # budget.state.BudgetStatus rows, if known
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def currency(self) -> str:
        return self.total.currency or "USD"

    @property
    def change(self) -> float | None:
        if self.previous is None or self.total.amount is None or not self.previous.amount:
            return None
        return self.total.amount / self.previous.amount - 1

    def days(self) -> list[str]:
        """Every day of the period, so a chart shows the quiet days as quiet rather than skipping them."""
        day = datetime.combine(self.since.astimezone(UTC).date(), datetime.min.time(), UTC)
        out = []
        while day < self.until:
            out.append(day.date().isoformat())
            day += timedelta(days=1)
        return out


def gather(
    store: Any,
    since: datetime,
    until: datetime,
    *,
    anomalies: AnomalySettings | None = None,
    budgets: Sequence[Any] = (),
    detect_anomalies: bool = True,
) -> Overview:
    """The period ``[since, until)`` and the one of the same length before it."""
    before = since - (until - since)
    total = _one(query.totals(store, (), since, until))
    previous = _one(query.totals(store, (), before, since)) if before < since else None
    by = {
        dimension: _ranked(query.totals(store, (dimension,), since, until))
        for dimension in (*TABLE_DIMENSIONS, "service")
    }
    movers: list[Mover] = []
    for dimension in MOVER_DIMENSIONS:
        earlier = {g.keys[dimension]: g.amount or 0.0 for g in query.totals(store, (dimension,), before, since)}
        now = {g.keys[dimension]: g.amount or 0.0 for g in by[dimension]}
        for value in set(earlier) | set(now):
            movers.append(Mover(dimension, value, now.get(value, 0.0), earlier.get(value, 0.0)))
    movers.sort(key=lambda m: -abs(m.delta))
    daily = sorted(query.totals(store, ("day",), since, until), key=lambda g: g.keys["day"] or "")
    daily_by_project = query.totals(store, ("project", "day"), since, until)
    findings = detect(store, since, until, anomalies) if detect_anomalies else []
    return Overview(
        since=since,
        until=until,
        total=total,
        previous=previous,
        by=by,
        daily=daily,
        daily_by_project=daily_by_project,
        tokens_by_service=by["service"],
        movers=[m for m in movers if m.delta][:_TOP],
        findings=findings,
        budgets=list(budgets),
    )


def _one(groups: list[query.Group]) -> query.Group:
    return groups[0] if groups else query.Group(keys={})


def _ranked(groups: list[query.Group]) -> list[query.Group]:
    return sorted(groups, key=lambda g: (-(g.amount if g.amount is not None else -1.0), -g.calls))


def period_bounds(period: str, until: datetime | None = None) -> tuple[datetime, datetime]:
    """The last complete ``day`` or ``week`` (7 days) before ``until`` (default: today 00:00 UTC)."""
    end = until or datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC)
    days = {"day": 1, "week": 7}.get(period)
    if days is None:
        raise ValueError(f"period: expected day or week, got {period!r}")
    return end - timedelta(days=days), end
