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

import csv
import fcntl
import logging
import os
import re
import tempfile
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
_INSTALL_HINT = "the embedded store needs DuckDB (the store extra: pip install duckdb)"
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
        self._reader: Any = None  # the connection of an open ``reading()`` session
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
        # One batch may hold the same call twice (a retry queued behind its first copy).
        unique = {(call[0][0], call[0][2], call[0][3]): call for call in calls}
        if not unique:
            return 0
        with self._session(write=True) as con:
            # One thread: the writer is a background task beside the app or gateway, and DuckDB's
            # parallel CSV parse costs more CPU in coordination than it saves at batch sizes.
            con.execute("SET threads = 1")
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
        # Rows reach DuckDB as a CSV file it parses in parallel: 2-3x faster than binding Python
        # values (and no numpy/pyarrow needed). Floats are written with repr, which round-trips
        # exactly; ids as hex.
        dims = self._dimensions
        names = [*COLUMN_NAMES, *(f"dim_{d}" for d in dims)]
        kinds = {
            name: ("BIGINT" if name == "time" else "VARCHAR" if kind == "BLOB" else kind) for name, kind in COLUMNS
        }
        kinds.update({f"dim_{d}": "VARCHAR" for d in dims})
        times = [row[0] for row, _ in calls]
        handle, csv_path = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".csv", dir=self.path.parent)
        try:
            with os.fdopen(handle, "w", newline="", encoding="utf-8") as file:
                writer = csv.writer(file, lineterminator="\n")
                if dims:
                    writer.writerows((*row, *((d or {}).get(n) for n in dims)) for row, d in calls)
                else:
                    writer.writerows(row for row, _ in calls)
            columns = ", ".join(f"'{name}': '{kinds[name]}'" for name in names)
            quoted = ", ".join(f'"{name}"' for name in names)
            source = (
                "SELECT * REPLACE (make_timestamp(time) AS time, unhex(trace_id) AS trace_id) "
                f"FROM read_csv({self._literal(csv_path)}, auto_detect = false, header = false, delim = ',', "
                f"quote = '\"', escape = '\"', comment = '', columns = {{{columns}}})"
            )
            inserted = con.execute(
                f"INSERT INTO {_TABLE} ({quoted}) SELECT {quoted} FROM ({source}) AS b WHERE NOT EXISTS "
                f"(SELECT 1 FROM {_TABLE} AS s WHERE s.time BETWEEN make_timestamp({min(times)}) "
                f"AND make_timestamp({max(times)}) AND s.time = b.time AND s.span_id = b.span_id "
                "AND s.trace_id = b.trace_id)"
            ).fetchone()
        finally:
            os.unlink(csv_path)
        return int(inserted[0]) if inserted else 0

    @staticmethod
    def _literal(text: str) -> str:
        return "'" + text.replace("'", "''") + "'"

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

    # -- messages sent ---------------------------------------------------------------------
    def claim(self, keys: Sequence[str], *, keep: timedelta = timedelta(days=62)) -> list[str]:
        """Record that the messages ``keys`` (a digest's period, an anomaly finding) go out now;
        returns those not recorded before, by this process or any other on the same file (one
        write session: the lock file serialises them). The gateway's live answers ask before
        sending, so a restart after the scheduled time does not send the day's digest again.
        Records older than ``keep`` are forgotten (every key names its own day or week)."""
        if not keys:
            return []
        with self._session(write=True) as con:
            con.execute("CREATE TABLE IF NOT EXISTS genai_cost_sent (key VARCHAR PRIMARY KEY, sent TIMESTAMP)")
            con.execute("DELETE FROM genai_cost_sent WHERE sent < ?", [datetime.now(UTC).replace(tzinfo=None) - keep])
            fresh = []
            for key in dict.fromkeys(keys):
                row = con.execute(
                    "INSERT INTO genai_cost_sent VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING key",
                    [key, datetime.now(UTC).replace(tzinfo=None)],
                ).fetchone()
                if row is not None:
                    fresh.append(key)
        return fresh

    # -- reading ---------------------------------------------------------------------------
    @contextmanager
    def reading(self) -> Iterator[EmbeddedStore]:
        """Hold one read session for several queries (a report asks four or five)."""
        if self._reader is not None:
            yield self
            return
        with self._session(write=False) as con:
            self._load_dimensions(con)
            self._reader = con
            try:
                yield self
            finally:
                self._reader = None

    def _query(self, build: Any) -> list[Any]:
        if self._reader is not None:
            return self._reader.execute(build()).fetchall()  # built now: dimensions are loaded
        with self.reading():
            return self._query(build)

    def totals(
        self,
        by: Sequence[str],
        since: datetime | None = None,
        until: datetime | None = None,
        where: Mapping[str, str] | None = None,
    ) -> list[tuple[Any, ...]]:
        """Group keys (``by`` order) then ``sql.MEASURES``, one tuple per group."""
        rows = self._query(
            lambda: sql.totals_sql(_dialect(self._dimensions), by, since, until, where, self._dimensions, _time_literal)
        )
        return [tuple(row) for row in rows]

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
        names: list[str] = []

        def build() -> str:
            names.extend([*COLUMN_NAMES, *(f"dim_{d}" for d in self._dimensions)])
            return sql.calls_sql(
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

        rows = self._query(build)
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
        rows = self._query(
            lambda: sql.quantiles_sql(_dialect(self._dimensions), by, q, since, until, self._dimensions, _time_literal)
        )
        return [tuple(row) for row in rows]

    def close(self) -> None:
        """Nothing is held open between sessions; here for the store protocol."""
