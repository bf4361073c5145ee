"""Ended spans whose remaining work runs off the caller's thread, in the order they ended.

``CostSpanProcessor`` hands every ended span here when all it forwards to are batch exporters
(which export off the caller's thread anyway): the caller's ``span.end()`` then costs one
``deque.append``, and a daemon thread completes, prices, de-duplicates and rolls the spans up and
passes them on -- the same work, in the same order, as ``on_end`` would have done inline, so the
exported spans are the same.

The thread wakes when the queue stops being empty and waits ``delay`` seconds before it drains,
as a batch exporter does: a burst of calls is not interleaved with the work of completing them,
and on an idle process the thread sleeps. ``drain`` (``force_flush``, ``shutdown``) does the work
at once on the calling thread. The queue never drops a span: past ``max_queued`` the caller
drains it itself (back-pressure, as if no thread were there). After a fork the child starts
afresh, with its own thread and an empty queue (the parent's spans are the parent's).
"""

from __future__ import annotations

import logging
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

_log = logging.getLogger(__name__)

DEFAULT_DELAY_S = 0.05
DEFAULT_MAX_QUEUED = 4096


class DeferredEnds:
    def __init__(
        self,
        handle: Callable[[Any], None],
        *,
        delay: float = DEFAULT_DELAY_S,
        max_queued: int = DEFAULT_MAX_QUEUED,
        name: str = "genai-cost-span-completion",
    ) -> None:
        self._handle = handle  # must not raise (the processor catches and forwards)
        self._delay = delay
        self._max_queued = max_queued
        self._name = name
        self._reset()
        if hasattr(os, "register_at_fork"):  # weakly: a processor that is gone is not kept alive
            reset = weakref.WeakMethod(self._reset)
            os.register_at_fork(after_in_child=lambda: (method := reset()) is not None and method())

    def _reset(self) -> None:
        self._queue: deque[Any] = deque()
        self._draining = threading.Lock()  # one drainer at a time keeps the order
        self._starting = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def offer(self, span: Any) -> bool:
        """Queue an ended span; False when closed (the caller handles it inline)."""
        if self._closed:
            return False
        queue = self._queue
        queue.append(span)
        size = len(queue)
        if size == 1:
            if self._thread is None:
                self._start()
            self._wake.set()
        elif size >= self._max_queued:
            self.drain()
        return True

    def drain(self) -> None:
        """Complete and pass on every queued span, now, on this thread."""
        queue = self._queue
        handle = self._handle
        with self._draining:
            while True:
                try:
                    span = queue.popleft()
                except IndexError:
                    return
                handle(span)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and drain what is left (``shutdown``)."""
        self._closed = True
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self.drain()

    def _start(self) -> None:
        with self._starting:
            if self._thread is not None:
                return
            thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread = thread
        thread.start()

    def _run(self) -> None:
        wake, stopping = self._wake, self._stopping
        while not stopping.is_set():
            wake.wait()
            wake.clear()
            if stopping.wait(self._delay):
                break
            try:
                self.drain()
            except Exception:  # handle() catches its own; this is a last resort that keeps the thread
                _log.exception("genai-cost: completing ended spans")
