"""The real ClickHouse engine in process (chdb) holding the OpenTelemetry Collector's ``otel_traces``.

``TRACES_DDL`` is the clickhouseexporter's own table (exporter/clickhouseexporter/internal/
sql_templates/traces_table.sql in opentelemetry-collector-contrib), with its placeholders filled
as the exporter does for a plain MergeTree without TTL. ``insert_otlp`` writes received OTLP
requests the way the exporter does: ids as hex, attribute values as strings (pcommon's AsString:
ints in decimal, doubles in shortest round-trip digits without exponent, bools true/false).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

TRACES_DDL = """
CREATE TABLE IF NOT EXISTS otel_traces (
    Timestamp DateTime64(9) CODEC(Delta, ZSTD(1)),
    TraceId String CODEC(ZSTD(1)),
    SpanId String CODEC(ZSTD(1)),
    ParentSpanId String CODEC(ZSTD(1)),
    TraceState String CODEC(ZSTD(1)),
    SpanName LowCardinality(String) CODEC(ZSTD(1)),
    SpanKind LowCardinality(String) CODEC(ZSTD(1)),
    ServiceName LowCardinality(String) CODEC(ZSTD(1)),
    ResourceAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    ScopeName String CODEC(ZSTD(1)),
    ScopeVersion String CODEC(ZSTD(1)),
    SpanAttributes Map(LowCardinality(String), String) CODEC(ZSTD(1)),
    Duration UInt64 CODEC(ZSTD(1)),
    StatusCode LowCardinality(String) CODEC(ZSTD(1)),
    StatusMessage String CODEC(ZSTD(1)),
    Events Nested (
        Timestamp DateTime64(9),
        Name LowCardinality(String),
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    Links Nested (
        TraceId String,
        SpanId String,
        TraceState String,
        Attributes Map(LowCardinality(String), String)
    ) CODEC(ZSTD(1)),
    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,
    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,
    INDEX idx_duration Duration TYPE minmax GRANULARITY 1
) ENGINE = MergeTree()
PARTITION BY toDate(Timestamp)
ORDER BY (ServiceName, SpanName, toDateTime(Timestamp))
SETTINGS index_granularity=8192, ttl_only_drop_parts = 1
"""

_KINDS = {0: "Unspecified", 1: "Internal", 2: "Server", 3: "Client", 4: "Producer", 5: "Consumer"}


class ChdbClickHouse:
    """A chdb session: ``run(sql)`` returns row tuples, like clickhouse-connect's ``result_rows``."""

    def __init__(self, path: str) -> None:
        from chdb import session

        self.session = session.Session(path)
        self.session.query(TRACES_DDL)

    def run(self, query: str) -> list[tuple[Any, ...]]:
        result = self.session.query(query + " SETTINGS output_format_json_quote_64bit_integers = 0", "JSONCompact")
        text = result.bytes().decode() if hasattr(result, "bytes") else str(result)
        return [tuple(row) for row in json.loads(text)["data"]] if text.strip() else []

    def insert(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.session.query("INSERT INTO otel_traces FORMAT JSONEachRow " + "\n".join(json.dumps(r) for r in rows))

    def close(self) -> None:
        self.session.close()


def as_string(value: Any) -> str:
    kind = value.WhichOneof("value")
    raw = getattr(value, kind) if kind else ""
    if kind == "bool_value":
        return "true" if raw else "false"
    if kind == "double_value":
        return format(Decimal(repr(raw)), "f")
    return str(raw)


def _timestamp(ns: int) -> str:
    return datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S") + f".{ns % 1_000_000_000:09d}"


def exporter_rows(requests: list[Any]) -> list[dict[str, Any]]:
    """``otel_traces`` rows for every span of ``requests``, as the clickhouseexporter writes them."""
    rows = []
    for request in requests:
        for resource_spans in request.resource_spans:
            resource = {kv.key: as_string(kv.value) for kv in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    rows.append(
                        {
                            "Timestamp": _timestamp(span.start_time_unix_nano),
                            "TraceId": span.trace_id.hex(),
                            "SpanId": span.span_id.hex(),
                            "ParentSpanId": span.parent_span_id.hex(),
                            "SpanName": span.name,
                            "SpanKind": _KINDS.get(span.kind, "Unspecified"),
                            "ServiceName": resource.get("service.name", ""),
                            "ResourceAttributes": resource,
                            "ScopeName": scope_spans.scope.name,
                            "ScopeVersion": scope_spans.scope.version,
                            "SpanAttributes": {kv.key: as_string(kv.value) for kv in span.attributes},
                            "Duration": span.end_time_unix_nano - span.start_time_unix_nano,
                            "StatusCode": "Unset",
                        }
                    )
    return rows
