"""The background store writer: what the gateway and the SDK hand over is stored off their path.

``offer`` is an append to a bounded in-memory list (no I/O, no lock held across calls); a thread
turns what was offered into rows (``rows.py``) and writes a batch about once per ``interval``. A
batch the store refuses (locked too long, disk full) stays queued and is retried with back-off,
so a passing problem loses nothing; only a backlog beyond ``max_pending`` is dropped, counted and
logged once — the app or the gateway is never slowed or blocked by its store.

``StoreSpanProcessor`` is the in-process writer: an SDK ``SpanProcessor`` placed beside the export
processors inside ``CostSpanProcessor``, so it sees spans after they are priced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from genai_cost.store.rows import StoredCall, calls_from_spans

_log = logging.getLogger(__name__)


@dataclass
class WriterStats:
    written: int = 0  # calls stored
    skipped: int = 0  # calls already stored (a retried export)
    dropped: int = 0  # offered items dropped because the backlog was full
    failed_writes: int = 0  # batches the store refused (retried)


class StoreWriter:
    def __init__(
        self,
        store: Any,
        to_calls: Callable[[Any], Iterable[StoredCall]],
        *,
        interval: float = 1.0,
        max_pending: int = 500_000,
        max_batch: int = 100_000,
        max_backoff: float = 30.0,
    ) -> None:
        self.store = store
        self.stats = WriterStats()
        self._to_calls = to_calls
        self._interval = interval
        self._max_pending = max_pending
        self._max_batch = max_batch
        self._max_backoff = max_backoff
        self._items: list[Any] = []
        self._pending = 0  # weight of self._items (spans)
        self._unwritten: list[StoredCall] = []  # converted, refused by the store, to retry
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._closing = False
        self._warned_drop = False
        self._warned_error = False
        self._thread = threading.Thread(target=self._run, name="genai-cost-store-writer", daemon=True)
        self._thread.start()

    def offer(self, item: Any, weight: int = 1) -> bool:
        """Queue ``item`` (an OTLP payload, a span) for the store; False if the backlog is full."""
        with self._lock:
            if self._pending + weight > self._max_pending or self._closing:
                self.stats.dropped += weight
                warn = not self._warned_drop
                self._warned_drop = True
            else:
                self._items.append(item)
                self._pending += weight
                self._idle.clear()
                if self._pending >= self._max_batch:
                    self._wake.set()
                return True
        if warn:
            _log.warning("genai-cost store %s: writer backlog full, calls dropped (counted)", self.store.url)
        return False

    def _take(self) -> list[Any]:
        with self._lock:
            items, self._items, self._pending = self._items, [], 0
            return items

    def _run(self) -> None:
        backoff = self._interval
        while True:
            self._wake.wait(backoff if self._unwritten else self._interval)
            self._wake.clear()
            closing = self._closing
            items = self._take()
            calls = self._unwritten
            self._unwritten = []
            for item in items:
                try:
                    calls.extend(self._to_calls(item))
                except Exception:  # a payload we cannot read must not stop the writer
                    _log.exception("genai-cost store: could not read spans for the store; skipped")
            if calls:
                try:
                    written = self.store.write(calls)
                except Exception as exc:
                    self.stats.failed_writes += 1
                    if not self._warned_error:
                        self._warned_error = True
                        _log.warning("genai-cost store %s: write failed, will retry: %s", self.store.url, exc)
                    self._unwritten = calls if len(calls) <= self._max_pending else calls[-self._max_pending :]
                    self.stats.dropped += len(calls) - len(self._unwritten)
                    backoff = min(backoff * 2, self._max_backoff)
                    if closing:
                        return
                    continue
                backoff = self._interval
                self.stats.written += written
                self.stats.skipped += len(calls) - written
            with self._lock:
                if not self._items:
                    self._idle.set()
            if closing:
                return

    def flush(self, timeout: float = 30.0) -> bool:
        """Write everything offered so far; True when done within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        while time.monotonic() < deadline:
            if self._idle.wait(0.05) and not self._unwritten:
                with self._lock:
                    if not self._items:
                        return True
            self._wake.set()
        return False

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop the thread."""
        self.flush(timeout)
        with self._lock:
            self._closing = True
        self._wake.set()
        self._thread.join(timeout)
        self.store.close()


class StoreSpanProcessor:
    """SDK span processor writing finished, priced GenAI spans to a store in the background."""

    exports_later = True  # on_end only queues: CostSpanProcessor may complete spans off the call

    def __init__(self, store: Any, **writer_options: Any) -> None:
        self.writer = StoreWriter(store, _span_calls, **writer_options)

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def _on_ending(self, span: Any) -> None:
        pass

    def on_end(self, span: Any) -> None:
        self.writer.offer(span)

    def shutdown(self) -> None:
        self.writer.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.writer.flush(timeout_millis / 1000)


def _span_calls(span: Any) -> Iterable[StoredCall]:
    return calls_from_spans((span,))
