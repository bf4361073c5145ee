"""The in-process ledger: a dict of spend and leased reservations under one lock held only for
the arithmetic."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence

from genai_cost.budget.ledger import LEASE_BUCKETS, Balance, Entry, Reservation, Slot

_PRUNE_EVERY = 1024  # reservations between sweeps of expired windows


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

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._until_prune = _PRUNE_EVERY

    def _entry(self, slot: Slot) -> _Entry:
        entry = self._entries.get(slot.key)
        if entry is None:
            entry = self._entries[slot.key] = _Entry(slot.expires_at)
        return entry

    def reserve(self, slots: Sequence[Slot], estimate: int, lease: int) -> Reservation:
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
            self._until_prune -= 1
            if self._until_prune <= 0:
                self._prune(slots[0].expires_at)
        return Reservation(admitted, tuple(balances))

    def settle(self, slots: Sequence[Slot], estimate: int, actual: int, lease: int) -> tuple[int, ...]:
        found = self._entries
        with self._lock:
            after = []
            for slot in slots:
                entry = found.get(slot.key) or self._entry(slot)
                if estimate:
                    entry.give_back(estimate, lease)
                entry.spent += actual
                after.append(entry.spent)
        return tuple(after)

    def record(self, slots: Sequence[Slot], calls: Sequence[Entry]) -> list[tuple[int, ...]]:
        out = []
        with self._lock:
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

    def _prune(self, now_floor: float) -> None:
        # Expiry times are window ends plus grace; anything expiring a month before an expiry
        # time being written now belongs to a window that is over.
        self._until_prune = _PRUNE_EVERY
        stale = [key for key, entry in self._entries.items() if entry.expires_at < now_floor - 86_400 * 32]
        for key in stale:
            del self._entries[key]

    def close(self) -> None:
        pass
