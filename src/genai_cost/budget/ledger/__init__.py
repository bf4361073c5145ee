"""Where budget spend is kept: the ``Ledger`` protocol and ``open_ledger(url)``.

Every ledger keeps, per key (one budget scope in one window), two integers in micro-units of
the budget's currency: ``spent`` (settled, actual cost) and ``reserved`` (estimates of calls in
flight). Each operation covers all the keys of one call at once and is atomic, which is what
keeps concurrent calls from spending past a hard limit:

* ``reserve`` admits the call only if, for every *hard* slot, ``spent + reserved + estimate <=
  limit``; then (and only then) it adds the estimate to ``reserved`` on every slot. Spend can
  exceed a hard limit only by what a call's actual cost exceeds its estimate.
* ``settle`` moves one call from reserved to spent: ``reserved -= estimate; spent += actual``.
* ``release`` gives a failed call's estimate back.
* ``record`` adds costs incurred without a reservation (the gateway's post-hoc accounting, a
  batch of calls at once): ``spent += actual`` per call, in order, never refused.

Reservations are leases. Each is filed under the minute it was made (``lease``, from the guard's
clock) and counts for ``LEASE_BUCKETS`` minutes: so the estimate of a call whose process died
before settling stops holding budget back after about a quarter of an hour, instead of until
the window ends. (A call still running after that no longer holds its reservation: its actual
cost still counts when it settles.)

Keys carry their window's name, so a new window is a new key; ledgers may forget a key after its
``expires_at`` (Redis EXPIREAT, SQLite/memory pruning).

Implementations: ``memory`` (this process), ``sqlite:///path`` (processes on one host),
``redis://...`` (a fleet; needs the ``redis`` extra). A ledger that cannot answer within its
timeout raises ``LedgerUnavailable``; the guard then applies the fail mode.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple, Protocol, runtime_checkable

from genai_cost.redaction import redact_url

MICROS = 1_000_000
LEASE_BUCKET_S = 60
LEASE_BUCKETS = 16  # a reservation counts for 15 to 16 minutes


def lease_at(now: float) -> int:
    """The lease bucket (minute number) a reservation made at ``now`` is filed under."""
    return int(now // LEASE_BUCKET_S)


def to_micros(amount: float) -> int:
    """Money to integer micro-units (rounded to the nearest micro-unit)."""
    return round(amount * MICROS)


def from_micros(micros: int) -> float:
    return micros / MICROS


# The largest amount one operation may carry, in micro-units (about 9e9 in money): far above any
# plausible call (see genai_cost.plausibility), low enough that Redis' Lua numbers (doubles) stay
# exact and a signed 64-bit counter cannot overflow for a thousand such operations in a row.
MAX_OPERATION_MICROS = 2**53


def check_micros(*amounts: int) -> None:
    """Refuse, before anything is written, an amount no ledger must store: not an int, negative,
    or above ``MAX_OPERATION_MICROS``. (A Redis script that fails halfway keeps what it wrote,
    so the check comes first; SQLite and memory would otherwise fail mid-transaction.)"""
    for amount in amounts:
        if type(amount) is not int or not 0 <= amount <= MAX_OPERATION_MICROS:
            raise ValueError(f"ledger amount {amount!r:.40} is not an integer in [0, {MAX_OPERATION_MICROS}]")


class LedgerUnavailable(Exception):
    """The ledger did not answer (down, timed out, locked); the guard applies the fail mode."""


class Slot(NamedTuple):
    """One budget scope in one window, as one call touches it."""

    key: str
    limit: int  # micro-units
    hard: bool  # whether exceeding the limit refuses the reservation
    expires_at: float  # epoch seconds after which the key may be forgotten


class Balance(NamedTuple):
    spent: int = 0
    reserved: int = 0


# One post-hoc call for ``Ledger.record``: the indexes of its slots, and its cost in micro-units.
Entry = tuple[tuple[int, ...], int]


class Reservation(NamedTuple):
    """What ``reserve`` saw: each slot's balance *before* this call's estimate was added, and
    whether the estimate was reserved (False: a hard slot would have passed its limit)."""

    admitted: bool
    balances: tuple[Balance, ...]


@runtime_checkable
class Ledger(Protocol):
    """Atomic integer spend per key; see the module docstring for the rules."""

    url: str

    def reserve(self, slots: Sequence[Slot], estimate: int, lease: int) -> Reservation:
        """Reserve ``estimate`` on every slot under lease bucket ``lease``, or on none if a hard
        slot would pass its limit. Balances count the reservations of live leases only."""
        ...

    def settle(self, slots: Sequence[Slot], estimate: int, actual: int, lease: int) -> tuple[int, ...]:
        """Replace a reservation (made under ``lease``) by the actual cost; returns each slot's
        ``spent`` afterwards."""
        ...

    def release(self, slots: Sequence[Slot], estimate: int, lease: int) -> None:
        """Drop a reservation whose call failed before it cost anything."""
        ...

    def record(self, slots: Sequence[Slot], calls: Sequence[Entry]) -> list[tuple[int, ...]]:
        """Add the costs of ``calls`` that were never reserved (already incurred: nothing to admit
        or refuse), in order, as one atomic operation. Each call is (indexes into ``slots``, cost);
        returns, per call, the ``spent`` of its slots just after its cost was added."""
        ...

    def balances(self, prefix: str, lease: int) -> Mapping[str, Balance]:
        """Every live key starting with ``prefix`` and its balance, reservations as of lease
        bucket ``lease`` (for status and fan-outs)."""
        ...

    def close(self) -> None: ...


LEDGER_SCHEMES = ("memory", "sqlite://", "redis://", "rediss://", "unix://")


def url_problem(url: str) -> str | None:
    """Why ``url`` names no ledger, or None."""
    if url == "memory" or url.startswith(LEDGER_SCHEMES[1:]):
        return None
    return f"expected memory, sqlite:///path or redis://host:port/db, got {redact_url(url)!r}"


def open_ledger(url: str, *, timeout: float = 0.05) -> Ledger:
    """A ledger from its URL: ``memory``, ``sqlite:///path/to.db``, ``redis://host:port/db``
    (``rediss://`` for TLS, ``?cluster=yes`` for Redis Cluster)."""
    if url in ("", "memory", "memory://"):
        from genai_cost.budget.ledger.memory import MemoryLedger

        return MemoryLedger()
    if url.startswith("sqlite://"):
        from genai_cost.budget.ledger.sqlite import SQLiteLedger

        path = url.removeprefix("sqlite://")
        # sqlite:///abs/path -> /abs/path; sqlite://relative -> relative
        return SQLiteLedger(path, timeout=timeout)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from genai_cost.budget.ledger.redis import RedisLedger

        return RedisLedger(url, timeout=timeout)
    raise ValueError(f"unknown ledger: {url_problem(url)}")


__all__ = [
    "LEASE_BUCKETS",
    "LEASE_BUCKET_S",
    "MAX_OPERATION_MICROS",
    "MICROS",
    "Balance",
    "Entry",
    "Ledger",
    "LedgerUnavailable",
    "Reservation",
    "Slot",
    "check_micros",
    "from_micros",
    "lease_at",
    "open_ledger",
    "to_micros",
    "url_problem",
]
