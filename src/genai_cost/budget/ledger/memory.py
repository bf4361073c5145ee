"""The in-process ledger: a dict of spend and leased reservations under one lock held only for
the arithmetic.

Keys of windows that are over are forgotten on every path (reserve, settle, record: the gateway
only records), so a per-user fan-out over a long-running process keeps the users of the live
windows only. Keys are filed by their expiry time as well, so a sweep touches the expired ones
and a handful of expiry times, never the whole dict; it runs every ``_PRUNE_EVERY`` operations
and at most once per ``_PRUNE_PERIOD_S`` of the clock -- the guard's own (``BudgetGuard`` hands
its clock over), so windows expire in the time the guard decides in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence

from genai_cost.budget.ledger import (
    LEASE_BUCKETS,
    MAX_OPERATION_MICROS,
    Balance,
    Entry,
    Reservation,
    Slot,
    check_micros,
)

_PRUNE_EVERY = 1024  # operations between looks at the clock
_PRUNE_PERIOD_S = 60.0  # clock seconds between sweeps of expired windows


class _Entry:
    __slots__ = ("spent", "leases", "first_lease", "expires_at")

    def __init__(self, expires_at: float) -> None:
        self.spent = 0
        self.leases: dict[int, int] = {}  # lease bucket -> micro-units reserved under it
        self.first_lease = 0  # no bucket in `leases` is older (it may be younger)
        self.expires_at = expires_at

    def reserved(self, lease: int) -> int:
        leases = self.leases
        if not leases:
            return 0
        oldest = lease - LEASE_BUCKETS + 1
        if self.first_lease < oldest:  # rare: look for leases nobody settled, and drop them
            for bucket in [b for b in leases if b < oldest]:
                del leases[bucket]
            self.first_lease = min(leases, default=lease)
        return sum(leases.values())

    def add(self, estimate: int, lease: int) -> None:
        leases = self.leases
        if lease in leases:
            leases[lease] += estimate
        else:
            if not leases or lease < self.first_lease:
                self.first_lease = lease
            leases[lease] = estimate

    def give_back(self, estimate: int, lease: int) -> None:
        left = self.leases.get(lease, 0) - estimate
        if left > 0:
            self.leases[lease] = left
        else:
            self.leases.pop(lease, None)


class MemoryLedger:
    """Spend of this process only (the default). Fast: no I/O, a lock around a few integer ops."""

    url = "memory"

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._entries: dict[str, _Entry] = {}
        self._by_expiry: dict[float, list[str]] = {}  # expires_at -> keys created with it
        self._lock = threading.Lock()
        self._until_prune = _PRUNE_EVERY
        self._next_sweep = 0.0

    def _entry(self, slot: Slot) -> _Entry:
        entry = self._entries.get(slot.key)
        if entry is None:
            entry = self._entries[slot.key] = _Entry(slot.expires_at)
            keys = self._by_expiry.get(slot.expires_at)
            if keys is None:
                self._by_expiry[slot.expires_at] = [slot.key]
            else:
                keys.append(slot.key)
        return entry

    def _tick(self, calls: int = 1) -> None:
        """Count operations (a batch's calls; under the lock); sweep expired windows when due."""
        self._until_prune -= calls
        if self._until_prune <= 0:
            self._until_prune = _PRUNE_EVERY
            now = self.clock()
            if now >= self._next_sweep:
                self._next_sweep = now + _PRUNE_PERIOD_S
                self._prune(now)

    def reserve(self, slots: Sequence[Slot], estimate: int, lease: int) -> Reservation:
        check_micros(estimate)
        bump = estimate if estimate > 0 else 1
        found = self._entries
        with self._lock:
            entries = []
            balances = []
            admitted = True
            for slot in slots:
                entry = found.get(slot.key) or self._entry(slot)
                entries.append(entry)
                spent, reserved = entry.spent, entry.reserved(lease) if entry.leases else 0
                balances.append(Balance(spent, reserved))
                if slot.hard and spent + reserved + bump > slot.limit:
                    admitted = False
            if admitted and estimate:
                for entry in entries:
                    entry.add(estimate, lease)
            self._tick()
        return Reservation(admitted, tuple(balances))

    def settle(self, slots: Sequence[Slot], estimate: int, actual: int, lease: int) -> tuple[int, ...]:
        check_micros(estimate, actual)
        found = self._entries
        with self._lock:
            self._tick()
            after = []
            for slot in slots:
                entry = found.get(slot.key) or self._entry(slot)
                if estimate:
                    entry.give_back(estimate, lease)
                entry.spent += actual
                after.append(entry.spent)
        return tuple(after)

    def record(self, slots: Sequence[Slot], calls: Sequence[Entry]) -> list[tuple[int, ...]]:
        check_micros(*(actual for _, actual in calls))
        out = []
        with self._lock:
            self._tick(len(calls))
            entries = [self._entry(slot) for slot in slots]
            for indexes, actual in calls:
                after = []
                for index in indexes:
                    entry = entries[index]
                    entry.spent += actual
                    after.append(entry.spent)
                out.append(tuple(after))
        return out

    def release(self, slots: Sequence[Slot], estimate: int, lease: int) -> None:
        with self._lock:
            for slot in slots:
                entry = self._entries.get(slot.key)
                if entry is not None:
                    entry.give_back(estimate, lease)

    def balances(self, prefix: str, lease: int) -> Mapping[str, Balance]:
        with self._lock:
            return {
                key: Balance(entry.spent, entry.reserved(lease))
                for key, entry in self._entries.items()
                if key.startswith(prefix)
            }

    def _prune(self, now: float) -> None:
        entries = self._entries
        by_expiry = self._by_expiry
        for expires_at in [e for e in by_expiry if e < now]:
            for key in by_expiry.pop(expires_at):
                entries.pop(key, None)

    def close(self) -> None:
        pass

    def lane(self, slots: Sequence[Slot]) -> Lane:
        """A fixed set of slots (the budgets that cover every call, in one window) bound to their
        entries, for the guard's common call: see ``Lane``."""
        with self._lock:
            return Lane(self, tuple((self._entry(slot), slot.limit) for slot in slots))


class Lane:
    """Reserve and settle on fixed slots without looking their keys up again: what the guard's
    common call needs (every budget covers every call, this window) in one short method each.

    ``reserve_fitting`` reserves only when the estimate fits *every* slot, soft or hard (the
    allow decision), and otherwise reserves nothing and returns None: the guard then takes its
    general path, which decides warn, downgrade or block. The entries are the ledger's own (the
    same objects ``balances`` reads), so both paths keep one account.
    """

    __slots__ = ("_ledger", "_slots", "single")

    def __init__(self, ledger: MemoryLedger, slots: tuple[tuple[_Entry, int], ...]) -> None:
        self._ledger = ledger
        self._slots = slots
        # The one entry and limit when one budget covers every call (the usual set-up).
        self.single = slots[0] if len(slots) == 1 else None

    def reserve_fitting(self, estimate: int, lease: int) -> tuple[Balance, ...] | None:
        if type(estimate) is not int or not 0 <= estimate <= MAX_OPERATION_MICROS:
            check_micros(estimate)  # raises, naming the amount
        bump = estimate if estimate > 0 else 1
        ledger = self._ledger
        single = self.single
        with ledger._lock:
            if single is not None:
                entry, limit = single
                spent = entry.spent
                reserved = entry.reserved(lease) if entry.leases else 0
                if spent + reserved + bump > limit:
                    return None
                if estimate:
                    entry.add(estimate, lease)
                balances: tuple[Balance, ...] = (Balance(spent, reserved),)
            else:
                found = []
                for entry, limit in self._slots:
                    spent = entry.spent
                    reserved = entry.reserved(lease) if entry.leases else 0
                    if spent + reserved + bump > limit:
                        return None
                    found.append(Balance(spent, reserved))
                if estimate:
                    for entry, _ in self._slots:
                        entry.add(estimate, lease)
                balances = tuple(found)
            ledger._until_prune -= 1
            if ledger._until_prune <= 0:
                ledger._tick(0)
        return balances

    def settle(self, estimate: int, actual: int, lease: int) -> tuple[int, ...]:
        if type(actual) is not int or not 0 <= actual <= MAX_OPERATION_MICROS:
            check_micros(actual)
        ledger = self._ledger
        single = self.single
        with ledger._lock:
            if single is not None:
                entry = single[0]
                if estimate:
                    entry.give_back(estimate, lease)
                entry.spent += actual
                after: tuple[int, ...] = (entry.spent,)
            else:
                spent_after = []
                for entry, _ in self._slots:
                    if estimate:
                        entry.give_back(estimate, lease)
                    entry.spent += actual
                    spent_after.append(entry.spent)
                after = tuple(spent_after)
            ledger._until_prune -= 1
            if ledger._until_prune <= 0:
                ledger._tick(0)
        return after

    def release(self, estimate: int, lease: int) -> None:
        with self._ledger._lock:
            for entry, _ in self._slots:
                entry.give_back(estimate, lease)
