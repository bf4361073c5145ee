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

from genai_cost.budget.ledger import LEASE_BUCKETS, Balance, Entry, Reservation, Slot, check_micros

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
