"""The spend store's row: one GenAI call, its columns, and how a span's attributes become one.

Both writers (the gateway's export path and the in-process span processor) call ``call_row`` with
the attribute mapping of a finished, priced span, so a call has the same row whichever way it
arrived. A row is a plain tuple in ``COLUMNS`` order (fast to build, fast to hand to an engine);
``None`` means "not known" and is never read as zero: an unpriced call has no amount, not $0.

Which spans are calls: those genai-cost decided about (``genai_cost.status`` set), except the
``duplicate`` views of a call another span already carries — one row per provider call, priced
or not. The same rule selects calls from the ClickHouse ``otel_traces`` table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from genai_cost import attributes as attr
from genai_cost.attributes import Status

# Bump when a column changes meaning or type; a store written by a newer version is refused
# (never rewritten), an older one is migrated forward by adding columns.
SCHEMA_VERSION: Final = 1

# Custom dimensions (``cost_context(dims=...)``) arrive as ``genai_cost.dim.<name>`` attributes and
# become ``dim_<name>`` columns; at most this many per store keeps a typo from growing the table.
DIMENSION_PREFIX: Final = attr.DIMENSION_PREFIX
MAX_DIMENSIONS: Final = 16

# (column, DuckDB type). Order is the tuple order of a row.
COLUMNS: Final = (
    ("time", "TIMESTAMP"),  # span start, UTC, microseconds
    ("duration_ms", "DOUBLE"),
    ("trace_id", "BLOB"),
    ("span_id", "UBIGINT"),
    ("service", "VARCHAR"),
    ("provider", "VARCHAR"),
    ("request_model", "VARCHAR"),
    ("response_model", "VARCHAR"),
    ("operation", "VARCHAR"),
    ("input_tokens", "BIGINT"),
    ("output_tokens", "BIGINT"),
    ("cache_read_tokens", "BIGINT"),
    ("cache_write_tokens", "BIGINT"),
    ("reasoning_tokens", "BIGINT"),
    ("amount", "DOUBLE"),
    ("input_cost", "DOUBLE"),
    ("output_cost", "DOUBLE"),
    ("cache_read_cost", "DOUBLE"),
    ("cache_write_cost", "DOUBLE"),
    ("tools_cost", "DOUBLE"),
    ("savings", "DOUBLE"),
    ("currency", "VARCHAR"),
    ("status", "VARCHAR"),
    ("price_model", "VARCHAR"),
    ("price_source", "VARCHAR"),
    ("project", "VARCHAR"),
    ("team", "VARCHAR"),
    ("feature", "VARCHAR"),
    ("tenant", "VARCHAR"),
    ("user", "VARCHAR"),
    ("key_id", "VARCHAR"),
    ("budget_decision", "VARCHAR"),
    ("error_type", "VARCHAR"),
)
COLUMN_NAMES: Final = tuple(name for name, _ in COLUMNS)

# Span attribute behind each column read straight off the span (the rest are computed).
KEY_ID_ATTRIBUTE: Final = attr.KEY_ID
ATTRIBUTE_COLUMNS: Final = {
    "provider": attr.PROVIDER_NAME,
    "request_model": attr.REQUEST_MODEL,
    "response_model": attr.RESPONSE_MODEL,
    "operation": attr.OPERATION_NAME,
    "input_tokens": attr.USAGE_INPUT_TOKENS,
    "output_tokens": attr.USAGE_OUTPUT_TOKENS,
    "cache_read_tokens": attr.USAGE_CACHE_READ_TOKENS,
    "cache_write_tokens": attr.USAGE_CACHE_WRITE_TOKENS,
    "reasoning_tokens": attr.USAGE_REASONING_TOKENS,
    "amount": attr.COST_AMOUNT,
    "input_cost": attr.COST_INPUT,
    "output_cost": attr.COST_OUTPUT,
    "cache_read_cost": attr.COST_CACHE_READ,
    "cache_write_cost": attr.COST_CACHE_WRITE,
    "tools_cost": attr.COST_TOOLS,
    "savings": attr.COST_SAVINGS,
    "currency": attr.COST_CURRENCY,
    "status": attr.COST_STATUS,
    "price_model": attr.PRICE_MODEL,
    "price_source": attr.PRICE_SOURCE,
    "project": attr.PROJECT,
    "team": attr.TEAM,
    "feature": attr.FEATURE,
    "tenant": attr.TENANT,
    "user": attr.USER_ID,
    "key_id": KEY_ID_ATTRIBUTE,
    "budget_decision": attr.BUDGET_DECISION,
    "error_type": attr.ERROR_TYPE,
}
_INTEGER_COLUMNS = frozenset(name for name, kind in COLUMNS if kind == "BIGINT")
_FLOAT_COLUMNS = frozenset(name for name, kind in COLUMNS if kind == "DOUBLE") - {"duration_ms"}
# (attribute, converter) in column order for the attribute-read columns, after the 5 span fields.
_READERS = tuple(
    (ATTRIBUTE_COLUMNS[name], int if name in _INTEGER_COLUMNS else float if name in _FLOAT_COLUMNS else str)
    for name in COLUMN_NAMES[5:]
)
_SKIPPED = Status.DUPLICATE


def is_stored_call(attributes: Mapping[str, Any]) -> bool:
    status = attributes.get(attr.COST_STATUS)
    return status is not None and status != _SKIPPED


def _value(raw: Any, convert: type) -> Any:
    if raw is None:
        return None
    try:
        return convert(raw)
    except (TypeError, ValueError):
        return None  # a foreign span's odd value is "not known", never a reason to lose the row


def call_row(
    attributes: Mapping[str, Any],
    *,
    start_ns: int,
    end_ns: int,
    trace_id: bytes,
    span_id: int,
    service: str | None,
) -> tuple[Any, ...]:
    """The row for one stored call (``is_stored_call(attributes)`` already true).

    ``time`` is an integer of microseconds since the epoch (UTC); engines turn it into their own
    timestamp type. Values of the wrong type read as unknown rather than dropping the call.
    """
    get = attributes.get
    row: list[Any] = [start_ns // 1000, (end_ns - start_ns) / 1e6 if end_ns else None, trace_id, span_id, service]
    for key, convert in _READERS:
        raw = get(key)
        row.append(None if raw is None else raw if type(raw) is convert else _value(raw, convert))
    return tuple(row)


def row_dimensions(attributes: Mapping[str, Any]) -> dict[str, str] | None:
    """Custom dimensions on a span (``genai_cost.dim.<name>`` -> ``{name: value}``), None if none."""
    found = None
    for key, value in attributes.items():
        if key.startswith(DIMENSION_PREFIX):
            if found is None:
                found = {}
            found[key[len(DIMENSION_PREFIX) :]] = str(value)
    return found
