"""The fleet store: the ``otel_traces`` table the OpenTelemetry Collector's clickhouseexporter fills.

Fleets that already send traces to ClickHouse (SigNoz, ClickStack, Uptrace, a plain Collector)
have every priced span there: ``SpanAttributes`` is a ``Map(LowCardinality(String), String)``, so
``genai_cost.amount`` is the exporter's string of the double (shortest round-trip digits, read back
exactly by ``toFloat64OrNull``) and a missing key reads ``''``. The report SQL is ``store/sql.py``'s,
with each logical column mapped to its map entry; calls are rows whose ``genai_cost.status`` is set
and not ``duplicate``, the embedded store's rule. Nothing is written here: the Collector is this
table's writer (the gateway forwards to it), so a ClickHouse URL given as a writer's ``--store``
is refused with that explanation.

``clickhouse://user:password@host:8123/database?table=otel_traces`` (``clickhouses://`` for TLS),
read with clickhouse-connect (the ``clickhouse`` extra). Tests run the same SQL on the real
ClickHouse engine in process (chdb) against the exporter's own table DDL.
"""

from __future__ import annotations

import json
from dataclasses import replace
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from genai_cost.store import sql
from genai_cost.store.errors import StoreError
from genai_cost.store.schema import ATTRIBUTE_COLUMNS, COLUMN_NAMES, COLUMNS, DIMENSION_PREFIX

Runner = Callable[[str], list[tuple[Any, ...]]]

_STRINGS = {name: key for name, key in ATTRIBUTE_COLUMNS.items() if dict(COLUMNS)[name] == "VARCHAR"}
_INTEGERS = {name: key for name, key in ATTRIBUTE_COLUMNS.items() if dict(COLUMNS)[name] == "BIGINT"}
_FLOATS = {name: key for name, key in ATTRIBUTE_COLUMNS.items() if dict(COLUMNS)[name] == "DOUBLE"}


def _attribute(key: str) -> str:
    return "SpanAttributes['" + key.replace("\\", "\\\\").replace("'", "\\'") + "']"


def _time_literal(when: datetime) -> str:
    aware = when if when.tzinfo else when.replace(tzinfo=UTC)
    return f"fromUnixTimestamp64Micro(toInt64({int(aware.timestamp() * 1_000_000)}))"


def _dialect(table: str, dimensions: Sequence[str]) -> sql.Dialect:
    columns = {name: f"nullIf({_attribute(key)}, '')" for name, key in _STRINGS.items()}
    columns.update({f"dim_{d}": f"nullIf({_attribute(DIMENSION_PREFIX + d)}, '')" for d in dimensions})
    response, request = _attribute(ATTRIBUTE_COLUMNS["response_model"]), _attribute(ATTRIBUTE_COLUMNS["request_model"])
    columns.update(
        time="Timestamp",
        trace_id="TraceId",
        span_id="SpanId",
        service="nullIf(ServiceName, '')",
        duration_ms="Duration / 1e6",
        model=f"nullIf(if({response} != '', {response}, {request}), '')",
    )
    numbers = {name: f"toInt64OrNull({_attribute(key)})" for name, key in _INTEGERS.items()}
    numbers.update({name: f"toFloat64OrNull({_attribute(key)})" for name, key in _FLOATS.items()})
    status = _attribute(ATTRIBUTE_COLUMNS["status"])
    return sql.Dialect(
        table=table,
        columns=columns,
        numbers=numbers,
        time="Timestamp",
        buckets={
            "hour": "formatDateTime(toStartOfHour(Timestamp, 'UTC'), '%Y-%m-%dT%H:00:00', 'UTC')",
            "day": "toString(toDate(Timestamp, 'UTC'))",
            "week": "toString(toMonday(Timestamp, 'UTC'))",
            "month": "formatDateTime(Timestamp, '%Y-%m', 'UTC')",
        },
        where_calls=f"{status} NOT IN ('', 'duplicate')",
        backslash_escapes=True,
        quantile="quantile({q})({expr})",
    )


def _requested_dimensions(names: Sequence[str]) -> list[str]:
    from genai_cost.store.embedded import valid_dimension_name

    return [n for n in names if n not in sql.DIMENSIONS and n not in sql.TIME_BUCKETS and valid_dimension_name(n)]


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value)
    head, _, fraction = text.partition(".")
    parsed = datetime.fromisoformat(head).replace(tzinfo=UTC)
    return parsed.replace(microsecond=int((fraction + "000000")[:6])) if fraction else parsed


READ_ONLY_REASON = (
    "ClickHouse's otel_traces is written by the OpenTelemetry Collector's clickhouseexporter; point the "
    "gateway's --downstream at that Collector and use this URL with `genai-cost report`"
)


class ClickHouseStore:
    """Read-only spend store over ``otel_traces``; ``runner`` executes SQL and returns row tuples."""

    engine = "clickhouse"
    writable = False
    dimensions: tuple[str, ...] = ()  # any genai_cost.dim.<name> can be asked for; see dimensions_between

    def __init__(self, runner: Runner, *, table: str = "otel_traces", url: str = "clickhouse") -> None:
        self._run = runner
        self.table = table
        self.url = url

    @classmethod
    def from_url(cls, url: str) -> ClickHouseStore:
        try:
            import clickhouse_connect
        except ImportError:
            raise StoreError(
                f"{url}: reading ClickHouse needs clickhouse-connect (the clickhouse extra: pip install clickhouse-connect)"
            ) from None
        parts = urlsplit(url)
        database = parts.path.strip("/") or "default"
        table = parse_qs(parts.query).get("table", ["otel_traces"])[0]
        try:
            client = clickhouse_connect.get_client(
                host=parts.hostname or "localhost",
                port=parts.port or 8123,
                username=unquote(parts.username) if parts.username else "default",
                password=unquote(parts.password) if parts.password else "",
                database=database,
                secure=parts.scheme == "clickhouses",
            )
        except Exception as exc:
            safe = f"{parts.scheme}://{parts.hostname}:{parts.port or 8123}/{database}"
            raise StoreError(f"{safe}: cannot connect to ClickHouse: {exc}") from None
        return cls(lambda query: [tuple(row) for row in client.query(query).result_rows], table=table, url=url)

    def dimensions_between(self, since: datetime | None = None, until: datetime | None = None) -> tuple[str, ...]:
        """The custom dimensions the calls of a period carry: ``otel_traces`` has no column per
        dimension, so the FOCUS export asks which ``genai_cost.dim.<name>`` keys occur (names the
        embedded store would accept, at most as many as it keeps)."""
        from genai_cost.store.embedded import valid_dimension_name
        from genai_cost.store.schema import MAX_DIMENSIONS

        window = " AND ".join(
            f"Timestamp {op} {_time_literal(when)}" for op, when in ((">=", since), ("<", until)) if when is not None
        )
        query = (
            f"SELECT DISTINCT substring(key, {len(DIMENSION_PREFIX) + 1}) AS name FROM {self.table} "
            f"ARRAY JOIN mapKeys(SpanAttributes) AS key WHERE startsWith(key, '{DIMENSION_PREFIX}')"
            + (f" AND {window}" if window else "")
            + " ORDER BY name LIMIT 1000"
        )
        names = [row[0] for row in self._run(query) if valid_dimension_name(str(row[0]))]
        return tuple(names[:MAX_DIMENSIONS])

    def write(self, calls: Sequence[Any]) -> int:
        raise StoreError(f"{self.url.split('@')[-1]}: {READ_ONLY_REASON}")

    def totals(
        self,
        by: Sequence[str],
        since: datetime | None = None,
        until: datetime | None = None,
        where: Mapping[str, str] | None = None,
    ) -> list[tuple[Any, ...]]:
        dims = _requested_dimensions([*by, *(where or {})])
        query = sql.totals_sql(_dialect(self.table, dims), by, since, until, where, dims, _time_literal)
        return [tuple(row) for row in self._run(query)]

    def calls(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        where: Mapping[str, str] | None = None,
        limit: int | None = None,
        min_amount: float | None = None,
    ) -> list[dict[str, Any]]:
        dims = _requested_dimensions(list(where or {}))
        dialect = _dialect(self.table, dims)
        # Every custom dimension a call carries, whichever were asked for.
        dialect = replace(
            dialect,
            columns={
                **dialect.columns,
                "dims": f"mapFilter((k, v) -> startsWith(k, '{DIMENSION_PREFIX}'), SpanAttributes)",
            },
        )
        names = [*COLUMN_NAMES, "dims"]
        rows = self._run(sql.calls_sql(dialect, names, since, until, where, dims, _time_literal, limit, min_amount))
        out = []
        for row in rows:
            record = dict(zip(names, row, strict=True))
            record["time"] = _time(record["time"])
            found = record.pop("dims") or {}
            if isinstance(found, str):
                found = json.loads(found)
            for key, value in found.items():
                record[f"dim_{key[len(DIMENSION_PREFIX) :]}"] = value
            for name in ("span_id", "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
                if isinstance(record.get(name), str) and name != "span_id":
                    record[name] = int(record[name])
            out.append(record)
        return out

    def quantiles(
        self, by: Sequence[str], q: float, since: datetime | None = None, until: datetime | None = None
    ) -> list[tuple[Any, ...]]:
        dims = _requested_dimensions(by)
        return [
            tuple(row)
            for row in self._run(
                sql.quantiles_sql(_dialect(self.table, dims), by, q, since, until, dims, _time_literal)
            )
        ]

    def close(self) -> None:
        pass
