"""The report SQL, written once and spoken in two dialects: the embedded store and ClickHouse.

A ``Dialect`` says where each logical column lives (a real column in the embedded store, a
``SpanAttributes`` map entry in ClickHouse's ``otel_traces``) and how to cut time into buckets;
``totals_sql`` and ``calls_sql`` build the same query shape over either, so a report means the
same thing on a laptop and on the fleet's database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TIME_BUCKETS = ("hour", "day", "week", "month")
# Names a report may group or filter by (besides custom ``dim_*`` dimensions), and their column.
DIMENSIONS: dict[str, str] = {
    "project": "project",
    "team": "team",
    "feature": "feature",
    "tenant": "tenant",
    "user": "user",
    "model": "model",  # the response's model, else the requested one
    "request_model": "request_model",
    "provider": "provider",
    "service": "service",
    "operation": "operation",
    "status": "status",
    "key": "key_id",
    "decision": "budget_decision",
}
TOKEN_COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens", "reasoning_tokens")
# The amount's breakdown (parts sum to the amount): summed per group for exports.
COST_PARTS = ("input_cost", "output_cost", "cache_read_cost", "cache_write_cost", "tools_cost")


class UnknownDimension(ValueError):
    pass


@dataclass(frozen=True)
class Dialect:
    table: str
    columns: Mapping[str, str]  # logical column -> SQL expression (strings: NULL when absent)
    numbers: Mapping[str, str]  # logical numeric column -> SQL expression (NULL when absent)
    time: str
    buckets: Mapping[str, str]  # day/week/month -> expression over the time column
    where_calls: str  # which rows are stored calls
    backslash_escapes: bool
    # An aggregate for the q-quantile of an expression (the anomaly detectors' p95).
    quantile: str = "quantile_cont({expr}, {q})"

    def dimension(self, name: str) -> str:
        return self.columns[name]

    def literal(self, value: str) -> str:
        if self.backslash_escapes:
            value = value.replace("\\", "\\\\")
        return "'" + value.replace("'", "''") + "'"

    def timestamp(self, when: datetime) -> str:
        raise NotImplementedError


def _group_expression(dialect: Dialect, name: str, dimensions: Sequence[str]) -> str:
    if name in TIME_BUCKETS:
        return dialect.buckets[name]
    column = DIMENSIONS.get(name)
    if column is None and name in dimensions:
        column = f"dim_{name}"
    if column is None or column not in dialect.columns:
        raise UnknownDimension(name)
    return dialect.columns[column]


def _where(
    dialect: Dialect,
    since: datetime | None,
    until: datetime | None,
    where: Mapping[str, str] | None,
    dimensions: Sequence[str],
    time_literal: Any,
    min_amount: float | None = None,
) -> str:
    clauses = [dialect.where_calls]
    if min_amount is not None:
        clauses.append(f"{dialect.numbers['amount']} > {float(min_amount)!r}")
    if since is not None:
        clauses.append(f"{dialect.time} >= {time_literal(since)}")
    if until is not None:
        clauses.append(f"{dialect.time} < {time_literal(until)}")
    for name, value in (where or {}).items():
        clauses.append(f"{_group_expression(dialect, name, dimensions)} = {dialect.literal(value)}")
    return " AND ".join(clauses)


def totals_sql(
    dialect: Dialect,
    by: Sequence[str],
    since: datetime | None,
    until: datetime | None,
    where: Mapping[str, str] | None,
    dimensions: Sequence[str],
    time_literal: Any,
) -> str:
    """One row per group: the group keys in ``by`` order, then ``MEASURES`` in order."""
    keys = [f"{_group_expression(dialect, name, dimensions)} AS g{i}" for i, name in enumerate(by)]
    n = dialect.numbers
    measures = [
        "count(*)",
        f"count({n['amount']})",
        f"sum({n['amount']})",
        *(f"coalesce(sum({n[column]}), 0)" for column in TOKEN_COLUMNS),
        f"sum({n['savings']})",
        f"max({dialect.columns['currency']})",
        *(f"sum({n[column]})" for column in COST_PARTS),
    ]
    group = f" GROUP BY {', '.join(f'g{i}' for i in range(len(by)))}" if by else ""
    return (
        f"SELECT {', '.join([*keys, *measures])} FROM {dialect.table} "
        f"WHERE {_where(dialect, since, until, where, dimensions, time_literal)}{group}"
    )


MEASURES = ("calls", "priced_calls", "amount", *TOKEN_COLUMNS, "savings", "currency", *COST_PARTS)


def calls_sql(
    dialect: Dialect,
    columns: Sequence[str],
    since: datetime | None,
    until: datetime | None,
    where: Mapping[str, str] | None,
    dimensions: Sequence[str],
    time_literal: Any,
    limit: int | None,
    min_amount: float | None = None,
) -> str:
    """Per-call rows, oldest first: ``columns`` are logical column names (``dialect.columns``);
    ``min_amount``: only calls that cost more (the detectors' expensive calls)."""
    select = ", ".join(dialect.columns.get(c) or dialect.numbers[c] for c in columns)
    tail = f" LIMIT {int(limit)}" if limit is not None else ""
    condition = _where(dialect, since, until, where, dimensions, time_literal, min_amount)
    return f"SELECT {select} FROM {dialect.table} WHERE {condition} ORDER BY {dialect.time}{tail}"


def quantiles_sql(
    dialect: Dialect,
    by: Sequence[str],
    q: float,
    since: datetime | None,
    until: datetime | None,
    dimensions: Sequence[str],
    time_literal: Any,
) -> str:
    """One row per group of priced calls: the group keys, the ``q``-quantile of the amount, the count."""
    if not 0 < q < 1:
        raise ValueError(f"quantile: expected 0 < q < 1, got {q!r}")
    keys = [f"{_group_expression(dialect, name, dimensions)} AS g{i}" for i, name in enumerate(by)]
    amount = dialect.numbers["amount"]
    measures = [dialect.quantile.format(expr=amount, q=float(q)), f"count({amount})"]
    group = f" GROUP BY {', '.join(f'g{i}' for i in range(len(by)))}" if by else ""
    condition = _where(dialect, since, until, None, dimensions, time_literal) + f" AND {amount} IS NOT NULL"
    return f"SELECT {', '.join([*keys, *measures])} FROM {dialect.table} WHERE {condition}{group}"
