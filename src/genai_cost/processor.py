"""CostSpanProcessor: prices GenAI spans of any origin, de-duplicates them, rolls cost up to the
trace's local root, and records cost metrics — then hands the span to the export processor.

The SDK freezes a span's attributes before ``on_end`` (DESIGN.md, "How data flows"), so this
processor *wraps* the downstream (export) processor and forwards a rebuilt ``ReadableSpan`` that
carries the cost attributes. Spans that are not GenAI calls and not a local root with priced calls
under it are forwarded untouched after two dict probes.

Who prices what:

* our own instrumentations price before ``end()``, so their spans arrive with
  ``genai_cost.status`` already set: not priced again, but counted in de-duplication and roll-up;
* any other GenAI span (anthropic's built-in tracing, the official OTel GenAI instrumentation,
  OpenLLMetry, ...) is read with ``span_reader`` and priced here.

One provider call = one priced span: when two instrumentations saw the same call, the first to
end keeps the amount and the other gets ``genai_cost.status=duplicate``. "The same call" is the
same response id reported by a *different* instrumentation scope in the same trace, or a GenAI
span nested directly in another for the same usage (embeddings carry no id). Across traces, a
root span can be one call with another root: two *foreign* roots (the official OpenAI and
OpenLLMetry instrumentations put Responses API spans in separate traces, see
docs/foreign-spans.md), or a foreign root around one of our own roots while ours ran (OpenLLMetry's
groq instrumentation starts its span without making it current), matched by response id, or
without one by provider, model and usage. One of our own spans is never the duplicate of a span in
another trace, because stubs and replays reuse response ids and a replayed export must not turn a
new call into a duplicate. A span nested inside one of our own
in-flight calls is always the duplicate, because ours carries the budget decision.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.context import Context
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanLimits, SpanProcessor, SynchronousMultiSpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from genai_cost import attributes as attr
from genai_cost.attributes import Status
from genai_cost.backend_view import BackendView
from genai_cost.context import baggage_attribution, default_attribution
from genai_cost.deferred import DeferredEnds
from genai_cost import runtime
from genai_cost.runtime import OUR_SCOPE
from genai_cost.metrics import CostMetrics, cost_metrics
from genai_cost.plausibility import amount_problem
from genai_cost.pricing import PriceCatalog, catalog
from genai_cost.pricing.breakdown import CostBreakdown
from genai_cost.span_reader import is_genai_call, read_span_call

_log = logging.getLogger(__name__)

_COST_KEYS = (
    attr.COST_AMOUNT,
    attr.COST_CURRENCY,
    attr.COST_INPUT,
    attr.COST_OUTPUT,
    attr.COST_CACHE_READ,
    attr.COST_CACHE_WRITE,
    attr.COST_TOOLS,
    attr.COST_SAVINGS,
    attr.PRICE_MODEL,
    attr.PRICE_PROVIDER,
    attr.PRICE_SOURCE,
)
# Span processors that export off the caller's thread (a processor of ours says so with an
# ``exports_later`` attribute).
_EXPORTS_LATER = (BatchSpanProcessor,)
_START_MARKERS = frozenset((attr.OPERATION_NAME, attr.PROVIDER_NAME, attr.LEGACY_SYSTEM, attr.LLM_REQUEST_TYPE))


def _attribute_dict(span: ReadableSpan) -> Any:
    """The span's attributes as a plain dict, read-only.

    ``span.attributes`` is a ``MappingProxyType`` over ``BoundedAttributes``, whose ``get`` of a
    missing key goes through ``__getitem__`` and a caught ``KeyError``: several µs per non-GenAI
    span just to say "not ours". The SDK keeps the values in ``BoundedAttributes._dict``; fall
    back to the public view if that ever changes.
    """
    inner = getattr(getattr(span, "_attributes", None), "_dict", None)
    if type(inner) is dict:
        return inner
    return span.attributes or {}


class _BoundedDict(OrderedDict[Any, Any]):
    """Insertion-ordered map that forgets its oldest entries past ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def put(self, key: Any, value: Any) -> None:
        self[key] = value
        if len(self) > self.limit:
            self.popitem(last=False)


def rebuild_span(span: ReadableSpan, attributes: dict[str, Any]) -> ReadableSpan:
    """A copy of a finished span with other attributes (everything else identical)."""
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


def _completion_of(span: ReadableSpan) -> Callable[[], dict[str, Any]] | None:
    """The end-of-call work one of our calls left for its span (``lifecycle.completes_later``)."""
    completions = runtime.completions
    return completions.pop(span.context.span_id, None) if completions else None


def _completed(span: ReadableSpan, updates: dict[str, Any], limits: SpanLimits | None) -> ReadableSpan:
    """The span with the end-of-call attributes its call built after it ended, held to the
    provider's attribute limits and value rules as ``set_attributes`` would have done on the call."""
    merged = {**_attribute_dict(span), **updates}
    attributes = BoundedAttributes(
        getattr(limits, "max_span_attributes", None),
        merged,
        immutable=True,
        max_value_len=getattr(limits, "max_span_attribute_length", None),
    )
    return rebuild_span(span, attributes)  # type: ignore[arg-type]


class CostDecider:
    """The pricing decision for one finished span, shared by ``CostSpanProcessor`` and the gateway.

    Given a span's attributes and identity (scope, ids, parent, times), ``decide`` returns the
    attributes the span should carry instead — cost added, a duplicate stripped of its amount, a
    local root given its trace's total — or ``None`` when it stays as it is. It holds the state
    that spans across spans (responses seen, priced children, open trace totals), so one decider
    serves one stream of spans: a process's SDK pipeline, or the gateway's ingest.
    """

    def __init__(
        self,
        *,
        price_catalog: PriceCatalog | None = None,
        metrics: CostMetrics | None = None,
        amount_aliases: Sequence[str] = (attr.USAGE_COST_ALIAS,),
        max_open_traces: int = 10_000,
        on_priced: Callable[[CostBreakdown, Mapping[str, Any]], None] | None = None,
        backend_view: BackendView | None = None,
    ) -> None:
        self._catalog = price_catalog
        self._metrics = metrics
        self._aliases = tuple(amount_aliases)
        # What priced spans carry for other backends, and how a duplicate hides its usage.
        self._view = backend_view if backend_view is not None else runtime.backend_view
        self._strip = frozenset((*_COST_KEYS, *self._aliases, *self._view.emitted_cost_keys))
        # Called with every cost this decider priced (not duplicates): spend accounting.
        self._on_priced = on_priced
        self._lock = threading.Lock()
        # trace id -> [amount, calls] for traces whose local root has not ended yet.
        self.traces = _BoundedDict(max_open_traces)
        # (trace id, response id) -> (span id, scope) of the span that carries the amount.
        self.responses = _BoundedDict(max_open_traces)
        # response id -> (span id, scope, trace id) of a foreign root span: the one cross-trace
        # pairing (two instrumentations that each started a trace for the same call).
        self.foreign_roots = _BoundedDict(max_open_traces)
        # response id, and (provider, model, input, output) -> (span id, trace id, start, end) of
        # one of our own root spans: a foreign root in another trace reporting that id while ours
        # ran -- or, without an id, the same call and usage around ours -- is the same call
        # (OpenLLMetry's groq instrumentation starts its span without making it current, so
        # without an app span around the call, its span and ours are two roots).
        self.our_roots = _BoundedDict(max_open_traces)
        # parent span id -> (span id, input, output) of a priced GenAI child, to catch an
        # instrumentation whose span wraps another's for the same call without a response id.
        self.priced_children = _BoundedDict(max_open_traces)

    def decide(
        self,
        attributes: Mapping[str, Any],
        scope: str | None,
        trace_id: int,
        span_id: int,
        parent_span_id: int | None,
        parent_is_remote: bool,
        start_ns: int | None,
        end_ns: int | None,
        attribution: Mapping[str, Any] | None = None,
        open_calls: Mapping[int, tuple[int, str, str | None]] | None = None,
    ) -> dict[str, Any] | None:
        """The span's new attributes, or ``None`` to leave it unchanged.

        ``attribution`` is baggage attribution captured at the span's start, applied to a foreign
        GenAI span where the span itself does not say. ``open_calls``: our calls in flight when the
        span ended, if that was before now (``runtime.open_calls`` otherwise).
        """
        is_local_root = parent_span_id is None or parent_is_remote
        if not is_genai_call(attributes):
            if is_local_root and self.traces:
                with self._lock:
                    totals = self.traces.pop(trace_id, None)
                if totals is not None:
                    return {**attributes, **_trace_attributes(totals)}
            return None

        new_attributes: dict[str, Any] | None = None
        status = attributes.get(attr.COST_STATUS)
        if status is None:  # a foreign span: price it here
            cost = self._price(attributes, scope, start_ns, end_ns)
            new_attributes = {**attributes, **cost.span_attributes(self._aliases)}
            new_attributes.update(self._view.extra(new_attributes))
            for key, value in (attribution or {}).items():
                new_attributes.setdefault(key, value)
            for key, value in default_attribution().items():
                new_attributes.setdefault(key, value)
            amount = cost.amount
            ours = False
        else:
            cost = None
            amount = attributes.get(attr.COST_AMOUNT)
            ours = True

        # One lock for the call's registration and, for a local root, taking its trace's total.
        with self._lock:
            # A span that already says it is a duplicate (ours, made inside a routing call of ours)
            # is not a call of its own: registering it would make the outer call its duplicate.
            duplicate_of = (
                None
                if status == Status.DUPLICATE
                else self._register(
                    attributes,
                    scope,
                    trace_id,
                    span_id,
                    parent_span_id,
                    amount,
                    ours,
                    is_local_root,
                    (start_ns, end_ns),
                    runtime.open_calls if open_calls is None else open_calls,
                )
            )
            totals = self.traces.pop(trace_id, None) if is_local_root else None
        if duplicate_of is not None:
            strip = self._strip
            new_attributes = {k: v for k, v in (new_attributes or attributes).items() if k not in strip}
            # Phoenix, MLflow and Langfuse price usage themselves: a duplicate's would count twice.
            new_attributes = self._view.duplicate(new_attributes)
            new_attributes[attr.COST_STATUS] = Status.DUPLICATE
            new_attributes[attr.DUPLICATE_OF] = f"{duplicate_of:016x}"
        elif cost is not None:
            (self._metrics or cost_metrics()).record_cost(cost, new_attributes)  # type: ignore[arg-type]
            if self._on_priced is not None and cost.amount is not None:
                self._on_priced(cost, new_attributes)  # type: ignore[arg-type]

        if is_local_root:
            if duplicate_of is None and _is_amount(amount):  # a root adds itself, not via the map
                totals = [amount, 1] if totals is None else [totals[0] + amount, totals[1] + 1]
            # Our own root call already carries its total (lifecycle sets it before end()).
            if totals is not None and (not ours or totals[1] > 1 or attr.TRACE_AMOUNT not in attributes):
                new_attributes = {**(new_attributes or attributes), **_trace_attributes(totals)}
        return new_attributes

    def _price(self, attributes: Any, scope: str | None, start: int | None, end: int | None) -> CostBreakdown:
        call = read_span_call(attributes, scope)
        if call.usage_error is not None:
            return CostBreakdown.unpriced(Status.INVALID_USAGE, call.usage_error)
        error_type = attributes.get(attr.ERROR_TYPE)
        if call.usage is None and error_type and not (self._catalog or catalog()).has_time_prices:
            return CostBreakdown.unpriced(Status.NO_USAGE, f"the call failed ({error_type}) and reported no usage")
        service_tier = attributes.get(attr.OPENAI_SERVICE_TIER) or attributes.get(attr.OPENAI_REQUEST_SERVICE_TIER)
        return (self._catalog or catalog()).price(
            call.model,
            call.usage,
            provider_name=call.provider_name,
            server_address=call.server_address,
            start_time_ns=start,
            duration_s=(end - start) / 1e9 if start and end else None,
            price_context={"service_tier": str(service_tier)} if service_tier else None,
        )

    def _register(
        self,
        attributes: Any,
        scope: str | None,
        trace_id: int,
        span_id: int,
        parent_span_id: int | None,
        amount: Any,
        ours: bool,
        is_local_root: bool,
        times: tuple[int | None, int | None] = (None, None),
        open_calls: Mapping[int, tuple[int, str, str | None]] | None = None,
    ) -> int | None:
        """Record a finished GenAI call; return the span id it duplicates, if it is a duplicate.
        Called with the lock held. A local root's amount is left to the caller, which takes its
        trace's total at once (no map entry made only to be popped)."""
        response_id = attributes.get(attr.RESPONSE_ID)
        scope = scope or ""
        usage_key = (attributes.get(attr.USAGE_INPUT_TOKENS), attributes.get(attr.USAGE_OUTPUT_TOKENS))
        open_calls = runtime.open_calls if open_calls is None else open_calls
        if not ours and open_calls:
            enclosing = _enclosing_open_call(attributes, trace_id, parent_span_id, open_calls)
            if enclosing is not None:
                return enclosing  # inside our own in-flight call of the same model, which prices it
        foreign_root = response_id is not None and not ours and parent_span_id is None
        if response_id is None and not ours and parent_span_id is None and self.our_roots:
            ours_root = self.our_roots.get(_call_key(attributes, usage_key))
            if ours_root is not None and _contains(times, ours_root[2:]):
                return ours_root[0]
        if response_id is not None:
            # The same scope reporting an id again is a new call (a server reusing ids).
            first = self.responses.get((trace_id, response_id))
            if first is not None and first[1] != scope:
                return first[0]
            if foreign_root:
                other = self.foreign_roots.get(response_id)
                if other is not None and other[1] != scope and other[2] != trace_id:
                    return other[0]
                ours_root = self.our_roots.get(response_id)
                if ours_root is not None and ours_root[1] != trace_id and _overlap(times, ours_root[2:]):
                    return ours_root[0]
        child = self.priced_children.pop(span_id, None)
        if child is not None and (usage_key == child[1] or usage_key == (None, None)):
            return child[0]  # this span wraps another instrumentation's span of the same call
        if response_id is not None:
            self.responses.put((trace_id, response_id), (span_id, scope))
            if foreign_root:
                self.foreign_roots.put(response_id, (span_id, scope, trace_id))
            elif ours and parent_span_id is None:
                self.our_roots.put(response_id, (span_id, trace_id, *times))
        if ours and parent_span_id is None:
            self.our_roots.put(_call_key(attributes, usage_key), (span_id, trace_id, *times))
        if parent_span_id is not None:
            self.priced_children.put(parent_span_id, (span_id, usage_key))
        if not is_local_root and _is_amount(amount):
            totals = self.traces.get(trace_id)
            if totals is None:
                self.traces.put(trace_id, [amount, 1])
            else:
                totals[0] += amount
                totals[1] += 1
        return None


class CostSpanProcessor(SpanProcessor):
    def __init__(
        self,
        downstream: SpanProcessor | Sequence[SpanProcessor],
        *,
        price_catalog: PriceCatalog | None = None,
        metrics: CostMetrics | None = None,
        amount_aliases: Sequence[str] = (attr.USAGE_COST_ALIAS,),
        max_open_traces: int = 10_000,
        complete_later: bool = True,
    ) -> None:
        if isinstance(downstream, SpanProcessor):
            self.downstream = downstream
        else:
            multi = SynchronousMultiSpanProcessor()
            for processor in downstream:
                multi.add_span_processor(processor)
            self.downstream = multi
        self.decider = CostDecider(
            price_catalog=price_catalog,
            metrics=metrics,
            amount_aliases=amount_aliases,
            max_open_traces=max_open_traces,
        )
        self._lock = threading.Lock()
        # span id -> baggage attribution, for spans that only show they are GenAI at the end.
        self._pending_attribution = _BoundedDict(max_open_traces)
        self._warned = False
        # Everything downstream exports off the caller's thread anyway (batch exporters, the
        # spend store's writer): then so does this processor's work (``deferred``), and our own
        # calls leave their end-of-call attributes to it (``lifecycle.completes_later``).
        downstream_list = list(downstream) if not isinstance(downstream, SpanProcessor) else [downstream]
        self.completes_later = (
            complete_later
            and bool(downstream_list)
            and all(isinstance(p, _EXPORTS_LATER) or getattr(p, "exports_later", False) for p in downstream_list)
        )
        self._deferred = DeferredEnds(self._end) if self.completes_later else None
        self._span_limits: SpanLimits | None = None
        if self._deferred is not None:
            # At exit, before the SDK's providers shut down (registered after theirs, so run
            # before): what is still queued is completed, and its metrics handed over in time.
            at_exit = weakref.WeakMethod(self._complete_queued)
            atexit.register(lambda: (method := at_exit()) is not None and method())

    # The decider's state, under the names tests and debuggers have used.
    @property
    def _traces(self) -> _BoundedDict:
        return self.decider.traces

    @property
    def _responses(self) -> _BoundedDict:
        return self.decider.responses

    @property
    def _priced_children(self) -> _BoundedDict:
        return self.decider.priced_children

    # -- SpanProcessor ---------------------------------------------------------------------
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        if self._span_limits is None:  # the provider's limits, for spans completed off the call
            self._span_limits = getattr(span, "_limits", None) or SpanLimits()
        try:
            scope = span.instrumentation_scope
            # Our own spans took their attribution when they were made: no baggage look-up.
            # Others': attribution lives in the caller's context, which is only reachable now.
            attribution = None if scope is not None and scope.name == OUR_SCOPE else baggage_attribution(parent_context)
            if attribution:
                if _START_MARKERS.isdisjoint(_attribute_dict(span)):
                    # Not recognisably GenAI yet (usage arrives at the end): keep the
                    # attribution aside rather than stamp it on every HTTP or DB span.
                    with self._lock:
                        self._pending_attribution.put(span.context.span_id, attribution)
                else:
                    span.set_attributes(attribution)
        except Exception:
            self._log_once("attributing a span")
        self.downstream.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        deferred = self._deferred
        if deferred is not None:
            # A foreign span that ends while calls of ours are in flight is read later: keep
            # which were in flight now (one of them may be the same call, and carry its price).
            open_calls = runtime.open_calls
            in_flight = None
            if open_calls:
                scope = span.instrumentation_scope
                if scope is None or scope.name != OUR_SCOPE:
                    in_flight = dict(open_calls)
            if deferred.offer((span, in_flight)):
                return
        self._end((span, None))

    def _end(self, ended: tuple[ReadableSpan, dict[int, Any] | None]) -> None:
        span, open_calls = ended
        try:
            span = self._process(span, open_calls)
        except Exception:  # a bug here must never lose the span or break the host
            self._log_once("pricing a span")
        self.downstream.on_end(span)

    def _complete_queued(self) -> None:
        try:
            if self._deferred is not None:
                self._deferred.drain()
            if self.decider._metrics is None:
                cost_metrics().flush()
        except Exception:
            self._log_once("completing spans at exit")

    def shutdown(self) -> None:
        if self._deferred is not None:
            self._deferred.close()
        self.downstream.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        if self._deferred is not None:
            self._deferred.drain()
        return self.downstream.force_flush(timeout_millis)

    # -- the work --------------------------------------------------------------------------
    def _process(self, span: ReadableSpan, open_calls: Mapping[int, Any] | None = None) -> ReadableSpan:
        completion = _completion_of(span)
        if completion is not None:
            span = _completed(span, completion(), self._span_limits)
        context = span.context
        parent = span.parent
        pending = None
        if self._pending_attribution:
            with self._lock:
                pending = self._pending_attribution.pop(context.span_id, None)
        scope = span.instrumentation_scope
        new_attributes = self.decider.decide(
            _attribute_dict(span),
            scope.name if scope else None,
            context.trace_id,
            context.span_id,
            parent.span_id if parent is not None else None,
            parent is not None and parent.is_remote,
            span.start_time,
            span.end_time,
            pending,
            open_calls,
        )
        if new_attributes is None:
            return span
        return rebuild_span(span, new_attributes)

    def _log_once(self, what: str) -> None:
        if not self._warned:
            self._warned = True
            _log.exception("genai-cost: error while %s; the span is exported unchanged", what)


def _enclosing_open_call(
    attributes: Any, trace_id: int, parent_span_id: int | None, open_calls: Mapping[int, tuple[int, str, str | None]]
) -> int | None:
    """The span id of our in-flight call that this foreign span is part of, if any.

    Our span is usually the direct parent; with several instrumentations stacked it may be
    further up, so any open call of ours in the same trace for the same provider and model
    counts (a concurrent *different* call of the same model in the same trace through another
    instrumentation only, while ours is active, is not a case that arises).
    """
    if parent_span_id is not None and parent_span_id in open_calls:
        return parent_span_id
    model = attributes.get(attr.REQUEST_MODEL)
    provider = attributes.get(attr.PROVIDER_NAME) or attributes.get(attr.LEGACY_SYSTEM)
    for span_id, (open_trace, open_provider, open_model) in list(open_calls.items()):
        if open_trace == trace_id and open_model == model and str(provider).lower() == open_provider:
            return span_id
    return None


def _overlap(times: tuple[int | None, int | None], other: tuple[int | None, int | None]) -> bool:
    """Whether two spans' [start, end] intervals meet (unknown times never do)."""
    start, end = times
    other_start, other_end = other
    if start is None or end is None or other_start is None or other_end is None:
        return False
    return start <= other_end and other_start <= end


def _contains(times: tuple[int | None, int | None], inner: tuple[int | None, int | None]) -> bool:
    """Whether a span's [start, end] interval holds another's (unknown times never do)."""
    start, end = times
    inner_start, inner_end = inner
    if start is None or end is None or inner_start is None or inner_end is None:
        return False
    return start <= inner_start and inner_end <= end


def _call_key(attributes: Any, usage_key: tuple[Any, Any]) -> tuple[Any, ...]:
    provider = attributes.get(attr.PROVIDER_NAME) or attributes.get(attr.LEGACY_SYSTEM)
    return ("call", str(provider).lower(), attributes.get(attr.REQUEST_MODEL), *usage_key)


def _is_amount(amount: Any) -> bool:
    """Whether an amount counts in a trace's total: a number within plausibility's bounds (an
    upstream span saying 1e300, -50 or NaN must not make its whole trace's total absurd)."""
    return amount_problem(amount) is None


def _trace_attributes(totals: list[Any]) -> dict[str, Any]:
    return {attr.TRACE_AMOUNT: totals[0], attr.TRACE_CALLS: totals[1]}
