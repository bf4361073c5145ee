"""An on-disk spool: a directory of serialized export batches, oldest first, bounded in bytes.

A batch is written to a temporary name and renamed (atomic on POSIX), so a crash never leaves a
half batch under a real name. A batch is deleted only after the downstream accepted it
(at-least-once). Batches left from a previous run are delivered first after a restart.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

_SUFFIX = ".otlp"
_log = logging.getLogger(__name__)


class Spool:
    def __init__(
        self, directory: str | os.PathLike[str], max_bytes: int, on_lost: Callable[[int], None] | None = None
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._files: deque[tuple[Path, int, int]] = deque()  # (path, size, spans)
        self._bytes = 0
        self._spans = 0
        self._stamp = 0  # the newest name's time stamp: the next one is always later
        for stale in self.directory.glob("*.tmp"):
            stale.unlink(missing_ok=True)
        for path in sorted(self.directory.glob(f"*{_SUFFIX}")):
            size = path.stat().st_size
            spans = int(path.stem.rsplit("-", 1)[-1]) if "-" in path.stem else 0
            self._files.append((path, size, spans))
            self._bytes += size
            self._spans += spans
            stamp = path.stem.split("-", 1)[0]
            if stamp.isdigit():
                self._stamp = max(self._stamp, int(stamp))
        self._sequence = itertools.count()
        self._on_lost = on_lost  # told the span count of a batch that vanished or became unreadable

    @property
    def stored_bytes(self) -> int:
        return self._bytes

    @property
    def spans(self) -> int:
        return self._spans

    def __len__(self) -> int:
        return len(self._files)

    def put(self, payload: bytes, spans: int) -> bool:
        """Store a batch; False when it would pass the size limit (nothing written)."""
        with self._lock:
            if self._bytes + len(payload) > self.max_bytes:
                return False
            self._bytes += len(payload)
            self._spans += spans
            # Names sort oldest first, also for the next run; the wall clock can step back
            # (NTP, a resumed VM), so a stamp never falls below one already used.
            self._stamp = max(time.time_ns(), self._stamp + 1)
            name = f"{self._stamp:020d}-{next(self._sequence):08d}-{spans}"
        final = self.directory / f"{name}{_SUFFIX}"
        temporary = final.with_suffix(".tmp")
        try:
            temporary.write_bytes(payload)
            os.replace(temporary, final)
        except OSError:
            with self._lock:
                self._bytes -= len(payload)
                self._spans -= spans
            temporary.unlink(missing_ok=True)
            raise
        with self._lock:
            self._files.append((final, len(payload), spans))
        return True

    def take(self) -> tuple[Path, bytes, int] | None:
        """The oldest batch, removed from the queue but kept on disk until ``done``."""
        while True:
            with self._lock:
                if not self._files:
                    return None
                path, size, spans = self._files.popleft()
            try:
                return path, path.read_bytes(), spans
            except OSError as exc:  # removed or unreadable behind our back: count it, go on
                _log.error("genai-cost gateway: spooled batch %s (%d spans) is unreadable: %s", path, spans, exc)
                with self._lock:
                    self._bytes -= size
                    self._spans -= spans
                if self._on_lost is not None:
                    self._on_lost(spans)

    def done(self, path: Path) -> None:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0
        spans = int(path.stem.rsplit("-", 1)[-1])
        path.unlink(missing_ok=True)
        with self._lock:
            self._bytes -= size
            self._spans -= spans

    def give_back(self, path: Path) -> None:
        """Return an undelivered batch to the front of the queue (it stays on disk)."""
        with self._lock:
            self._files.appendleft((path, path.stat().st_size, int(path.stem.rsplit("-", 1)[-1])))
