"""Calendar windows in a time zone: which hour/day/month a moment falls in, and when it ends.

A window is named by its local start (``2026-12``, ``2026-12-01``, ``2026-12-01T10``) so ledger
keys roll over by themselves at the boundary; nothing has to reset spend. Days and months follow
the wall clock (a DST day is 23 or 25 hours long); hours are real hours, so the repeated hour of
an autumn DST change is two windows with distinct names (the UTC offset is part of the name).

``WindowClock`` memoises the current window per (window, zone): on the call path finding the
window is one float compare until the boundary passes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from genai_cost.budget.policy import DAY, HOUR, MONTH

Clock = Callable[[], float]  # seconds since the epoch, like time.time


@dataclass(frozen=True, slots=True)
class Window:
    """One concrete window: [start, end) as epoch seconds, and its name for ledger keys."""

    kind: str
    name: str
    start: float
    end: float
    reset_at: datetime  # ``end`` as a UTC datetime, built once per window

    @classmethod
    def of(cls, kind: str, name: str, start: float, end: float) -> Window:
        return cls(kind, name, start, end, datetime.fromtimestamp(end, UTC))

    def elapsed_fraction(self, now: float) -> float:
        return min(1.0, max(0.0, (now - self.start) / (self.end - self.start)))


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def window_at(kind: str, now: float, timezone: str = "UTC") -> Window:
    """The ``kind`` window (hour, day, month) containing ``now`` in ``timezone``."""
    tz = zone(timezone)
    local = datetime.fromtimestamp(now, tz)
    if kind == HOUR:
        start = local.replace(minute=0, second=0, microsecond=0)
        # Hours are counted in real time: a local hour can be skipped or repeated by DST.
        start_ts = start.timestamp()
        if start_ts > now:  # an offset that is not whole hours moved us forward (rare zones)
            start_ts -= 3600
        end_ts = start_ts + 3600
        offset = local.strftime("%z")
        return Window.of(kind, f"{start.strftime('%Y-%m-%dT%H')}{offset}", start_ts, end_ts)
    if kind == DAY:
        start = datetime(local.year, local.month, local.day, tzinfo=tz)
        nxt = start.date() + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
        return Window.of(kind, start.strftime("%Y-%m-%d"), start.timestamp(), end.timestamp())
    if kind == MONTH:
        start = datetime(local.year, local.month, 1, tzinfo=tz)
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        end = datetime(year, month, 1, tzinfo=tz)
        return Window.of(kind, start.strftime("%Y-%m"), start.timestamp(), end.timestamp())
    raise ValueError(f"unknown window {kind!r}")


def month_at(now: float, timezone: str = "UTC") -> Window:
    return window_at(MONTH, now, timezone)


class WindowClock:
    """The current window of each (kind, zone), recomputed only when the clock passes its end.

    ``clock`` is injectable so tests can walk across boundaries without waiting.
    """

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock
        self._current: dict[tuple[str, str], Window] = {}
        self._lock = threading.Lock()

    def now(self) -> float:
        return self.clock()

    def current(self, kind: str, timezone: str, now: float) -> Window:
        key = (kind, timezone)
        window = self._current.get(key)
        if window is not None and window.start <= now < window.end:
            return window
        window = window_at(kind, now, timezone)
        with self._lock:  # only the dict write; a racing thread computes the same window
            self._current[key] = window
        return window
