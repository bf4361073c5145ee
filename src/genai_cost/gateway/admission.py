"""The memory limiter: bytes of export requests in flight, across every HTTP and gRPC request.

A per-request size limit does not bound memory: thirty concurrent 105 KB gzip bodies that each
inflate to 8 MB hold a quarter of a gigabyte. So every request reserves what it will hold —
its body as received, then each megabyte as it inflates, then the decoded message (counted as
``otlp.DECODED_FACTOR`` times the inflated bytes: upb's arena plus the serialized copy forwarded) —
and a reservation that would pass the limit is refused *before* the memory is taken: the
receiver answers 503 + Retry-After (HTTP) or RESOURCE_EXHAUSTED with RetryInfo (gRPC), which
exporters retry. As the Collector's memory_limiter, refusing early keeps the spans with the client.
Batches waiting in the forwarder's memory queue are held here too (``hold``/``release``, never
refused: they were acknowledged), so a slow downstream makes new requests wait, not memory grow.

One lock guards a counter; nobody holds it while decoding.
"""

from __future__ import annotations

import threading

from genai_cost.gateway.otlp import PayloadError


class MemoryExhausted(PayloadError):
    """Refused for now: the in-flight bytes would pass the limit (retryable)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"gateway memory limit reached ({limit} bytes of requests in flight): retry later",
            503,
            "RESOURCE_EXHAUSTED",
        )


class MemoryLimiter:
    def __init__(self, limit_bytes: int) -> None:
        """``limit_bytes`` 0: no limit (only counted)."""
        self.limit = limit_bytes
        self.in_flight = 0
        self.refused = 0
        self._lock = threading.Lock()

    def reservation(self) -> Reservation:
        return Reservation(self)

    def hold(self, size: int) -> None:
        """Count ``size`` bytes that are already taken (a queued batch): never refused."""
        with self._lock:
            self.in_flight += size

    def release(self, size: int) -> None:
        self._give(size)

    def _take(self, size: int) -> bool:
        with self._lock:
            if self.limit and self.in_flight + size > self.limit and self.in_flight > 0:
                self.refused += 1
                return False
            # An idle gateway takes any one request up to the per-request limit, as the queue does.
            self.in_flight += size
            return True

    def _give(self, size: int) -> None:
        with self._lock:
            self.in_flight -= size


class Reservation:
    """The bytes one request holds; grows as it inflates and decodes, released on exit."""

    def __init__(self, limiter: MemoryLimiter) -> None:
        self._limiter = limiter
        self.size = 0

    def grow(self, size: int) -> None:
        """Hold ``size`` more bytes, or raise ``MemoryExhausted`` (nothing taken)."""
        if size <= 0:
            return
        if not self._limiter._take(size):
            raise MemoryExhausted(self._limiter.limit)
        self.size += size

    def __enter__(self) -> Reservation:
        return self

    def __exit__(self, *exc: object) -> None:
        self._limiter._give(self.size)
        self.size = 0
