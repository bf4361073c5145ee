"""A SQLite-file ledger: many processes on one host share spend through one database file.

WAL journal (readers never wait for the writer), ``synchronous=NORMAL`` (a commit is a write to
the WAL, not an fsync: losing the last moments of spend in a power cut is acceptable for
budgets), and every operation in one ``BEGIN IMMEDIATE`` transaction, which takes the write lock
up front so the read-check-write of ``reserve`` is atomic across processes.

Connections are per thread (sqlite3 objects must not cross threads) and per process (a forked
child opens its own). Calls made on an event loop (``areserve``/``asettle``/``arelease``) run the
same transactions on a small pool of worker threads, so the loop never waits on the file lock.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from genai_cost.budget.ledger import (
    LEASE_BUCKETS,
    Balance,
    Entry,
    LedgerUnavailable,
    Reservation,
    Slot,
    check_micros,
)

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS budget_spend (
        key TEXT PRIMARY KEY,
        spent INTEGER NOT NULL DEFAULT 0,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID""",
    # Reservations by lease bucket (see ledger/__init__): rows of dead leases are ignored, then swept.
    """CREATE TABLE IF NOT EXISTS budget_reserved (
        key TEXT NOT NULL,
        lease INTEGER NOT NULL,
        reserved INTEGER NOT NULL,
        PRIMARY KEY (key, lease)
    ) WITHOUT ROWID""",
)
_RESERVE = (
    "INSERT INTO budget_reserved (key, lease, reserved) VALUES (?, ?, ?) "
    "ON CONFLICT (key, lease) DO UPDATE SET reserved = reserved + excluded.reserved"
)
_TOUCH = "INSERT INTO budget_spend (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING"
_SETTLE = (
    "INSERT INTO budget_spend (key, spent, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET spent = spent + excluded.spent RETURNING spent"
)
_RELEASE = "UPDATE budget_reserved SET reserved = max(0, reserved - ?) WHERE key = ? AND lease = ?"
_PRUNE = (
    "DELETE FROM budget_spend WHERE expires_at < ?",
    "DELETE FROM budget_reserved WHERE lease < ? OR reserved = 0",
)
_PRUNE_EVERY = 1024
# Lock waits are normal under contention (each transaction holds the lock for microseconds), so
# the busy timeout is never shorter than this, whatever the guard's network timeout.
MIN_BUSY_TIMEOUT_S = 0.5
# Worker threads for async calls: each holds one connection; transactions serialise on the file
# lock anyway, so more threads would only queue there.
_ASYNC_WORKERS = 2


class SQLiteLedger:
    """Budget spend in a SQLite file (``sqlite:///path/to/ledger.db``)."""

    def __init__(self, path: str, *, timeout: float = 0.05) -> None:
        self.path = path
        self.url = f"sqlite://{path}"
        self.timeout = max(timeout, MIN_BUSY_TIMEOUT_S)
        self._local = threading.local()
        self._until_prune = _PRUNE_EVERY
        self._workers: ThreadPoolExecutor | None = None  # for async calls, started on the first
        self._connect()  # fail fast on a path that cannot be opened

    def _connect(self) -> sqlite3.Connection:
        local = self._local
        connection: sqlite3.Connection | None = getattr(local, "connection", None)
        if connection is not None and local.pid == os.getpid():
            return connection
        try:
            directory = os.path.dirname(self.path)
            if directory:
                os.makedirs(directory, exist_ok=True)
            # isolation_level=None: we issue BEGIN IMMEDIATE / COMMIT ourselves.
            connection = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            for statement in _SCHEMA:
                connection.execute(statement)
        except (sqlite3.Error, OSError) as error:
            raise LedgerUnavailable(f"cannot open {self.path}: {error}") from error
        local.connection = connection
        local.pid = os.getpid()
        return connection

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on *any* exception: a transaction
        left open would hold the file's write lock, and every other process on the host would
        get ``database is locked`` until this one exits. Our errors become ``LedgerUnavailable``
        (the guard's fail mode); the caller's own (KeyboardInterrupt) propagate after the rollback."""
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise LedgerUnavailable(f"{self.path}: {error}") from error
        try:
            yield connection
            connection.execute("COMMIT")
        except BaseException as error:
            self._rollback(connection)
            if isinstance(error, Exception):
                raise LedgerUnavailable(f"{self.path}: {type(error).__name__}: {error}") from error
            raise

    def _rollback(self, connection: sqlite3.Connection) -> None:
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        if connection.in_transaction:  # cannot happen short of a broken connection: drop it
            connection.close()
            self._local.connection = None

    @staticmethod
    def _balances(
        connection: sqlite3.Connection, keys: Sequence[str], lease: int
    ) -> tuple[dict[str, int], dict[str, int]]:
        marks = ",".join("?" * len(keys))
        spent = dict(connection.execute(f"SELECT key, spent FROM budget_spend WHERE key IN ({marks})", keys))
        reserved = dict(
            connection.execute(
                f"SELECT key, sum(reserved) FROM budget_reserved WHERE key IN ({marks}) AND lease >= ? GROUP BY key",
                (*keys, lease - LEASE_BUCKETS + 1),
            )
        )
        return spent, reserved

    def reserve(self, slots: Sequence[Slot], estimate: int, lease: int) -> Reservation:
        bump = max(estimate, 1)
        keys = [slot.key for slot in slots]
        check_micros(estimate)
        with self._transaction() as connection:
            spent, reserved = self._balances(connection, keys, lease)
            balances = tuple(Balance(spent.get(key, 0), reserved.get(key, 0)) for key in keys)
            admitted = all(
                not slot.hard or b.spent + b.reserved + bump <= slot.limit
                for slot, b in zip(slots, balances, strict=True)
            )
            if admitted and estimate:
                connection.executemany(_RESERVE, [(s.key, lease, estimate) for s in slots])
                new = [(s.key, s.expires_at) for s in slots if s.key not in spent]
                if new:  # the key's row carries its expiry; settle creates it otherwise
                    connection.executemany(_TOUCH, new)
            self._until_prune -= 1
            if self._until_prune <= 0:
                self._until_prune = _PRUNE_EVERY
                connection.execute(_PRUNE[0], (time.time(),))
                connection.execute(_PRUNE[1], (lease - LEASE_BUCKETS + 1,))
        return Reservation(admitted, balances)

    def settle(self, slots: Sequence[Slot], estimate: int, actual: int, lease: int) -> tuple[int, ...]:
        check_micros(estimate, actual)
        with self._transaction() as connection:
            if estimate:
                connection.executemany(_RELEASE, [(estimate, s.key, lease) for s in slots])
            return tuple(connection.execute(_SETTLE, (s.key, actual, s.expires_at)).fetchall()[0][0] for s in slots)

    def record(self, slots: Sequence[Slot], calls: Sequence[Entry]) -> list[tuple[int, ...]]:
        check_micros(*(actual for _, actual in calls))
        with self._transaction() as connection:  # settle's upsert alone, per call: no reservation
            return [
                tuple(
                    connection.execute(_SETTLE, (slots[i].key, actual, slots[i].expires_at)).fetchall()[0][0]
                    for i in indexes
                )
                for indexes, actual in calls
            ]

    def release(self, slots: Sequence[Slot], estimate: int, lease: int) -> None:
        check_micros(estimate)
        with self._transaction() as connection:
            connection.executemany(_RELEASE, [(estimate, s.key, lease) for s in slots])

    def _in_worker(self, operation: Any, *args: Any) -> asyncio.Future[Any]:
        workers = self._workers
        if workers is None:
            workers = self._workers = ThreadPoolExecutor(_ASYNC_WORKERS, thread_name_prefix="genai-cost-sqlite")
        return asyncio.get_running_loop().run_in_executor(workers, operation, *args)

    async def areserve(self, slots: Sequence[Slot], estimate: int, lease: int) -> Reservation:
        return await self._in_worker(self.reserve, slots, estimate, lease)

    async def asettle(self, slots: Sequence[Slot], estimate: int, actual: int, lease: int) -> tuple[int, ...]:
        return await self._in_worker(self.settle, slots, estimate, actual, lease)

    async def arelease(self, slots: Sequence[Slot], estimate: int, lease: int) -> None:
        await self._in_worker(self.release, slots, estimate, lease)

    def balances(self, prefix: str, lease: int) -> Mapping[str, Balance]:
        connection = self._connect()
        # Keys are compared as a range rather than with LIKE, whose wildcards a name may contain.
        bounds = (prefix, prefix + "\U0010ffff")
        try:
            spent = dict(connection.execute("SELECT key, spent FROM budget_spend WHERE key >= ? AND key < ?", bounds))
            reserved = dict(
                connection.execute(
                    "SELECT key, sum(reserved) FROM budget_reserved WHERE key >= ? AND key < ? AND lease >= ? "
                    "GROUP BY key",
                    (*bounds, lease - LEASE_BUCKETS + 1),
                )
            )
        except sqlite3.Error as error:
            raise LedgerUnavailable(str(error)) from error
        return {key: Balance(spent.get(key, 0), reserved.get(key, 0)) for key in spent.keys() | reserved.keys()}

    def close(self) -> None:
        if self._workers is not None:
            self._workers.shutdown(wait=False)
            self._workers = None
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
