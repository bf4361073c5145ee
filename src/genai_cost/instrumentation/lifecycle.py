"""The life of one instrumented provider call, shared by every provider module.

A provider module only knows its SDK: which methods to wrap, how to read request parameters, a
response's usage, and a stream's chunks. Everything else lives here, once:

* ``GenAICall``: the CLIENT span (semconv name and attributes, attribution from context), the
  response and usage, pricing *before* ``end()`` (the SDK freezes attributes at end), metrics,
  and ending exactly once;
* ``invoke`` / ``ainvoke``: run the wrapped SDK method with the span current, let provider
  exceptions reach the caller unchanged, and never let an error of ours reach the host;
* ``SyncStream`` / ``AsyncStream``: transparent proxies over SDK streams that feed each item to a
  provider ``StreamObserver`` and end the span however the stream ends — exhausted, ``break``,
  ``close()``, an exception in the caller's loop, a server error mid-stream, or never consumed.
* self-hosted endpoints priced per GPU-hour: a call notes its endpoint's busy-time clock at start
  and is charged its share of the endpoint's busy time at end (``pricing.busy_time``);
* calls inside a routing call (``GenAICall.routes_other_calls``: LiteLLM driving the openai SDK):
  the inner call is marked ``duplicate`` of the router's, asks no budget and records no metrics.

Budgets (``genai_cost.budget``): a provider module opts its calls in by setting
``call.ask_budget`` on the ``GenAICall`` its ``start`` returns -- a callable returning a
``BudgetAsk(input_tokens, max_output_tokens, swap_model)``, called only when budgets are
configured, so counting the input costs nothing otherwise. ``invoke``/``ainvoke`` then ask the
guard before running the SDK method (model, provider, server and attribution come from the span's
attributes): a block ends the span with ``genai_cost.budget.decision=block`` and raises
``genai_cost.BudgetExceeded`` without calling the SDK; a downgrade calls ``swap_model(cheaper)``
first. ``end()`` settles the actual cost (or releases the reservation of a failed call). A module
that builds calls without ``invoke`` calls ``call.guard_budget()`` itself before the SDK call.
On the async path (``ainvoke``, ``AsyncStream``) a ledger with async operations (Redis, SQLite)
is awaited instead -- ``aguard_budget`` and ``aend`` -- so a slow ledger never holds the loop.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import wrapt
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode, Tracer

from genai_cost import attributes as attr
from genai_cost import runtime
from genai_cost.attributes import Status
from genai_cost.instrumentation import budget_hook
from genai_cost.context import current_attribution
from genai_cost.internal_errors import log_once
from genai_cost.metrics import cost_metrics
from genai_cost.pricing import catalog
from genai_cost.pricing.breakdown import CostBreakdown
from genai_cost.pricing.busy_time import BusyClock
from genai_cost.pricing.plan import scale
from genai_cost.usage import TokenUsage


# What belongs to the process or the caller's task -- Ctrl-C, sys.exit(), a generator's close, a
# task's cancellation -- and always propagates. Anything else raised inside our code, including a
# BaseException subclass from a span processor or plugin, is logged once and never reaches the host.
PROCESS_CONTROL = (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError)


_DECIDED_UNPRICED = frozenset({Status.INVALID_USAGE})


def end_span(span: Any) -> None:
    """``span.end()``, whose span processors (``on_end``) may raise: that must neither replace the
    provider's exception on its way to the caller nor stop a stream the caller is iterating."""
    try:
        span.end()
    except PROCESS_CONTROL:
        raise
    except BaseException:
        log_once("a span processor's on_end (the span itself ended)")


def completes_later(span: Any) -> bool:
    """Whether ``span``'s provider hands every ended span to one span processor that completes
    our spans off the caller's thread (``CostSpanProcessor`` in front of batch exporters only):
    then a call's end-of-call attributes are built there (``GenAICall.complete``), not on the
    call. A provider with any other processor beside it gets them on the call, as before.

    Read from the SDK span's processor (no public API says which processors a span has); the
    verdict is kept while the provider's processor tuple is the same object."""
    return _completed_later_by(getattr(span, "_span_processor", None))


def _completed_later_by(multi: Any) -> bool:
    """``completes_later`` for a provider's (multi) span processor: an SDK tracer's
    ``span_processor``, the one its spans end into."""
    global _completes_later_seen
    processors = getattr(multi, "_span_processors", None)
    seen = _completes_later_seen
    if seen[0] is processors and processors is not None:
        return seen[1]
    verdict = (
        type(processors) is tuple and len(processors) == 1 and getattr(processors[0], "completes_later", False) is True
    )
    _completes_later_seen = (processors, verdict)
    return verdict


_completes_later_seen: tuple[Any, bool] = (None, False)
# What a span completed off the call starts with (``GenAICall.__init__``).
_AT_START = frozenset(
    (attr.OPERATION_NAME, attr.PROVIDER_NAME, attr.REQUEST_MODEL, attr.SERVER_ADDRESS, attr.SERVER_PORT)
)


def capture_message_content() -> bool:
    """Whether the user opted in to recording prompts and completions (off by default)."""
    # Read on every call (tests and apps flip it at run time); parsed only when the value changes.
    global _capture_seen
    value = os.environ.get("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT")
    seen = _capture_seen
    if value == seen[0]:
        return seen[1]
    capture = value is not None and value.strip().lower() in ("true", "1", "span_only", "span_and_event", "event_only")
    _capture_seen = (value, capture)
    return capture


_capture_seen: tuple[str | None, bool] = (None, False)


class DescribedRequest(Protocol):
    """What a provider module's request description gives the span it starts with."""

    operation: str
    model: str | None
    attributes: dict[str, Any]


class DescribedServer(Protocol):
    """What a provider module's endpoint description gives the span: who, where."""

    @property
    def provider_name(self) -> str: ...
    @property
    def address(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...


class ModelOverridable(Protocol):
    """A wrapped call whose budget may choose a cheaper model than the caller's."""

    model_override: str | None


def with_model_override(invocation: ModelOverridable, wrapped: Callable[..., Any]) -> Callable[..., Any]:
    """``wrapped`` called with the model the budget chose, if it chose one by the time the SDK
    method runs (sync or async: an async method's coroutine is handed back for ``ainvoke``)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        model = invocation.model_override
        if model is not None:
            kwargs = {**kwargs, "model": model}
        return wrapped(*args, **kwargs)

    return run


@dataclass(slots=True)
class CallResult:
    """What a provider module learnt from a response (or a finished stream)."""

    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: tuple[str, ...] = ()
    usage: TokenUsage | None = None
    # Cost the provider reported itself (OpenRouter's usage.cost), in USD.
    reported_cost: float | None = None
    # Request context that selects a price variant, e.g. {"service_tier": "flex"}.
    price_context: dict[str, str] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    # Set when usage is incomplete or estimated: (status, human-readable how/why). With no usage,
    # an `invalid_usage` status is kept as it is (the provider module knows the numbers were bad).
    status: tuple[str, str] | None = None
    # False for calls that bill no tokens (fetching a stored response): no price is looked up and
    # they do not count as unpriced calls -- their tokens belong to the call that produced them.
    billable: bool = True
    # The model name to price by when it is not the response's: Bedrock and Vertex answer with the
    # bare model, while the price depends on the inference profile / version the request named.
    price_model: str | None = None


class GenAICall:
    """One provider call: its span, its outcome, its price."""

    __slots__ = (
        "span",
        "attributes",
        "describe_error",
        "ask_budget",
        "_budget",
        "_start",
        "_first_chunk",
        "_result",
        "_error",
        "_ended",
        "_span_id",
        "_is_root",
        "_held",
        "_settle_later",
        "_pending",
        "_busy",
        "_outer",
        "_end_status",
        "_duration",
        "_cost",
        "_after_start",
    )

    def __init__(
        self,
        tracer: Tracer,
        *,
        operation: str,
        provider_name: str,
        request_model: str | None,
        server_address: str | None = None,
        server_port: int | None = None,
        request_attributes: Mapping[str, Any] | None = None,
    ) -> None:
        attributes: dict[str, Any] = {
            attr.OPERATION_NAME: operation,
            attr.PROVIDER_NAME: provider_name,
        }
        if request_model:
            attributes[attr.REQUEST_MODEL] = request_model
        if server_address:
            attributes[attr.SERVER_ADDRESS] = server_address
        if server_port:
            attributes[attr.SERVER_PORT] = server_port
        # When the span will be completed off the call, it starts with the attributes the
        # semantic conventions ask for at creation (for samplers: the five above) and the rest
        # of what is known now joins the end-of-call attributes, built off the call. Otherwise
        # everything is on the span from the start.
        later = _completed_later_by(getattr(tracer, "span_processor", None))
        at_start = dict(attributes) if later else attributes
        if request_attributes:
            attributes.update(request_attributes)
        attribution = current_attribution()
        if attribution:
            attributes.update(attribution)
        self.attributes = attributes
        self._after_start = attributes if later and len(attributes) > len(at_start) else None
        name = f"{operation} {request_model}" if request_model else operation
        self.span = span = tracer.start_span(name, kind=SpanKind.CLIENT, attributes=at_start)
        # A call that is its process's local root is also its own trace total: set it here so
        # the processor need not rebuild the span to add it. An SDK span knows its parent (None
        # when the current one was invalid); other spans make us look the current one up.
        parent: Any = getattr(span, "parent", _NO_PARENT_KNOWN)
        if parent is _NO_PARENT_KNOWN:
            parent = trace.get_current_span().get_span_context()
            parent = parent if parent.is_valid else None
        self._is_root = parent is None or parent.is_remote
        # Made inside a routing call of ours (LiteLLM's completion() driving the openai SDK): the
        # same provider call seen twice. The routing call is the one the application made -- it
        # carries the price and the budget decision -- so this one is marked ``duplicate`` of it,
        # asks no budget and records no metrics. Only routers count: a call made from a tool
        # function that another SDK runs (Gemini's automatic function calling) is a call of its own.
        self._outer: int | None = None
        if _routers and parent is not None and not parent.is_remote and parent.span_id in _routers:
            self._outer = parent.span_id
        span_context = self.span.get_span_context()
        self._span_id = span_context.span_id
        runtime.open_calls[self._span_id] = (span_context.trace_id, provider_name, request_model)
        self._start = time.perf_counter()
        # A self-hosted model priced per GPU-hour: (its endpoint's busy clock, this call's token).
        self._busy: tuple[BusyClock, float] | None = None
        if catalog().has_time_prices:
            self._start_busy_time(provider_name, request_model, server_address, server_port)
        self._first_chunk: float | None = None
        self._result: CallResult | None = None
        self._error: BaseException | None = None
        self._ended = False
        # Set by a provider module whose SDK errors carry more than their type (botocore's
        # ClientError and its AWS error code): attributes for the span of a failed call, which may
        # replace error.type.
        self.describe_error: Callable[[BaseException], Mapping[str, Any]] | None = None
        # Set by a provider module to put its calls under budgets (see the module docstring).
        self.ask_budget: Callable[[], budget_hook.BudgetAsk] | None = None
        self._budget: budget_hook.Guarded | None = None
        # While ainvoke runs the provider's finish: end() requests land here (their status), and
        # ainvoke ends the call itself, awaiting the ledger.
        self._held: list[tuple[str, str] | None] | None = None
        # aend: _finish leaves the budget and what follows it to aend, in _pending.
        self._settle_later = False
        self._pending: tuple[Any, ...] | None = None
        # Kept for ``complete`` when the span's processor completes it later (``_finish_later``).
        self._end_status: tuple[str, str] | None = None
        self._duration = 0.0
        # ``_finish_later``: the price settled on the call, or the catalog to price by later.
        self._cost: Any = None

    def _start_busy_time(
        self, provider_name: str, model: str | None, server_address: str | None, server_port: int | None
    ) -> None:
        try:
            clock = catalog().busy_clock(model, provider_name, server_address, server_port)
            if clock is not None:
                self._busy = (clock, clock.start(self._start))
        except Exception:
            log_once("noting a self-hosted endpoint's busy time")

    def _busy_share(self) -> float | None:
        """This call's share of its endpoint's busy time (seconds), once, as it ends."""
        busy = self._busy
        if busy is None:
            return None
        self._busy = None
        return busy[0].end(busy[1], time.perf_counter())

    @classmethod
    def described(cls, tracer: Tracer, request: DescribedRequest, server: DescribedServer) -> GenAICall:
        """A call started from a provider module's own request and server descriptions."""
        return cls(
            tracer,
            operation=request.operation,
            provider_name=server.provider_name,
            request_model=request.model,
            server_address=server.address,
            server_port=server.port,
            request_attributes=request.attributes,
        )

    @property
    def ended(self) -> bool:
        return self._ended

    def routes_other_calls(self) -> None:
        """This call hands the request on to a provider SDK (LiteLLM): SDK calls made inside it
        are the same call, marked ``duplicate`` of this one (see ``__init__``)."""
        _routers.add(self._span_id)

    def mark_first_chunk(self) -> None:
        if self._first_chunk is None:
            self._first_chunk = time.perf_counter()

    def guard_budget(self) -> None:
        """Ask the budget guard about this call; raises ``BudgetExceeded`` (span ended) on block."""
        guard = runtime.budget_guard
        if guard is None or self.ask_budget is None or self._budget is not None or self._outer is not None:
            return
        try:
            self._budget = budget_hook.enter(self, guard, self.ask_budget)
        except Exception:
            log_once("asking the budget guard")
            return
        self._raise_if_blocked()

    async def aguard_budget(self) -> None:
        """``guard_budget`` for a call made on an event loop: the reservation is awaited."""
        guard = runtime.budget_guard
        if guard is None or self.ask_budget is None or self._budget is not None or self._outer is not None:
            return
        try:
            self._budget = await budget_hook.aenter(self, guard, self.ask_budget)
        except Exception:
            log_once("asking the budget guard")
            return
        self._raise_if_blocked()

    def _raise_if_blocked(self) -> None:
        guarded = self._budget
        if guarded is not None and guarded.decision.blocked:
            error = guarded.decision.exception()
            self.fail(error)
            self.end()
            raise error

    def swap_request_model(self, model: str) -> None:
        """The call goes out with another model (a budget downgrade): the span says which."""
        attributes = self.attributes
        attributes[attr.REQUEST_MODEL] = model
        self.span.set_attribute(attr.REQUEST_MODEL, model)
        self.span.update_name(f"{attributes[attr.OPERATION_NAME]} {model}")
        entry = runtime.open_calls.get(self._span_id)
        if entry is not None:
            runtime.open_calls[self._span_id] = (entry[0], entry[1], model)

    def set_result(self, result: CallResult) -> None:
        self._result = result

    def fail(self, error: BaseException) -> None:
        self._error = error

    def end(self, status: tuple[str, str] | None = None) -> None:
        """Price, record and end the span. Safe to call more than once; only the first counts."""
        if self._ended:
            return
        held = self._held
        if held is not None:
            held.append(status)
            return
        self._ended = True
        runtime.open_calls.pop(self._span_id, None)
        if _routers:
            _routers.discard(self._span_id)
        span = self.span
        try:
            self._finish(status)
        except PROCESS_CONTROL:
            end_span(span)
            raise
        except BaseException:
            log_once("ending a GenAI span")
        end_span(span)

    async def aend(self, status: tuple[str, str] | None = None) -> None:
        """``end`` on an event loop: a budget ledger with async operations is awaited."""
        guarded = self._budget
        if self._ended or guarded is None or not guarded.guard.awaits_ledger:
            self.end(status)
            return
        self._ended = True
        runtime.open_calls.pop(self._span_id, None)
        if _routers:
            _routers.discard(self._span_id)
        span = self.span
        try:
            self._settle_later = True
            self._finish(status)
            if self._pending is not None:
                cost, updates, failed, usage, duration, ttfc = self._pending
                try:
                    await budget_hook.afinish(guarded, span, cost.amount, failed, updates)
                except Exception:
                    log_once("settling a call's budget")
                self._publish(cost, updates, usage, duration, ttfc)
        except PROCESS_CONTROL:
            raise
        except BaseException:
            log_once("ending a GenAI span")
        finally:
            end_span(span)

    def _finish(self, status: tuple[str, str] | None) -> None:
        span = self.span
        if (
            self._error is None
            and self._busy is None
            and self._outer is None
            and not self._settle_later
            and completes_later(span)
        ):
            self._finish_later(span, status)
            return
        result = self._result
        duration = time.perf_counter() - self._start
        updates: dict[str, Any] = {}
        usage, status, ttfc = self._outcome(result, status, updates)
        error = self._error
        if error is not None:
            error_type = _qualified_type(error)
            updates[attr.ERROR_TYPE] = error_type
            if self.describe_error is not None:
                updates.update(self.describe_error(error))
                error_type = updates[attr.ERROR_TYPE]
            span.set_status(StatusCode.ERROR, f"{error_type}: {error}"[:512])

        if self._outer is not None:
            self._busy_share()
            cost = _INSIDE_ANOTHER_CALL
            updates[attr.DUPLICATE_OF] = f"{self._outer:016x}"
        else:
            cost = self._price(result, usage, duration)
        if status is not None:
            cost = self._with_status(cost, status)
        updates.update(cost.span_attributes(runtime.amount_aliases))
        updates.update(runtime.backend_view.extra(updates, self.attributes))
        if self._budget is not None:
            failed = error is not None and usage is None
            if self._settle_later:  # aend awaits the ledger, then publishes
                self._pending = (cost, updates, failed, usage, duration, ttfc)
                return
            try:
                budget_hook.finish(self._budget, span, cost.amount, failed, updates)
            except Exception:
                log_once("settling a call's budget")
        self._publish(cost, updates, usage, duration, ttfc)

    def _finish_later(self, span: Any, status: tuple[str, str] | None) -> None:
        """``_finish`` when the span's processor completes spans off the caller's thread
        (``completes_later``): only what must happen before the call returns happens here -- the
        duration, and for a budgeted call its price and the ledger's settle (threshold events go
        on the span now) --, and ``complete`` builds the span's end-of-call attributes and
        records the metrics later, on the processor's thread, from what the call kept."""
        self._duration = time.perf_counter() - self._start
        self._end_status = status
        guarded = self._budget
        if guarded is not None:
            result = self._result
            cost = self._price(result, result.usage if result is not None else None, self._duration)
            if status is not None:
                cost = self._with_status(cost, status)
            self._cost = cost
            try:
                budget_hook.settle(guarded, span, cost.amount)
            except Exception:
                log_once("settling a call's budget")
        else:  # priced later, by the prices in force now
            self._cost = catalog()
        runtime.completions[self._span_id] = self.complete

    def complete(self) -> dict[str, Any]:
        """The end-of-call attributes of a call ``_finish_later`` ended, with its metrics
        recorded: what ``_finish`` and ``_publish`` would have written onto the span."""
        result = self._result
        duration = self._duration
        updates: dict[str, Any] = {}
        usage, status, ttfc = self._outcome(result, self._end_status, updates)
        cost = self._cost
        if not isinstance(cost, CostBreakdown):  # the catalog to price by (``_finish_later``)
            cost = self._price(result, usage, duration, cost)
            if status is not None:
                cost = self._with_status(cost, status)
        updates.update(cost.span_attributes(runtime.amount_aliases))
        updates.update(runtime.backend_view.extra(updates, self.attributes))
        guarded = self._budget
        if guarded is not None:
            guarded.decision.add_span_attributes(updates)
        if self._is_root and cost.amount is not None:
            updates[attr.TRACE_AMOUNT] = cost.amount
            updates[attr.TRACE_CALLS] = 1
        attributes = self.attributes
        attributes.update(updates)
        billed = result is None or result.billable
        cost_metrics().record_all(cost if billed else None, attributes, usage, duration, ttfc)
        return updates

    def _outcome(
        self, result: CallResult | None, status: tuple[str, str] | None, updates: dict[str, Any]
    ) -> tuple[TokenUsage | None, tuple[str, str] | None, float | None]:
        """What the response said, into ``updates`` (model, id, finish reasons, usage, the
        module's own attributes, time to first chunk); returns the usage, the status to price
        with, and the time to first chunk."""
        after_start = self._after_start
        if after_start is not None:  # known at the start, left for the end (see __init__)
            for key, value in after_start.items():
                if key not in _AT_START:
                    updates[key] = value
        usage = None
        if result is not None:
            usage = result.usage
            if result.response_model:
                updates[attr.RESPONSE_MODEL] = result.response_model
            if result.response_id:
                updates[attr.RESPONSE_ID] = result.response_id
            if result.finish_reasons:
                updates[attr.RESPONSE_FINISH_REASONS] = result.finish_reasons
            if usage is not None:
                updates[attr.USAGE_INPUT_TOKENS] = usage.input_tokens
                updates[attr.USAGE_OUTPUT_TOKENS] = usage.output_tokens
                if usage.cache_read_tokens:
                    updates[attr.USAGE_CACHE_READ_TOKENS] = usage.cache_read_tokens
                if usage.cache_write_tokens:
                    updates[attr.USAGE_CACHE_WRITE_TOKENS] = usage.cache_write_tokens
                if usage.reasoning_tokens:
                    updates[attr.USAGE_REASONING_TOKENS] = usage.reasoning_tokens
            updates.update(result.attributes)
            status = status or result.status
        ttfc = None
        if self._first_chunk is not None:
            ttfc = self._first_chunk - self._start
            updates[attr.RESPONSE_TIME_TO_FIRST_CHUNK] = ttfc
        return usage, status, ttfc

    @staticmethod
    def _with_status(cost: CostBreakdown, status: tuple[str, str]) -> CostBreakdown:
        # A partial/estimated price says so; an unpriced call keeps its status but says why.
        return cost.with_status(*status) if cost.amount is not None else cost.with_status(cost.status, status[1])

    def _publish(
        self,
        cost: CostBreakdown,
        updates: dict[str, Any],
        usage: TokenUsage | None,
        duration: float,
        ttfc: float | None,
    ) -> None:
        """The call's outcome onto its span (one ``set_attributes``) and into the metrics."""
        if self._is_root and cost.amount is not None:
            updates[attr.TRACE_AMOUNT] = cost.amount
            updates[attr.TRACE_CALLS] = 1
        attributes = self.attributes
        attributes.update(updates)
        self.span.set_attributes(updates)

        # One hand-off to the metrics thread for the call and its cost.
        result = self._result
        billed = (self._error is None or usage is not None) and (result is None or result.billable)
        if self._outer is None:  # the outer call records the call and its cost
            cost_metrics().record_all(cost if billed else None, attributes, usage, duration, ttfc)

    def _price(
        self, result: CallResult | None, usage: TokenUsage | None, duration: float, prices: Any = None
    ) -> CostBreakdown:
        busy_share = self._busy_share()
        if busy_share is not None:
            # GPU-hour prices charge the call's share of the endpoint's busy time, not its own
            # duration (``pricing.busy_time``) -- a failed call kept the GPUs busy too, a blocked
            # one never reached them.
            guarded = self._budget
            if guarded is not None and guarded.decision.blocked:
                return _NO_RESPONSE
            if result is None or result.billable:
                duration = busy_share
                if result is None:
                    result = CallResult()
        if result is None:
            return _NO_RESPONSE
        if not result.billable:
            return _NOT_BILLED
        if usage is None and result.status is not None and result.status[0] in _DECIDED_UNPRICED:
            # The provider module already knows why there is no price (malformed usage): that is
            # the status.
            return CostBreakdown.unpriced(*result.status)
        attributes = self.attributes
        if prices is None:
            prices = catalog()
        cost = prices.price(
            result.price_model or result.response_model or attributes.get(attr.REQUEST_MODEL),
            usage,
            provider_name=attributes[attr.PROVIDER_NAME],
            server_address=attributes.get(attr.SERVER_ADDRESS),
            duration_s=duration,
            price_context=result.price_context,
        )
        if cost.status == Status.UNKNOWN_MODEL and result.response_model and attributes.get(attr.REQUEST_MODEL):
            # Azure answers with the base model while the request names a deployment; an alias
            # may be configured for either spelling.
            retry = prices.price(
                attributes[attr.REQUEST_MODEL],
                usage,
                provider_name=attributes[attr.PROVIDER_NAME],
                server_address=attributes.get(attr.SERVER_ADDRESS),
                duration_s=duration,
                price_context=result.price_context,
            )
            if retry.amount is not None:
                cost = retry
        if result.reported_cost is not None:
            cost = _provider_reported(cost, result.reported_cost)
        return cost


def _provider_reported(catalog_cost: CostBreakdown, reported: float) -> CostBreakdown:
    """The provider's own figure wins; the catalog's split (if any) apportions it."""
    if catalog_cost.amount:
        factor = reported / catalog_cost.amount
        parts = scale(
            (
                catalog_cost.input,
                catalog_cost.output,
                catalog_cost.cache_read,
                catalog_cost.cache_write,
                catalog_cost.tools,
                catalog_cost.savings,
            ),
            factor,
        )
    else:
        parts = (reported, 0.0, 0.0, 0.0, 0.0, 0.0)
    return CostBreakdown.priced(
        parts,
        currency="USD",
        price_model=catalog_cost.price_model or "",
        price_provider=catalog_cost.price_provider,
        source="provider-reported",
    )


_NO_PARENT_KNOWN = object()
# Span ids of routing calls in flight (``GenAICall.routes_other_calls``); set add/discard are atomic
# under the GIL, and the set is empty unless LiteLLM is in use.
_routers: set[int] = set()
_NO_RESPONSE = CostBreakdown.unpriced(Status.NO_USAGE, "the call failed before a response arrived")
_NOT_BILLED = CostBreakdown.unpriced(Status.NO_USAGE, "the operation bills no tokens")
_INSIDE_ANOTHER_CALL = CostBreakdown.unpriced(
    Status.DUPLICATE, "made inside another traced call (genai_cost.duplicate_of), which carries the price"
)


def _qualified_type(error: BaseException) -> str:
    cls = type(error)
    module = cls.__module__
    # openai.RateLimitError rather than openai._exceptions.RateLimitError: what users import --
    # the shortest enclosing package that exports the class (mistralai.client.errors.SDKError).
    parts = module.split(".")
    for depth in range(1, len(parts)):
        package = sys.modules.get(".".join(parts[:depth]))
        try:  # a package's lazy __getattr__ may raise more than AttributeError
            exported = getattr(package, cls.__name__, None) if package is not None else None
        except Exception:
            exported = None
        if exported is cls:
            module = ".".join(parts[:depth])
            break
    return cls.__name__ if module == "builtins" else f"{module}.{cls.__name__}"


# --- running the wrapped call ------------------------------------------------------------------

StartCall = Callable[[], "GenAICall | None"]
Finish = Callable[[GenAICall, Any], Any]


def _start(start_call: StartCall) -> GenAICall | None:
    try:
        return start_call()
    except PROCESS_CONTROL:
        raise
    except BaseException:  # a span processor's on_start among them
        log_once("starting a GenAI span")
        return None


def _finish(call: GenAICall, finish: Finish, result: Any) -> Any:
    try:
        return finish(call, result)
    except PROCESS_CONTROL:
        raise
    except BaseException:
        log_once("reading a response")
        call.end()
        return result


def invoke(start_call: StartCall, wrapped: Callable[..., Any], args: Any, kwargs: Any, finish: Finish) -> Any:
    """Run a sync SDK method as one GenAI call.

    ``finish(call, result)`` records the result and returns what the caller gets (the result, or
    a stream proxy that ends the call later); it must end the call unless it hands it on.
    """
    call = _start(start_call)
    if call is None:
        return wrapped(*args, **kwargs)
    if runtime.budget_guard is not None and call.ask_budget is not None:
        call.guard_budget()  # raises BudgetExceeded for a blocked call: the SDK is never called
    # The span is current while the SDK runs (what trace.use_span does, without its generator).
    token = otel_context.attach(trace.set_span_in_context(call.span))
    try:
        result = wrapped(*args, **kwargs)
    except BaseException as error:
        otel_context.detach(token)
        call.fail(error)
        call.end()
        raise
    otel_context.detach(token)
    return _finish(call, finish, result)


async def ainvoke(
    start_call: StartCall, wrapped: Callable[..., Awaitable[Any]], args: Any, kwargs: Any, finish: Finish
) -> Any:
    """``invoke`` for coroutine SDK methods; the budget ledger, if it has async operations, is
    awaited before and after the call."""
    call = _start(start_call)
    if call is None:
        return await wrapped(*args, **kwargs)
    if runtime.budget_guard is not None and call.ask_budget is not None:
        await call.aguard_budget()  # raises BudgetExceeded for a blocked call: the SDK is never called
    token = otel_context.attach(trace.set_span_in_context(call.span))
    try:
        result = await wrapped(*args, **kwargs)
    except BaseException as error:
        otel_context.detach(token)
        call.fail(error)
        await call.aend()
        raise
    otel_context.detach(token)
    guarded = call._budget
    if guarded is None or not guarded.guard.awaits_ledger:
        return _finish(call, finish, result)
    # The provider's finish ends a whole response's call synchronously: hold that end and await it.
    held: list[Any] = []
    call._held = held
    try:
        out = _finish(call, finish, result)
    finally:
        call._held = None
    if held:
        await call.aend(held[0])
    return out


# --- streams -----------------------------------------------------------------------------------


class StreamObserver(Protocol):
    """What a provider module supplies to follow one stream."""

    def observe(self, item: Any) -> bool:
        """Look at one item; return False to withhold it from the caller (e.g. a usage-only
        chunk the caller did not ask for)."""
        ...

    def result(self) -> CallResult:
        """Everything learnt so far (called once, when the stream ends in any way)."""
        ...


_PARTIAL = Status.PARTIAL


class _StreamState:
    """The bookkeeping both proxies share: observe items, end the call exactly once."""

    __slots__ = ("call", "observer", "complete")

    def __init__(self, call: GenAICall, observer: StreamObserver) -> None:
        self.call = call
        self.observer = observer
        self.complete = False

    def observe(self, item: Any) -> bool:
        call = self.call
        if call._first_chunk is None:
            call._first_chunk = time.perf_counter()
        try:
            return self.observer.observe(item)
        except Exception:
            log_once("reading a stream chunk")
            return True

    def end(self, how: str | None = None, error: BaseException | None = None) -> None:
        if not self.call.ended:
            self.call.end(self._outcome(how, error))

    async def aend(self, how: str | None = None, error: BaseException | None = None) -> None:
        if not self.call.ended:
            await self.call.aend(self._outcome(how, error))

    def _outcome(self, how: str | None, error: BaseException | None) -> tuple[str, str] | None:
        """Record how the stream ended on the call; the status to end it with."""
        call = self.call
        result = None
        try:
            result = self.observer.result()
            call.set_result(result)
        except Exception:
            log_once("reading a stream result")
        if error is not None:
            call.fail(error)
        status = None
        if not self.complete and how is not None:
            # Keep what the observer said about the usage (e.g. how it was estimated) beside why
            # the stream is incomplete.
            if result is not None and result.status is not None:
                how = f"{how}; {result.status[1]}"
            status = (_PARTIAL, how)
        return status


def _follow(proxy: SyncStream, state: _StreamState, next_item: Callable[[], Any]) -> Iterator[Any]:
    """What ``for item in proxy`` yields: ``SyncStream.__next__``'s work, as a generator.

    The loop runs once per chunk, and resuming a generator costs a fraction of a Python-level
    ``__next__`` on the proxy. ``proxy`` is held only to keep it alive while the loop runs (its
    ``__del__`` ends a stream that was abandoned)."""
    call = state.call
    observe = state.observer.observe
    while True:
        try:
            item = next_item()
        except StopIteration:
            state.complete = True
            state.end()
            return
        except BaseException as error:
            state.end("the stream failed before it completed", error)
            raise
        if call._first_chunk is None:
            call._first_chunk = time.perf_counter()
        try:
            keep = observe(item)
        except Exception:
            log_once("reading a stream chunk")
            keep = True
        if keep:
            yield item


class SyncStream(wrapt.ObjectProxy):  # type: ignore[misc]
    """A sync SDK stream, unchanged for the caller, that ends its call however iteration stops."""

    def __init__(self, stream: Any, call: GenAICall, observer: StreamObserver) -> None:
        super().__init__(stream)
        self._self_state = _StreamState(call, observer)
        # Some SDK streams are iterables, not iterators (botocore's EventStream): those are read
        # through one iterator of their own.
        self._self_iterator = None if hasattr(type(stream), "__next__") else iter(stream)

    def __iter__(self) -> Iterator[Any]:
        # A generator, as the SDKs' own Stream.__iter__ returns; both read the same iterator, so
        # next() and for-loops still mix.
        return _follow(self, self._self_state, (self._self_iterator or self.__wrapped__).__next__)

    def __next__(self) -> Any:
        state = self._self_state
        next_item = (self._self_iterator or self.__wrapped__).__next__
        while True:
            try:
                item = next_item()
            except StopIteration:
                state.complete = True
                state.end()
                raise
            except BaseException as error:
                state.end("the stream failed before it completed", error)
                raise
            if state.observe(item):
                return item

    def close(self) -> None:
        try:
            self.__wrapped__.close()
        finally:
            self._self_state.end("the caller closed the stream before it completed")

    def __enter__(self) -> SyncStream:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(exc_type, exc, tb)
        finally:
            how = "the caller left the stream before it completed"
            if exc is not None:
                how = f"the caller's code raised {type(exc).__name__} while reading the stream"
            self._self_state.end(how)

    def __del__(self) -> None:
        try:
            self._self_state.end("the stream was abandoned before it completed")
        except Exception:
            pass


class AsyncStream(wrapt.ObjectProxy):  # type: ignore[misc]
    """The async counterpart of ``SyncStream``."""

    def __init__(self, stream: Any, call: GenAICall, observer: StreamObserver) -> None:
        super().__init__(stream)
        self._self_state = _StreamState(call, observer)

    def __aiter__(self) -> AsyncStream:
        return self

    async def __anext__(self) -> Any:
        state = self._self_state
        while True:
            try:
                item = await self.__wrapped__.__anext__()
            except StopAsyncIteration:
                state.complete = True
                await state.aend()
                raise
            except BaseException as error:
                await state.aend("the stream failed before it completed", error)
                raise
            if state.observe(item):
                return item

    async def close(self) -> None:
        try:
            # SDK stream objects close with close(); async generators (google-genai) with aclose().
            close = getattr(self.__wrapped__, "close", None) or self.__wrapped__.aclose
            closing = close()
            if inspect.isawaitable(closing):  # LiteLLM's wrapper closes synchronously
                await closing
        finally:
            await self._self_state.aend("the caller closed the stream before it completed")

    async def aclose(self) -> None:
        aclose = getattr(self.__wrapped__, "aclose", None)
        if aclose is None:
            await self.close()
            return
        try:
            await aclose()
        finally:
            await self._self_state.aend("the caller closed the stream before it completed")

    async def __aenter__(self) -> AsyncStream:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(exc_type, exc, tb)
        finally:
            how = "the caller left the stream before it completed"
            if exc is not None:
                how = f"the caller's code raised {type(exc).__name__} while reading the stream"
            await self._self_state.aend(how)

    def __del__(self) -> None:
        try:
            self._self_state.end("the stream was abandoned before it completed")
        except Exception:
            pass
