"""The embedded spend store: one DuckDB file, no server, shared by every process on the host.

Why DuckDB (measured in bench/store/, see bench/README.md): a columnar file stores a call in about
50 bytes and sums a million calls by team in tens of milliseconds, where SQLite needed ~145 bytes
and seconds. DuckDB lets one process at a time open a file for writing, so every access here is a
short session under an ``flock`` on ``<path>.lock``: writers take it exclusively for one batch
(open, insert, close — about 20 ms), readers take it shared. Several gateways or app processes
on one host therefore write one store safely; the in-process writers batch, so the lock is taken
about once a second per process.

A retried export never doubles a row: the insert skips any (time, trace id, span id) already
stored (an anti-join limited to the batch's time range, so it reads only recent row groups), and a
batch is de-duplicated in memory first. Custom dimensions become ``dim_<name>`` columns, added the
first time a writer sees one (bounded by ``schema.MAX_DIMENSIONS``).

Errors the user must act on are ``StoreError`` naming the path: not a DuckDB file or corrupt, a
store written by a newer genai-cost, a directory we cannot write, DuckDB not installed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from genai_cost.store import sql
from genai_cost.store.errors import StoreError
from genai_cost.store.schema import COLUMN_NAMES, COLUMNS, MAX_DIMENSIONS, SCHEMA_VERSION

_log = logging.getLogger(__name__)
_DIMENSION_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_INSTALL_HINT = "the embedded store needs DuckDB: pip install 'genai-cost[store]'"
_TABLE = "calls"

_STRING_COLUMNS = [name for name, kind in COLUMNS if kind == "VARCHAR"]
_NUMBER_COLUMNS = [name for name, kind in COLUMNS if kind in ("DOUBLE", "BIGINT", "UBIGINT")]


def _duckdb() -> Any:
    try:
        import duckdb
    except ImportError:
        raise StoreError(_INSTALL_HINT) from None
    return duckdb


def valid_dimension_name(name: str) -> bool:
    return _DIMENSION_NAME.fullmatch(name) is not None


def _time_literal(when: datetime) -> str:
    micros = (
        int(when.astimezone(UTC).timestamp() * 1_000_000)
        if when.tzinfo
        else int(when.replace(tzinfo=UTC).timestamp() * 1_000_000)
    )
    return f"make_timestamp({micros})"


def _dialect(dimensions: Sequence[str]) -> sql.Dialect:
    columns = {name: f'"{name}"' for name in _STRING_COLUMNS}
    columns.update({f"dim_{d}": f'"dim_{d}"' for d in dimensions})
    columns.update(
        time="time",
        trace_id="lower(hex(trace_id))",
        span_id="lpad(lower(hex(span_id)), 16, '0')",
        duration_ms="duration_ms",
        model="coalesce(response_model, request_model)",
    )
    return sql.Dialect(
        table=_TABLE,
        columns=columns,
        numbers={name: f'"{name}"' for name in _NUMBER_COLUMNS},
        time="time",
        buckets={
            "hour": "strftime(date_trunc('hour', time), '%Y-%m-%dT%H:00:00')",
            "day": "strftime(time, '%Y-%m-%d')",
            "week": "strftime(date_trunc('week', time), '%Y-%m-%d')",
            "month": "strftime(time, '%Y-%m')",
        },
        where_calls="true",
        backslash_escapes=False,
    )


class EmbeddedStore:
    """A spend store in one DuckDB file (``path``); ``retention`` deletes older calls as it writes."""

    engine = "duckdb"

    def __init__(self, path: str | os.PathLike[str], *, retention: timedelta | None = None, create: bool = True):
        self.path = Path(path)
        self.url = str(self.path)
        self.retention = retention
        self._duckdb = _duckdb()
        self._lock_path = Path(f"{self.path}.lock")
        self._thread_lock = threading.Lock()
        self._dimensions: tuple[str, ...] = ()
        self._retention_checked: datetime | None = None
        if not self.path.exists():
            if not create:
                raise StoreError(f"{self.path}: no spend store here (nothing has been written to it yet)")
            self._create()
        with self._session(write=False) as con:
            self._check(con)

    # -- sessions --------------------------------------------------------------------------
    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Any]:
        with self._thread_lock:
            try:
                lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                # A read-only place holding a store can still be read (without the lock).
                if write or not self.path.exists():
                    raise StoreError(f"{self.path}: cannot write here ({exc.strerror})") from None
                lock_fd = None
            try:
                if lock_fd is not None:
                    fcntl.flock(lock_fd, fcntl.LOCK_EX if write else fcntl.LOCK_SH)
                try:
                    con = self._duckdb.connect(str(self.path), read_only=not write)
                except self._duckdb.Error as exc:
                    raise StoreError(self._open_problem(exc)) from None
                try:
                    yield con
                finally:
                    con.close()
            finally:
                if lock_fd is not None:
                    os.close(lock_fd)  # releases the flock

    def _open_problem(self, exc: Exception) -> str:
        text = str(exc)
        if "permission" in text.lower() or "read-only" in text.lower():
            return f"{self.path}: cannot open the spend store for writing ({text.splitlines()[0]})"
        return f"{self.path}: not a readable spend store (corrupt, or not a DuckDB file): {text.splitlines()[0]}"

    def _create(self) -> None:
        if not self.path.parent.is_dir():
            raise StoreError(f"{self.path}: cannot create the spend store ({self.path.parent} is not a directory)")
        if not os.access(self.path.parent, os.W_OK):
            raise StoreError(f"{self.path}: cannot create the spend store (directory {self.path.parent} not writable)")
        columns = ", ".join(f'"{name}" {kind}' for name, kind in COLUMNS)
        with self._session(write=True) as con:
            con.execute("BEGIN")
            con.execute("CREATE TABLE IF NOT EXISTS genai_cost_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
            con.execute(f"CREATE TABLE IF NOT EXISTS {_TABLE} ({columns})")
            con.execute(
                "INSERT INTO genai_cost_meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING", [str(SCHEMA_VERSION)]
            )
            con.execute("COMMIT")

    def _check(self, con: Any) -> None:
        try:
            found = con.execute("SELECT value FROM genai_cost_meta WHERE key = 'schema_version'").fetchone()
        except self._duckdb.Error:
            found = None
        if found is None:
            raise StoreError(f"{self.path}: a DuckDB file, but not a genai-cost spend store (no schema version)")
        version = int(found[0])
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: written by a newer genai-cost (store schema {version}, this version reads up to "
                f"{SCHEMA_VERSION}); upgrade genai-cost — the store is left untouched"
            )
        self._load_dimensions(con)

    def _load_dimensions(self, con: Any) -> None:
        names = [row[0] for row in con.execute(f"DESCRIBE {_TABLE}").fetchall()]
        self._dimensions = tuple(name[4:] for name in names if name.startswith("dim_"))

    @property
    def dimensions(self) -> tuple[str, ...]:
        """Custom dimensions this store has columns for."""
        return self._dimensions

    # -- writing ---------------------------------------------------------------------------
    def write(self, calls: Sequence[tuple[tuple[Any, ...], Mapping[str, str] | None]]) -> int:
        """Store ``(row, dimensions)`` pairs; returns how many were new (retries are skipped)."""
        unique: dict[tuple[Any, Any, Any], tuple[tuple[Any, ...], Mapping[str, str] | None]] = {}
        for call in calls:
            row = call[0]
            unique[(row[0], row[2], row[3])] = call
        if not unique:
            return 0
        with self._session(write=True) as con:
            self._check(con)
            wanted = self._dimensions_in(unique.values())
            new = [d for d in wanted if d not in self._dimensions]
            if new:
                room = MAX_DIMENSIONS - len(self._dimensions)
                if len(new) > room:
                    _log.warning(
                        "genai-cost store %s: dimensions %s not stored (limit %d)",
                        self.path,
                        new[room:],
                        MAX_DIMENSIONS,
                    )
                for name in new[: max(room, 0)]:
                    con.execute(f'ALTER TABLE {_TABLE} ADD COLUMN "dim_{name}" VARCHAR')
                self._load_dimensions(con)
            written = self._insert(con, list(unique.values()))
            self._apply_retention(con)
        return written

    def _dimensions_in(self, calls: Any) -> list[str]:
        seen: dict[str, None] = {}
        for _, dims in calls:
            if dims:
                for name in dims:
                    if name not in seen and valid_dimension_name(name):
                        seen[name] = None
        return list(seen)

    def _insert(self, con: Any, calls: list[tuple[tuple[Any, ...], Mapping[str, str] | None]]) -> int:
        dims = self._dimensions
        columns = list(zip(*(row for row, _ in calls), strict=True))
        values = [list(column) for column in columns]
        for name in dims:
            values.append([(d or {}).get(name) for _, d in calls])
        times = values[0]
        types = [kind for _, kind in COLUMNS]
        types[0] = "BIGINT"  # microseconds, made a TIMESTAMP below
        names = [*COLUMN_NAMES, *(f"dim_{d}" for d in dims)]
        types += ["VARCHAR"] * len(dims)
        unnested = ", ".join(f"unnest(${i + 1}::{kind}[]) AS c{i}" for i, kind in enumerate(types))
        select = ", ".join(["make_timestamp(c0)", *(f"c{i}" for i in range(1, len(types)))])
        lowest, highest = min(times), max(times)
        inserted = con.execute(
            f"INSERT INTO {_TABLE} ({', '.join(chr(34) + n + chr(34) for n in names)}) "
            f"SELECT {select} FROM (SELECT {unnested}) AS b "
            f"WHERE NOT EXISTS (SELECT 1 FROM {_TABLE} AS s WHERE s.time BETWEEN make_timestamp({lowest}) "
            f"AND make_timestamp({highest}) AND s.time = make_timestamp(b.c0) AND s.span_id = b.c3 "
            f"AND s.trace_id = b.c2)",
            values,
        ).fetchone()
        return int(inserted[0]) if inserted else 0

    def _apply_retention(self, con: Any) -> None:
        if self.retention is None:
            return
        now = datetime.now(UTC)
        if self._retention_checked is not None and now - self._retention_checked < timedelta(minutes=10):
            return
        self._retention_checked = now
        con.execute(f"DELETE FROM {_TABLE} WHERE time < {_time_literal(now - self.retention)}")

    def apply_retention(self) -> None:
        """Delete calls older than the retention now (writers do it at most every 10 minutes)."""
        self._retention_checked = None
        with self._session(write=True) as con:
            self._apply_retention(con)

    # -- reading ---------------------------------------------------------------------------
    def totals(
        self,
        by: Sequence[str],
        since: datetime | None = None,
        until: datetime | None = None,
        where: Mapping[str, str] | None = None,
    ) -> list[tuple[Any, ...]]:
        """Group keys (``by`` order) then ``sql.MEASURES``, one tuple per group."""
        with self._session(write=False) as con:
            self._load_dimensions(con)
            query = sql.totals_sql(_dialect(self._dimensions), by, since, until, where, self._dimensions, _time_literal)
            return [tuple(row) for row in con.execute(query).fetchall()]

    def calls(
        self,
        since: datetime | None = None,
        until: datetime | None = None,
        where: Mapping[str, str] | None = None,
        limit: int | None = None,
        min_amount: float | None = None,
    ) -> list[dict[str, Any]]:
        """Per-call rows, oldest first: every ``schema.COLUMNS`` name plus ``dim_<name>`` columns;
        ``time`` is an aware UTC datetime, ids are hex strings."""
        with self._session(write=False) as con:
            self._load_dimensions(con)
            names = [*COLUMN_NAMES, *(f"dim_{d}" for d in self._dimensions)]
            query = sql.calls_sql(
                _dialect(self._dimensions),
                names,
                since,
                until,
                where,
                self._dimensions,
                _time_literal,
                limit,
                min_amount,
            )
            rows = con.execute(query).fetchall()
        out = []
        for row in rows:
            record = dict(zip(names, row, strict=True))
            record["time"] = record["time"].replace(tzinfo=UTC)
            out.append(record)
        return out

    def quantiles(
        self, by: Sequence[str], q: float, since: datetime | None = None, until: datetime | None = None
    ) -> list[tuple[Any, ...]]:
        """Group keys (``by`` order), the ``q``-quantile of a priced call's amount, the priced calls."""
        with self._session(write=False) as con:
            self._load_dimensions(con)
            query = sql.quantiles_sql(_dialect(self._dimensions), by, q, since, until, self._dimensions, _time_literal)
            return [tuple(row) for row in con.execute(query).fetchall()]

    def close(self) -> None:
        """Nothing is held open between sessions; here for the store protocol."""
