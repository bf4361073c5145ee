"""Busy time of a self-hosted endpoint, shared out among the calls that kept it busy.

A self-hosted model (Ollama, vLLM, TGI) is paid by the GPU-hour whether it serves one request or
twenty at once. Charging each call ``rate x GPUs x its own duration`` bills the same GPU-second once
per concurrent call; charging nothing (the old behaviour) bills nothing. Here each call gets its
share of the time the endpoint was busy: at every instant the cost rate is divided equally among
the calls in flight (processor sharing), so over any period the calls' shares sum to exactly the
endpoint's busy time -- however they overlap -- and ``rate x GPUs x share`` sums to the GPU bill
for that busy time.

The bookkeeping is a "virtual clock" per endpoint: ``clock`` advances by ``dt / n`` while ``n``
calls are in flight. A call notes the clock when it starts; its share is how far the clock moved
by the time it ends. Start and end take one small lock around a few float operations (no I/O, no
lock held across the call), which is what the call path can afford.

The lowest layer that knows prices uses it (``PriceCatalog.busy_clock``); instrumentations call
``start``/``end`` through ``lifecycle.GenAICall``. Idle time (no call in flight) is nobody's: a
GPU paid for and unused is capacity planning, not the spend of a call.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

__all__ = ["BusyClock", "busy_clock"]


class BusyClock:
    """The processor-sharing clock of one endpoint (thread-safe)."""

    __slots__ = ("_lock", "_in_flight", "_last", "_clock", "busy_seconds")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_flight = 0
        self._last = 0.0
        self._clock = 0.0  # integral of 1/n(t) dt over the time n(t) > 0
        # Wall time during which at least one call was in flight, since the clock was made.
        self.busy_seconds = 0.0

    def _advance(self, now: float) -> None:
        # Called with the lock held. Out-of-order timestamps (two threads reading the clock just
        # before taking the lock) count as no time passing rather than negative time.
        elapsed = now - self._last
        if elapsed > 0.0:
            if self._in_flight:
                self._clock += elapsed / self._in_flight
                self.busy_seconds += elapsed
            self._last = now

    def start(self, now: float) -> float:
        """A call begins at ``now`` (``time.perf_counter()``); returns its token for ``end``."""
        with self._lock:
            self._advance(now)
            self._in_flight += 1
            return self._clock

    def end(self, token: float, now: float) -> float:
        """The call begun with ``token`` ends at ``now``: its share of busy time, in seconds."""
        with self._lock:
            self._advance(now)
            if self._in_flight:
                self._in_flight -= 1
            return self._clock - token

    @property
    def in_flight(self) -> int:
        return self._in_flight


_clocks: dict[Hashable, BusyClock] = {}
_clocks_lock = threading.Lock()


def busy_clock(endpoint: Hashable) -> BusyClock:
    """The clock of one endpoint, made on first use; one per endpoint for the process's life."""
    clock = _clocks.get(endpoint)
    if clock is None:
        with _clocks_lock:
            clock = _clocks.setdefault(endpoint, BusyClock())
    return clock
