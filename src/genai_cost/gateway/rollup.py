"""Cross-service trace roll-up: hold each trace's spans for a while, then total it on its root.

Like the Collector's tail-sampling processor, a trace is held for ``wait`` seconds from its first
span (``decision_wait``), on the bet that its spans from every service arrive by then. When the
wait is over the trace's priced calls are summed onto its root span (the one with no parent) as
``genai_cost.trace.amount`` / ``.calls`` and the trace is forwarded. A trace whose root has not
arrived in time is forwarded without a total; spans arriving after their trace left start a new
hold and also pass without one. ``max_spans`` bounds memory: past it the oldest traces leave early.

Spans keep their resource and scope: each held span is copied under a copy of its original
``ResourceSpans``/``ScopeSpans`` (without their other spans), unknown fields included.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from genai_cost import attributes as attr
from genai_cost.gateway.wire import any_value, set_any_value
from genai_cost.plausibility import amount_problem


class _HeldTrace:
    __slots__ = ("deadline", "request", "spans", "scopes")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.request = ExportTraceServiceRequest()
        self.spans = 0
        # (index of the incoming ResourceSpans, of its ScopeSpans) -> ScopeSpans in self.request
        self.scopes: dict[tuple[int, int], Any] = {}


def _shell(message: Any, repeated_field: str) -> Any:
    """A copy of ``message`` without its repeated children (resource, scope, schema url, unknowns kept)."""
    copy = type(message)()
    copy.CopyFrom(message)
    copy.ClearField(repeated_field)
    return copy


class TraceAssembler:
    def __init__(
        self,
        forward: Callable[[Any, int], None],
        *,
        wait: float,
        max_spans: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._forward = forward
        self.wait = wait
        self.max_spans = max_spans
        self._clock = clock
        self._lock = threading.Lock()
        self._traces: OrderedDict[bytes, _HeldTrace] = OrderedDict()
        self.held_spans = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, request: Any) -> None:
        deadline = self._clock() + self.wait
        touched: list[_HeldTrace] = []
        with self._lock:
            for resource_index, resource_spans in enumerate(request.resource_spans):
                resource_shell = None
                for scope_index, scope_spans in enumerate(resource_spans.scope_spans):
                    scope_shell = None
                    for span in scope_spans.spans:
                        held = self._traces.get(span.trace_id)
                        if held is None:
                            held = self._traces[span.trace_id] = _HeldTrace(deadline)
                        if not held.scopes:
                            touched.append(held)
                        key = (resource_index, scope_index)
                        target = held.scopes.get(key)
                        if target is None:
                            if resource_shell is None:
                                resource_shell = _shell(resource_spans, "scope_spans")
                            if scope_shell is None:
                                scope_shell = _shell(scope_spans, "spans")
                            new_resource = held.request.resource_spans.add()
                            new_resource.CopyFrom(resource_shell)
                            target = held.scopes[key] = new_resource.scope_spans.add()
                            target.CopyFrom(scope_shell)
                        target.spans.add().CopyFrom(span)
                        held.spans += 1
                        self.held_spans += 1
            # The (resource, scope) indexes are only meaningful within one request.
            for held in touched:
                held.scopes.clear()
        overflow = self.held_spans - self.max_spans
        if overflow > 0:
            self._release(_first_spans(overflow))

    def start(self) -> TraceAssembler:
        self._thread = threading.Thread(target=self._run, name="genai-cost-gateway-rollup", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        tick = min(max(self.wait / 10, 0.01), 0.5)
        while not self._stop.wait(tick):
            now = self._clock()

            def due(held: _HeldTrace, now: float = now) -> bool:
                return held.deadline <= now

            self._release(due)

    def flush(self) -> None:
        """Release every held trace now (shutdown)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._release(lambda held: True)

    def _release(self, due: Callable[[_HeldTrace], bool]) -> None:
        ready: list[_HeldTrace] = []
        with self._lock:
            # Oldest first: the dict is in arrival order, so stop at the first trace not yet due.
            while self._traces:
                trace_id, held = next(iter(self._traces.items()))
                if not due(held):
                    break
                del self._traces[trace_id]
                self.held_spans -= held.spans
                ready.append(held)
        if not ready:
            return
        out = ExportTraceServiceRequest()
        spans = 0
        for held in ready:
            put_trace_total(held.request)
            out.resource_spans.extend(held.request.resource_spans)
            spans += held.spans
        self._forward(out, spans)


def _first_spans(count: int) -> Callable[[_HeldTrace], bool]:
    """A release predicate that takes the oldest traces until ``count`` spans have left."""
    left = count

    def due(held: _HeldTrace) -> bool:
        nonlocal left
        if left <= 0:
            return False
        left -= held.spans
        return True

    return due


def put_trace_total(request: Any) -> None:
    """Sum the priced spans of one trace's request onto its root span, if it is there."""
    amount = 0.0
    calls = 0
    roots: list[Any] = []  # the root, or its copies when an export was retried
    counted: set[bytes] = set()  # a retried export holds a second, identical copy of its spans
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                if not span.parent_span_id:
                    roots = [*roots, span] if roots and roots[0].span_id == span.span_id else [span]
                if span.span_id in counted:
                    continue
                counted.add(span.span_id)
                for kv in span.attributes:
                    if kv.key == attr.COST_AMOUNT:
                        value = any_value(kv.value)
                        # The enricher's bounds: an implausible amount (1e300, -50, NaN) from
                        # upstream is forwarded as it came but not summed into the trace.
                        if amount_problem(value) is None:
                            amount += value
                            calls += 1
                        break
    if calls == 0:
        return
    for root in roots:
        totals = {attr.TRACE_AMOUNT: amount, attr.TRACE_CALLS: calls}
        for kv in root.attributes:
            if kv.key in totals:
                kv.value.Clear()
                set_any_value(kv.value, totals.pop(kv.key))
        for key, value in totals.items():
            set_any_value(root.attributes.add(key=key).value, value)
