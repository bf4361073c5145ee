"""A SQLite-file ledger: many processes on one host share spend through one database file.

WAL journal (readers never wait for the writer), ``synchronous=NORMAL`` (a commit is a write to
the WAL, not an fsync: losing the last moments of spend in a power cut is acceptable for
budgets), and every operation in one ``BEGIN IMMEDIATE`` transaction, which takes the write lock
up front so the read-check-write of ``reserve`` is atomic across processes.

Connections are per thread (sqlite3 objects must not cross threads) and per process (a forked
child opens its own).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence

from genai_cost.budget.ledger import Balance, LedgerUnavailable, Reservation, Slot

_SCHEMA = """
CREATE TABLE IF NOT EXISTS budget_spend (
    key TEXT PRIMARY KEY,
    spent INTEGER NOT NULL DEFAULT 0,
    reserved INTEGER NOT NULL DEFAULT 0,
    expires_at REAL NOT NULL
) WITHOUT ROWID
"""
_RESERVE = (
    "INSERT INTO budget_spend (key, reserved, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET reserved = reserved + excluded.reserved"
)
_SETTLE = (
    "INSERT INTO budget_spend (key, spent, expires_at) VALUES (?, ?, ?) "
    "ON CONFLICT (key) DO UPDATE SET reserved = max(0, reserved - ?), spent = spent + excluded.spent "
    "RETURNING spent"
)
_RELEASE = "UPDATE budget_spend SET reserved = max(0, reserved - ?) WHERE key = ?"
_PRUNE = "DELETE FROM budget_spend WHERE expires_at < ?"
_PRUNE_EVERY = 1024
# Lock waits are normal under contention (each transaction holds the lock for microseconds), so
# the busy timeout is never shorter than this, whatever the guard's network timeout.
MIN_BUSY_TIMEOUT_S = 0.5


class SQLiteLedger:
    """Budget spend in a SQLite file (``sqlite:///path/to/ledger.db``)."""

    def __init__(self, path: str, *, timeout: float = 0.05) -> None:
        self.path = path
        self.url = f"sqlite://{path}"
        self.timeout = max(timeout, MIN_BUSY_TIMEOUT_S)
        self._local = threading.local()
        self._until_prune = _PRUNE_EVERY
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
            connection.execute(_SCHEMA)
        except (sqlite3.Error, OSError) as error:
            raise LedgerUnavailable(f"cannot open {self.path}: {error}") from error
        local.connection = connection
        local.pid = os.getpid()
        return connection

    def _transaction(self) -> sqlite3.Connection:
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise LedgerUnavailable(f"{self.path}: {error}") from error
        return connection

    @staticmethod
    def _abort(connection: sqlite3.Connection, error: BaseException) -> LedgerUnavailable:
        try:
            connection.execute("ROLLBACK")
        except sqlite3.Error:
            pass
        return LedgerUnavailable(str(error))

    def reserve(self, slots: Sequence[Slot], estimate: int) -> Reservation:
        bump = max(estimate, 1)
        keys = [slot.key for slot in slots]
        connection = self._transaction()
        try:
            found = {
                key: Balance(spent, reserved)
                for key, spent, reserved in connection.execute(
                    f"SELECT key, spent, reserved FROM budget_spend WHERE key IN ({','.join('?' * len(keys))})", keys
                )
            }
            balances = tuple(found.get(key, Balance()) for key in keys)
            admitted = all(
                not slot.hard or b.spent + b.reserved + bump <= slot.limit
                for slot, b in zip(slots, balances, strict=True)
            )
            if admitted and estimate:
                connection.executemany(_RESERVE, [(s.key, estimate, s.expires_at) for s in slots])
            self._until_prune -= 1
            if self._until_prune <= 0:
                self._until_prune = _PRUNE_EVERY
                connection.execute(_PRUNE, (time.time(),))
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            raise self._abort(connection, error) from error
        return Reservation(admitted, balances)

    def settle(self, slots: Sequence[Slot], estimate: int, actual: int) -> tuple[int, ...]:
        connection = self._transaction()
        try:
            after = tuple(
                connection.execute(_SETTLE, (s.key, actual, s.expires_at, estimate)).fetchall()[0][0] for s in slots
            )
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            raise self._abort(connection, error) from error
        return after

    def release(self, slots: Sequence[Slot], estimate: int) -> None:
        connection = self._transaction()
        try:
            connection.executemany(_RELEASE, [(estimate, s.key) for s in slots])
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            raise self._abort(connection, error) from error

    def balances(self, prefix: str) -> Mapping[str, Balance]:
        connection = self._connect()
        # Keys are compared as a range rather than with LIKE, whose wildcards a name may contain.
        try:
            rows = connection.execute(
                "SELECT key, spent, reserved FROM budget_spend WHERE key >= ? AND key < ?",
                (prefix, prefix + "\U0010ffff"),
            ).fetchall()
        except sqlite3.Error as error:
            raise LedgerUnavailable(str(error)) from error
        return {key: Balance(spent, reserved) for key, spent, reserved in rows}

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None
