"""The report query API: grouped spend by any dimensions and time buckets, and per-call rows.

Everything that answers a question about spend (``genai-cost report``, the FOCUS export, and the
anomaly detectors, digests and HTML report built on top) asks a store through this module, never
with SQL of its own, so the rules below hold everywhere:

* ``spend(store, by, since, until, where=None, top=None, compare=True) -> SpendReport``:
  one ``Group`` per combination of ``by`` values. ``by`` names come from ``DIMENSIONS``
  (``project, team, feature, tenant, user, model, provider, service, operation, status, key,
  decision``), the store's custom dimensions (``prompt_version`` …) and the UTC time buckets
  ``day``, ``week`` (ISO, Monday) and ``month``; keys read ``None`` where a call had no value.
  ``since`` is inclusive, ``until`` exclusive (aware datetimes; ``parse_time`` reads the CLI's).
* Unknown is not zero: ``Group.amount`` sums priced calls only and is ``None`` when a group has
  none; ``unpriced_calls`` counts the rest, so "unknown" never reads as "free".
* ``compare=True`` fills ``previous_amount`` and ``change``: with a time bucket in ``by``, against
  the same group's previous bucket (day over day, week over week, month over month); without one,
  against the period of the same length just before ``since``. With a time bucket, ``since`` is
  moved back to the start of its bucket, so the first bucket is whole (the last may be running).
* ``totals(store, by, since, until, where)``: the raw groups, no comparison or ordering.
* ``calls(store, since, until, where, limit)``: per-call rows (dicts keyed by ``store.schema``
  column names, ``dim_<name>`` for custom dimensions), oldest first: what detectors and exports
  read when a group's total is not enough.

Stores implement two methods (``totals`` returning tuples in ``store.sql.MEASURES`` order, and
``calls``), on DuckDB and ClickHouse alike (``store/sql.py`` holds the shared SQL).
"""

from __future__ import annotations

import re
from contextlib import nullcontext
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from genai_cost.store.sql import COST_PARTS, DIMENSIONS, MEASURES, TIME_BUCKETS, UnknownDimension

__all__ = [
    "DIMENSIONS",
    "TIME_BUCKETS",
    "Group",
    "SpendReport",
    "UnknownDimension",
    "calls",
    "parse_time",
    "quantiles",
    "spend",
    "totals",
]

_AGO = re.compile(r"(\d+)([hdwm])")


def parse_time(value: str, *, now: datetime | None = None) -> datetime:
    """``2026-11-01``, an ISO date-time (UTC unless it says otherwise), ``30d``/``12h``/``2w``/``3m``
    ago, ``today`` or ``now``; ValueError naming the value otherwise."""
    now = now or datetime.now(UTC)
    text = value.strip().lower()
    if text == "now":
        return now
    if text == "today":
        return datetime.combine(now.date(), datetime.min.time(), UTC)
    if match := _AGO.fullmatch(text):
        amount, unit = int(match.group(1)), match.group(2)
        if unit == "m":
            return _add_months(now, -amount)
        return now - timedelta(**{{"h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r}: expected a date (2026-11-01), a date-time, or an age like 30d") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _add_months(when: datetime, months: int) -> datetime:
    month = when.month - 1 + months
    year, month = when.year + month // 12, month % 12 + 1
    day = min(
        when.day,
        [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][
            month - 1
        ],
    )
    return when.replace(year=year, month=month, day=day)


@dataclass
class Group:
    """Spend of one group; ``keys`` maps each ``by`` name to its value."""

    keys: dict[str, str | None]
    calls: int = 0
    priced_calls: int = 0
    amount: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    savings: float | None = None
    currency: str | None = None
    previous_amount: float | None = None
    # The amount's breakdown summed (None: no priced call carried that part).
    costs: dict[str, float | None] = field(default_factory=dict)

    @property
    def unpriced_calls(self) -> int:
        return self.calls - self.priced_calls

    @property
    def cost_per_call(self) -> float | None:
        """Average price of a priced call (unpriced calls are not in it)."""
        return self.amount / self.priced_calls if self.amount is not None and self.priced_calls else None

    @property
    def change(self) -> float | None:
        """Relative change of ``amount`` against ``previous_amount`` (0.25 = +25 %)."""
        if self.amount is None or not self.previous_amount:
            return None
        return self.amount / self.previous_amount - 1

    def as_dict(self) -> dict[str, Any]:
        """The JSON/CSV row: the ``by`` keys, then the measures."""
        return {
            **self.keys,
            "amount": self.amount,
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "reasoning_tokens": self.reasoning_tokens,
            "priced_calls": self.priced_calls,
            "unpriced_calls": self.unpriced_calls,
            "cost_per_call": self.cost_per_call,
            "savings": self.savings,
            "currency": self.currency,
            "previous_amount": self.previous_amount,
            "change": self.change,
        }


@dataclass
class SpendReport:
    by: tuple[str, ...]
    since: datetime | None
    until: datetime | None
    groups: list[Group]
    total: Group
    previous_total: Group | None = None
    omitted_groups: int = 0  # beyond --top
    extra: dict[str, Any] = field(default_factory=dict)


def _group(by: Sequence[str], row: Sequence[Any]) -> Group:
    keys = {name: (str(value) if value not in (None, "") else None) for name, value in zip(by, row, strict=False)}
    measures = dict(zip(MEASURES, row[len(by) :], strict=True))
    return Group(
        keys=keys,
        calls=int(measures["calls"]),
        priced_calls=int(measures["priced_calls"]),
        amount=float(measures["amount"]) if measures["amount"] is not None and measures["priced_calls"] else None,
        input_tokens=int(measures["input_tokens"] or 0),
        output_tokens=int(measures["output_tokens"] or 0),
        cache_read_tokens=int(measures["cache_read_tokens"] or 0),
        cache_write_tokens=int(measures["cache_write_tokens"] or 0),
        reasoning_tokens=int(measures["reasoning_tokens"] or 0),
        savings=float(measures["savings"]) if measures["savings"] is not None else None,
        currency=measures["currency"] or None,
        costs={part: float(measures[part]) if measures[part] is not None else None for part in COST_PARTS},
    )


def totals(
    store: Any,
    by: Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    where: Mapping[str, str] | None = None,
) -> list[Group]:
    """One ``Group`` per combination of ``by`` values (unordered, no comparison)."""
    by = tuple(by)
    return [_group(by, row) for row in store.totals(by, since, until, where)]


def calls(
    store: Any,
    since: datetime | None = None,
    until: datetime | None = None,
    where: Mapping[str, str] | None = None,
    limit: int | None = None,
    *,
    min_amount: float | None = None,
) -> list[dict[str, Any]]:
    """Per-call rows, oldest first (see the module docstring); ``min_amount``: only dearer calls."""
    if min_amount is None:
        return store.calls(since, until, where, limit)
    return store.calls(since, until, where, limit, min_amount=min_amount)


def quantiles(
    store: Any,
    by: Sequence[str],
    q: float,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[tuple[str | None, ...], tuple[float, int]]:
    """The ``q``-quantile of a priced call's amount per group: ``{keys: (quantile, priced calls)}``."""
    by = tuple(by)
    out = {}
    for row in store.quantiles(by, q, since, until):
        keys = tuple(str(v) if v not in (None, "") else None for v in row[: len(by)])
        value, count = row[len(by)], row[len(by) + 1]
        if value is not None:
            out[keys] = (float(value), int(count))
    return out


def _bucket_start(bucket: str, when: datetime) -> datetime:
    if bucket == "hour":
        return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    day = datetime.combine(when.astimezone(UTC).date(), datetime.min.time(), UTC)
    if bucket == "day":
        return day
    if bucket == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def _previous_bucket_key(bucket: str, key: str) -> str:
    if bucket == "hour":
        return (datetime.fromisoformat(key) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:00:00")
    if bucket == "month":
        year, month = (int(part) for part in key.split("-"))
        return f"{year - 1}-12" if month == 1 else f"{year}-{month - 1:02d}"
    step = timedelta(days=1 if bucket == "day" else 7)
    return (date.fromisoformat(key) - step).isoformat()


def _previous_start(bucket: str, since: datetime) -> datetime:
    start = _bucket_start(bucket, since)
    if bucket == "month":
        return _add_months(start, -1)
    if bucket == "hour":
        return start - timedelta(hours=1)
    return start - timedelta(days=1 if bucket == "day" else 7)


def _sort_key(group: Group, bucket: str | None) -> tuple[Any, ...]:
    amount = group.amount if group.amount is not None else float("-inf")
    return (group.keys[bucket] or "", -amount) if bucket else (-amount,)


def spend(
    store: Any,
    by: Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    where: Mapping[str, str] | None = None,
    *,
    top: int | None = None,
    compare: bool = True,
) -> SpendReport:
    """Grouped spend with totals, comparison and ``top`` (see the module docstring).

    Ordering: by amount, highest first; with a time bucket, by bucket then amount, and ``top``
    keeps the N highest groups of each bucket.
    """
    reading = getattr(store, "reading", None)
    with reading() if reading is not None else nullcontext():
        return _spend(store, tuple(by), since, until, where, top, compare)


def _spend(
    store: Any,
    by: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    where: Mapping[str, str] | None,
    top: int | None,
    compare: bool,
) -> SpendReport:
    buckets = [name for name in by if name in TIME_BUCKETS]
    if len(buckets) > 1:
        raise ValueError(f"--by: one time bucket at a time, got {', '.join(buckets)}")
    bucket = buckets[0] if buckets else None
    if bucket is not None and since is not None:
        since = _bucket_start(bucket, since)  # whole buckets: the first one is not cut short
    query_since = _previous_start(bucket, since) if compare and bucket and since is not None else since
    groups = totals(store, by, query_since, until, where)
    overall = totals(store, (), since, until, where)
    total = overall[0] if overall else Group(keys={})
    previous_total = None
    if compare and bucket:
        assert bucket is not None
        by_key = {tuple(g.keys.values()): g for g in groups}
        position = by.index(bucket)
        for group in groups:
            key = list(group.keys.values())
            current = key[position]
            if current is not None:
                key[position] = _previous_bucket_key(bucket, current)
                earlier = by_key.get(tuple(key))
                group.previous_amount = earlier.amount if earlier is not None else None
        if since is not None:
            start = _bucket_start(bucket, since)
            if bucket == "hour":
                first = start.strftime("%Y-%m-%dT%H:00:00")
            else:
                first = start.date().isoformat()[: 7 if bucket == "month" else 10]
            groups = [g for g in groups if (g.keys[bucket] or "") >= first]
    elif compare and since is not None and until is not None:
        before = since - (until - since)
        previous = {tuple(g.keys.values()): g for g in totals(store, by, before, since, where)}
        for group in groups:
            earlier = previous.get(tuple(group.keys.values()))
            group.previous_amount = earlier.amount if earlier is not None else None
        earlier_total = totals(store, (), before, since, where)
        previous_total = earlier_total[0] if earlier_total else None
        total = replace(total, previous_amount=previous_total.amount if previous_total else None)
    groups.sort(key=lambda g: _sort_key(g, bucket))
    omitted = 0
    if top is not None:
        kept: list[Group] = []
        per_bucket: dict[Any, int] = {}
        for group in groups:
            slot = group.keys[bucket] if bucket else None
            per_bucket[slot] = per_bucket.get(slot, 0) + 1
            if per_bucket[slot] <= top:
                kept.append(group)
            else:
                omitted += 1
        groups = kept
    return SpendReport(by, since, until, groups, total, previous_total, omitted)
