"""Forward batches downstream: a bounded in-memory queue, an optional spool, retries with backoff.

Admission is the only place a batch can be refused, and refusing is loud: ``submit`` returns
False and the receiver answers 503 / UNAVAILABLE with a retry hint, so the client keeps the spans
and tries again. Once admitted, a batch is retried until the downstream takes it (exponential
backoff with jitter, the server's Retry-After / RetryInfo honoured). The only ends other than
delivery are counted drops: a permanent refusal from the downstream (it says the batch is
invalid), or a shutdown whose drain deadline passed with no spool to save the rest (said once,
loudly, with the count).

Durable mode (a spool opened ``durable``): every batch goes to disk, fsync'd, before ``submit``
returns, and is delivered from there, so what a client was told is accepted survives a crash.

An outage is logged once when it starts and once when the downstream takes batches again; the
retries in between are counted, not logged.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from pathlib import Path

from genai_cost.gateway.admission import MemoryLimiter
from genai_cost.gateway.senders import PermanentError, RetryableError, Sender
from genai_cost.gateway.spool import Spool
from genai_cost.gateway.stats import GatewayStats

_log = logging.getLogger(__name__)
_MAX_HINTED_WAIT = 300.0


class Forwarder:
    def __init__(
        self,
        sender: Sender,
        stats: GatewayStats,
        *,
        max_queue_spans: int = 50_000,
        spool: Spool | None = None,
        workers: int = 1,
        initial_backoff: float = 0.5,
        max_backoff: float = 30.0,
        memory: MemoryLimiter | None = None,
    ) -> None:
        self._sender = sender
        # Bytes queued in memory count against the receivers' in-flight limit until delivered.
        self._memory = memory or MemoryLimiter(0)
        self._stats = stats
        self.max_queue_spans = max_queue_spans
        self.spool = spool
        self._workers = workers
        self._initial_backoff = initial_backoff
        self._max_backoff = max_backoff
        self._queue: deque[tuple[bytes, int]] = deque()
        self.queued_spans = 0
        self._in_flight = 0
        self._ready = threading.Condition()
        self._closing = False
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._threads: list[threading.Thread] = []
        self.durable = spool is not None and spool.durable
        self._outage_lock = threading.Lock()
        self._outage_since: float | None = None
        self._outage_retries = 0
        self._lost_at_shutdown = 0

    # -- admission -------------------------------------------------------------------------
    def has_room(self, spans: int, size: int) -> bool:
        """Whether a batch of ``spans`` and about ``size`` bytes would be admitted now."""
        if self._closing:
            return False
        if self.durable:
            return self.spool.writable and self.spool.stored_bytes + size <= self.spool.max_bytes  # type: ignore[union-attr]
        if self.queued_spans + spans <= self.max_queue_spans or self.queued_spans == 0:
            return True
        return self.spool is not None and self.spool.writable and self.spool.stored_bytes + size <= self.spool.max_bytes

    def submit(self, payload: bytes, spans: int, *, force: bool = False) -> bool:
        """Admit a batch; False means refused (the caller must tell its client to retry).

        ``force`` admits past the memory bound: for spans already acknowledged to a client
        (the roll-up's held traces), which must not be lost.
        """
        if self.durable and not force:
            return self._spool(payload, spans)
        with self._ready:
            if self._closing and not force:
                return False
            # An empty queue always takes one batch, however large: the limit bounds backlog.
            if force or self.queued_spans == 0 or self.queued_spans + spans <= self.max_queue_spans:
                self._memory.hold(len(payload))
                self._queue.append((payload, spans))
                self.queued_spans += spans
                self._ready.notify()
                return True
        return self._spool(payload, spans)

    def _spool(self, payload: bytes, spans: int) -> bool:
        if self.spool is None or self._closing:
            return False
        if not self.spool.put(payload, spans):
            return False
        self._stats.add(spans_spooled=spans)
        with self._ready:
            self._ready.notify()
        return True

    # -- delivery --------------------------------------------------------------------------
    def start(self) -> Forwarder:
        for index in range(self._workers):
            thread = threading.Thread(target=self._run, name=f"genai-cost-gateway-forward-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def _next(self) -> tuple[bytes, int, Path | None, bool] | None:
        with self._ready:
            while True:
                if self._queue:
                    payload, spans = self._queue.popleft()
                    self.queued_spans -= spans
                    self._in_flight += 1
                    return payload, spans, None, False
                if self.spool is not None and not self._closing:
                    taken = self.spool.take()
                    if taken is not None:
                        self._in_flight += 1
                        path, payload, spans, maybe_sent = taken
                        return payload, spans, path, maybe_sent
                if self._closing:
                    return None
                self._ready.wait(0.5)

    def _run(self) -> None:
        while True:
            try:
                item = self._next()
            except Exception:  # a worker must outlive any one bad batch
                _log.exception("genai-cost gateway: taking the next batch failed")
                time.sleep(self._initial_backoff)
                continue
            if item is None:
                return
            payload, spans, spooled, maybe_sent = item
            try:
                delivered = self._deliver(payload, spans)
                if delivered and maybe_sent:
                    # Sent before a crash cut in between delivery and removal: maybe twice.
                    self._stats.add(spans_redelivered=spans)
                if spooled is not None:
                    if delivered:
                        self.spool.done(spooled)  # type: ignore[union-attr]
                    else:
                        self.spool.give_back(spooled)  # type: ignore[union-attr]
                elif not delivered:
                    self._save_or_drop(payload, spans)
            except Exception:
                _log.exception("genai-cost gateway: forwarding a batch failed unexpectedly")
                if spooled is not None:
                    self.spool.give_back(spooled)  # type: ignore[union-attr]
                else:
                    self._save_or_drop(payload, spans)
            finally:
                if spooled is None:
                    self._memory.release(len(payload))
                with self._ready:
                    self._in_flight -= 1
                    self._ready.notify_all()

    def _deliver(self, payload: bytes, spans: int) -> bool:
        """True once delivered or permanently refused (counted); False if shutdown cut retries short."""
        backoff = self._initial_backoff
        while True:
            try:
                self._sender.send(payload)
                self._stats.add(spans_out=spans)
                self._outage_over()
                return True
            except PermanentError as exc:
                self._stats.add(spans_dropped=spans)
                self._outage_over()
                _log.error("genai-cost gateway: downstream refused %d spans for good: %s", spans, exc)
                return True
            except RetryableError as exc:
                self._stats.add(retries=1)
                self._outage_begins(exc)
                delay = exc.retry_after if exc.retry_after is not None else backoff * random.uniform(0.8, 1.2)
                backoff = min(backoff * 2, self._max_backoff)
                if time.monotonic() + delay > self._deadline:
                    return False
                _log.debug("genai-cost gateway: retrying in %.2fs: %s", delay, exc)
                if self._stopping.is_set():
                    time.sleep(delay)  # draining: the deadline check above bounds this
                else:
                    # Its own event, not the queue's condition: new batches must not cut a
                    # backoff short. The server's hint is honoured even past max_backoff
                    # (bounded, in case it is absurd); shutdown ends the wait early.
                    self._stopping.wait(min(delay, _MAX_HINTED_WAIT))

    def _outage_begins(self, exc: Exception) -> None:
        with self._outage_lock:
            self._outage_retries += 1
            if self._outage_since is not None:
                return
            self._outage_since = time.monotonic()
        _log.warning(
            "genai-cost gateway: the downstream is not taking spans (%s); retrying with backoff, spans are kept %s",
            exc,
            "on disk"
            if self.spool is not None
            else "in memory (up to the queue limit; --spool-dir keeps them on disk)",
        )

    def _outage_over(self) -> None:
        if self._outage_since is None:  # the usual case, read without the lock
            return
        with self._outage_lock:
            if self._outage_since is None:
                return
            lasted, retries = time.monotonic() - self._outage_since, self._outage_retries
            self._outage_since, self._outage_retries = None, 0
        _log.warning("genai-cost gateway: the downstream takes spans again after %.1fs (%d retries)", lasted, retries)

    def _save_or_drop(self, payload: bytes, spans: int) -> None:
        if self.spool is not None and self.spool.put(payload, spans):
            self._stats.add(spans_spooled=spans)
            return
        self._stats.add(spans_dropped=spans)
        with self._outage_lock:
            self._lost_at_shutdown += spans
        _log.debug("genai-cost gateway: %d spans could not be delivered before shutdown", spans)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop admitting, deliver what is queued within ``timeout``, then spool (or count) the rest."""
        with self._ready:
            self._closing = True
            self._deadline = time.monotonic() + timeout
            self._ready.notify_all()
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout + self._max_backoff + 1)
        with self._ready:
            leftovers = list(self._queue)
            self._queue.clear()
            self.queued_spans = 0
        for payload, spans in leftovers:  # no worker ran (never started) or they stopped early
            self._memory.release(len(payload))
            self._save_or_drop(payload, spans)
        self._sender.close()
        if self._lost_at_shutdown:
            _log.error(
                "genai-cost gateway: %d spans LOST: the downstream did not take them within the %gs drain timeout "
                "and there is no spool to keep them; run with --spool-dir DIR to keep them across restarts",
                self._lost_at_shutdown,
                timeout,
            )
