"""The spend store: one row per GenAI call, written off the call path, read by ``reports``.

``open_store(url)`` picks the engine from the URL:

* a path (``spend.duckdb``, ``file:///var/lib/genai-cost/spend.duckdb``): the embedded DuckDB store
  (``embedded.py``), written by the gateway (``--store``) and by apps in process
  (``GENAI_COST_STORE``, ``store:`` in the config file, ``configure(store=...)``);
* ``clickhouse://host:8123/db``: the ``otel_traces`` table the OpenTelemetry Collector's
  clickhouseexporter fills (``clickhouse.py``), read-only: the Collector is its writer.

Both answer the same two questions for ``reports``: ``totals(by, since, until, where)`` and
``calls(since, until, where, limit)``. Writers: ``StoreWriter`` (background batches) and
``StoreSpanProcessor`` (its SDK face); ``rows.py`` turns spans into rows, ``schema.py`` says what a row is.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from genai_cost.store.errors import StoreError
from genai_cost.store.schema import SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "StoreError", "open_store", "parse_retention"]

_RETENTION = re.compile(r"\s*(\d+)\s*([dhw])\s*")


def parse_retention(value: str) -> timedelta:
    """``400d``, ``12w``, ``36h`` -> a timedelta; ValueError naming the value otherwise."""
    match = _RETENTION.fullmatch(value)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"retention {value!r}: expected a positive number of days, weeks or hours, e.g. 400d")
    amount, unit = int(match.group(1)), match.group(2)
    return timedelta(**{{"d": "days", "h": "hours", "w": "weeks"}[unit]: amount})


def open_store(url: str, *, retention: timedelta | None = None, create: bool = True) -> Any:
    """The store at ``url`` (see the module docstring); ``StoreError`` if it cannot be used."""
    if url.startswith(("clickhouse://", "clickhouses://")):
        from genai_cost.store.clickhouse import ClickHouseStore

        return ClickHouseStore.from_url(url)
    path = url[len("file://") :] if url.startswith("file://") else url
    if "://" in path:
        raise StoreError(f"{url}: unknown store; use a file path or clickhouse://host:8123/database")
    from genai_cost.store.embedded import EmbeddedStore

    return EmbeddedStore(path, retention=retention, create=create)
