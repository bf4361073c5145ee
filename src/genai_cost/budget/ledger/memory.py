"""The in-process ledger: a dict of [spent, reserved] under one lock held only for the arithmetic."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

from genai_cost.budget.ledger import Balance, Reservation, Slot

_PRUNE_EVERY = 1024  # reservations between sweeps of expired windows


class MemoryLedger:
    """Spend of this process only (the default). Fast: no I/O, a lock around a few integer ops."""

    url = "memory"

    def __init__(self) -> None:
        # key -> [spent, reserved, expires_at]; spent and reserved stay ints
        self._entries: dict[str, list[Any]] = {}
        self._lock = threading.Lock()
        self._until_prune = _PRUNE_EVERY

    def _entry(self, slot: Slot) -> list[Any]:
        entry = self._entries.get(slot.key)
        if entry is None:
            entry = self._entries[slot.key] = [0, 0, slot.expires_at]
        return entry

    def reserve(self, slots: Sequence[Slot], estimate: int) -> Reservation:
        bump = estimate if estimate > 0 else 1
        with self._lock:
            entries = [self._entry(slot) for slot in slots]
            balances = tuple([Balance(e[0], e[1]) for e in entries])
            admitted = True
            for slot, (spent, reserved) in zip(slots, balances, strict=True):
                if slot.hard and spent + reserved + bump > slot.limit:
                    admitted = False
            if admitted and estimate:
                for entry in entries:
                    entry[1] += estimate
            self._until_prune -= 1
            if self._until_prune <= 0:
                self._prune(slots[0].expires_at)
        return Reservation(admitted, balances)

    def settle(self, slots: Sequence[Slot], estimate: int, actual: int) -> tuple[int, ...]:
        with self._lock:
            after = []
            for slot in slots:
                entry = self._entry(slot)
                left = entry[1] - estimate
                entry[1] = left if left > 0 else 0
                entry[0] += actual
                after.append(entry[0])
        return tuple(after)

    def release(self, slots: Sequence[Slot], estimate: int) -> None:
        with self._lock:
            for slot in slots:
                entry = self._entries.get(slot.key)
                if entry is not None:
                    entry[1] = max(0, entry[1] - estimate)

    def balances(self, prefix: str) -> Mapping[str, Balance]:
        with self._lock:
            return {k: Balance(e[0], e[1]) for k, e in self._entries.items() if k.startswith(prefix)}

    def _prune(self, now_floor: float) -> None:
        # Expiry times are window ends plus grace; anything expiring before an expiry time still
        # being written belongs to a window at least a full window old.
        self._until_prune = _PRUNE_EVERY
        stale = [k for k, e in self._entries.items() if e[2] < now_floor - 86_400 * 32]
        for key in stale:
            del self._entries[key]

    def close(self) -> None:
        pass
