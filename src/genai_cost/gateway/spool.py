"""An on-disk spool: a directory of serialized export batches, oldest first, bounded in bytes.

A batch is written to a temporary name and renamed (atomic on POSIX), so a crash never leaves a
half batch under a real name. A batch is deleted only after the downstream accepted it
(at-least-once). Batches left from a previous run are delivered first after a restart.

Durable writes (the gateway's durable mode, like the Collector's persistent queue) fsync the
batch and the directory before ``put`` returns, so a batch acknowledged to a client survives a
``kill -9`` or a power cut. A batch being sent is renamed ``.sending``: one found so at start-up
may already have reached the downstream before the crash, so it is sent again and counted as a
possible duplicate (at most one batch per forwarding worker).

The directory is created 0700 and batches 0600 (spans carry user ids and tenants). A write that
fails (disk full, file too large, read-only) is refused, not raised: the receiver answers 503 and
the client keeps its spans.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

_SUFFIX = ".otlp"
_SENDING = ".sending"
_log = logging.getLogger(__name__)
_RETRY_WRITES_AFTER = 1.0  # seconds a failed write keeps the spool refusing before trying again


class SpoolError(ValueError):
    """The spool directory cannot be used (a one-line reason, for the command to print)."""


def _spans_in(path: Path) -> int:
    count = path.stem.rsplit("-", 1)[-1]
    return int(count) if count.isdigit() else 0


class Spool:
    def __init__(
        self,
        directory: str | os.PathLike[str],
        max_bytes: int,
        on_lost: Callable[[int], None] | None = None,
        *,
        durable: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.durable = durable
        self._check_directory()
        self._lock = threading.Lock()
        self._files: deque[tuple[Path, int, int]] = deque()  # (path, size, spans)
        self._bytes = 0
        self._spans = 0
        self._stamp = 0  # the newest name's time stamp: the next one is always later
        self.maybe_sent_spans = 0  # spans found mid-send at start-up: possibly delivered already
        self._maybe_sent: set[Path] = set()
        self._failed_at: float | None = None
        for stale in self.directory.glob("*.tmp"):
            stale.unlink(missing_ok=True)
        found = sorted(
            [*self.directory.glob(f"*{_SUFFIX}"), *self.directory.glob(f"*{_SENDING}")], key=lambda p: p.stem
        )
        for path in found:
            size = path.stat().st_size
            spans = _spans_in(path)
            if path.suffix == _SENDING:
                self._maybe_sent.add(path)
                self.maybe_sent_spans += spans
            self._files.append((path, size, spans))
            self._bytes += size
            self._spans += spans
            stamp = path.stem.split("-", 1)[0]
            if stamp.isdigit():
                self._stamp = max(self._stamp, int(stamp))
        self._sequence = itertools.count()
        self._on_lost = on_lost  # told the span count of a batch that vanished or became unreadable

    def _check_directory(self) -> None:
        """Create the directory (0700) and prove a batch can be written there, or say why not in one line."""
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            probe = self.directory / f".probe-{os.getpid()}.tmp"
            descriptor = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.close(descriptor)
            probe.unlink()
        except OSError as exc:
            raise SpoolError(f"spool directory {self.directory}: {exc.strerror or exc}") from None
        status = self.directory.stat()
        if status.st_mode & 0o077:
            if status.st_uid == os.geteuid():  # ours and dedicated to batches: close it
                self.directory.chmod(0o700)
            else:
                _log.warning(
                    "genai-cost gateway: spool directory %s is open to other users (mode %o); spans carry user ids",
                    self.directory,
                    status.st_mode & 0o777,
                )

    @property
    def writable(self) -> bool:
        """False for a moment after a write failed (disk full): refuse early instead of pricing first."""
        return self._failed_at is None or time.monotonic() - self._failed_at > _RETRY_WRITES_AFTER

    @property
    def stored_bytes(self) -> int:
        return self._bytes

    @property
    def spans(self) -> int:
        return self._spans

    def __len__(self) -> int:
        return len(self._files)

    def put(self, payload: bytes, spans: int) -> bool:
        """Store a batch; False when it would pass the size limit or the disk refuses it (nothing kept)."""
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
            self._write(temporary, final, payload)
        except OSError as exc:
            with self._lock:
                self._bytes -= len(payload)
                self._spans -= spans
            temporary.unlink(missing_ok=True)
            if self._failed_at is None:  # once per episode, not once per request
                _log.warning(
                    "genai-cost gateway: cannot write to the spool %s (%s): refusing batches with 503 until it can",
                    self.directory,
                    errno.errorcode.get(exc.errno or 0, exc.strerror or exc),
                )
            self._failed_at = time.monotonic()
            return False
        if self._failed_at is not None:
            self._failed_at = None
            _log.warning("genai-cost gateway: the spool %s takes batches again", self.directory)
        with self._lock:
            self._files.append((final, len(payload), spans))
        return True

    def _write(self, temporary: Path, final: Path, payload: bytes) -> None:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(descriptor, view) :]
            if self.durable:
                os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, final)
        if self.durable:  # the rename itself must survive a crash
            directory = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def take(self) -> tuple[Path, bytes, int, bool] | None:
        """The oldest batch, removed from the queue but kept on disk (as ``.sending``) until ``done``;
        the flag says it may have been delivered before a crash."""
        while True:
            with self._lock:
                if not self._files:
                    return None
                path, size, spans = self._files.popleft()
            maybe_sent = path in self._maybe_sent
            try:
                payload = path.read_bytes()
                if path.suffix != _SENDING:
                    sending = path.with_suffix(_SENDING)
                    os.replace(path, sending)
                    path = sending
                return path, payload, spans, maybe_sent
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
        path.unlink(missing_ok=True)
        self._maybe_sent.discard(path)
        self._failed_at = None  # room was freed: the next write may succeed
        with self._lock:
            self._bytes -= size
            self._spans -= _spans_in(path)

    def give_back(self, path: Path) -> None:
        """Return an undelivered batch to the front of the queue (it stays on disk, no longer sending)."""
        waiting = path.with_suffix(_SUFFIX)
        if path not in self._maybe_sent:
            try:
                os.replace(path, waiting)
                path = waiting
            except OSError:
                pass
        with self._lock:
            self._files.appendleft((path, path.stat().st_size, _spans_in(path)))
