"""The metrics genai-cost records: cost, unpriced calls, and the GenAI semconv client metrics.

Instruments come from the global ``MeterProvider`` through the API's proxy, so they work whether
the SDK is configured before or after instrumentation.

Recording is deferred: the SDK spends ~10 µs per histogram measurement (attribute cleaning and
hashing), and one call makes four. The caller's thread only appends the call's figures to a
queue; a daemon thread records them — during the next call's network wait, in a real app. The
queue is drained before every collection-relevant moment we control (``flush()``, and at exit
before the SDK's own shutdown hook exports the last metrics).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from opentelemetry import metrics

from genai_cost import attributes as attr
from genai_cost.pricing.breakdown import CostBreakdown
from genai_cost.usage import TokenUsage

# Bucket boundaries advised by the GenAI semantic conventions.
_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
# Cost per call spans a hundredth of a cent (a small embedding) to dollars (a long-context call).
_COST_BUCKETS = [1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0, 5.0, 10.0]

# Span attributes copied onto cost metrics (user.id only when opted in: cardinality).
_COST_DIMENSIONS = (
    attr.PROVIDER_NAME,
    attr.REQUEST_MODEL,
    attr.RESPONSE_MODEL,
    attr.OPERATION_NAME,
    attr.PROJECT,
    attr.TEAM,
    attr.FEATURE,
    attr.TENANT,
)
# Not the budget decision: it changes with spend, not with who spent, and would multiply every
# series (allow/warn/downgrade) for a figure the span already carries.
_SEMCONV_DIMENSIONS = (
    attr.PROVIDER_NAME,
    attr.REQUEST_MODEL,
    attr.RESPONSE_MODEL,
    attr.OPERATION_NAME,
    attr.SERVER_ADDRESS,
    attr.SERVER_PORT,
    attr.ERROR_TYPE,
)


_log = logging.getLogger(__name__)


class _DeferredRecorder:
    """Runs queued recordings on a daemon thread; ``deque`` append/popleft are thread-safe."""

    # Wake early when this many calls are waiting, so the queue stays small under load.
    _BATCH = 512

    def __init__(self) -> None:
        self._queue: deque[tuple[Callable[..., None], tuple[Any, ...]]] = deque()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._failed = False

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        queue = self._queue
        queue.append((fn, args))
        if self._thread is None:
            self._start()
        elif len(queue) >= self._BATCH:
            self._wake.set()

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                # Registered after the SDK's MeterProvider hook, so it runs before it at exit.
                atexit.register(self.drain)
                self._thread = threading.Thread(target=self._run, name="genai-cost-metrics", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            self._wake.wait(0.1)
            self._wake.clear()
            self.drain()

    def drain(self) -> None:
        queue = self._queue
        while queue:
            try:
                fn, args = queue.popleft()
            except IndexError:
                return
            try:
                fn(*args)
            except Exception:
                if not self._failed:
                    self._failed = True
                    _log.exception("genai-cost: recording a metric failed")


class CostMetrics:
    def __init__(
        self, meter_provider: metrics.MeterProvider | None = None, *, user_id: bool = False, deferred: bool = True
    ) -> None:
        from genai_cost.version import __version__

        meter = metrics.get_meter("genai_cost", __version__, meter_provider)
        self._dimensions = (*_COST_DIMENSIONS, attr.USER_ID) if user_id else _COST_DIMENSIONS
        self._cost = meter.create_histogram(
            attr.METRIC_COST,
            unit="USD",
            description="Cost of GenAI client operations, in the price's currency (the currency attribute).",
            explicit_bucket_boundaries_advisory=_COST_BUCKETS,
        )
        self._unpriced = meter.create_counter(
            attr.METRIC_UNPRICED_CALLS,
            unit="{call}",
            description="GenAI calls that could not be priced (unknown model, missing or invalid usage).",
        )
        self._tokens = meter.create_histogram(
            attr.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self._duration = meter.create_histogram(
            attr.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._ttfc = meter.create_histogram(
            attr.METRIC_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._recorder = _DeferredRecorder() if deferred else None

    def flush(self) -> None:
        """Record everything queued so far (tests, and before a manual metrics export)."""
        if self._recorder is not None:
            self._recorder.drain()

    def record_cost(self, cost: CostBreakdown, span_attributes: Mapping[str, Any]) -> None:
        if self._recorder is None:
            self._record_cost(cost, span_attributes)
        else:
            # span_attributes is a live dict: hand over a snapshot of what the thread will read.
            self._recorder.submit(self._record_cost, cost, dict(span_attributes))

    def record_call(
        self,
        span_attributes: Mapping[str, Any],
        usage: TokenUsage | None,
        duration_s: float,
        time_to_first_chunk_s: float | None = None,
    ) -> None:
        """The semantic-convention client metrics for one call."""
        if self._recorder is None:
            self._record_call(span_attributes, usage, duration_s, time_to_first_chunk_s)
        else:
            self._recorder.submit(self._record_call, dict(span_attributes), usage, duration_s, time_to_first_chunk_s)

    def record_all(
        self,
        cost: CostBreakdown | None,
        span_attributes: Mapping[str, Any],
        usage: TokenUsage | None,
        duration_s: float,
        time_to_first_chunk_s: float | None = None,
    ) -> None:
        """``record_call`` and (if ``cost``) ``record_cost`` with one hand-over to the thread."""
        if self._recorder is None:
            self._record_all(cost, span_attributes, usage, duration_s, time_to_first_chunk_s)
        else:
            self._recorder.submit(
                self._record_all, cost, dict(span_attributes), usage, duration_s, time_to_first_chunk_s
            )

    def _record_all(
        self,
        cost: CostBreakdown | None,
        span_attributes: Mapping[str, Any],
        usage: TokenUsage | None,
        duration_s: float,
        time_to_first_chunk_s: float | None,
    ) -> None:
        self._record_call(span_attributes, usage, duration_s, time_to_first_chunk_s)
        if cost is not None:
            self._record_cost(cost, span_attributes)

    def _record_cost(self, cost: CostBreakdown, span_attributes: Mapping[str, Any]) -> None:
        dims = {k: v for k in self._dimensions if (v := span_attributes.get(k)) is not None}
        if cost.amount is not None:
            dims["currency"] = cost.currency
            self._cost.record(cost.amount, dims)
        else:
            dims[attr.COST_STATUS] = cost.status
            self._unpriced.add(1, dims)

    def _record_call(
        self,
        span_attributes: Mapping[str, Any],
        usage: TokenUsage | None,
        duration_s: float,
        time_to_first_chunk_s: float | None,
    ) -> None:
        dims = {k: v for k in _SEMCONV_DIMENSIONS if (v := span_attributes.get(k)) is not None}
        self._duration.record(duration_s, dims)
        if time_to_first_chunk_s is not None:
            self._ttfc.record(time_to_first_chunk_s, dims)
        if usage is not None:
            self._tokens.record(usage.input_tokens, {**dims, attr.TOKEN_TYPE: "input"})
            self._tokens.record(usage.output_tokens, {**dims, attr.TOKEN_TYPE: "output"})


_metrics: CostMetrics | None = None


def cost_metrics() -> CostMetrics:
    global _metrics
    if _metrics is None:
        _metrics = CostMetrics()
    return _metrics


def set_cost_metrics(new: CostMetrics) -> None:
    global _metrics
    _metrics = new
