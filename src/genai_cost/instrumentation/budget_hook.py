"""The budget guard's side of ``instrumentation.lifecycle``: what happens to a call's span before
and after the provider is called. Kept here so the lifecycle (every provider's hot path) only
holds the two calls into it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from genai_cost import attributes as attr
from genai_cost.budget.policy import ALLOW, DOWNGRADE, WARN
from genai_cost.budget.state import Decision, ThresholdCrossing

if TYPE_CHECKING:
    from genai_cost.budget.guard import BudgetGuard


class GenAICall(Protocol):
    """What the hook needs of ``lifecycle.GenAICall``: named here, not imported, so the hook sits
    below the lifecycle that calls it (no import circle, even for type checkers)."""

    attributes: dict[str, Any]

    def swap_request_model(self, model: str) -> None: ...


@dataclass(slots=True)
class BudgetAsk:
    """What a provider module tells the guard about a call before it is made.

    ``input_tokens``: the request's input counted offline (``budget.estimate.count_input_tokens``);
    ``max_output_tokens``: the request's output cap (``max_tokens`` x choices), None when it sets
    none (the configured default is assumed), 0 for operations without output (embeddings);
    ``swap_model``: makes the pending SDK call use another model (for ``downgrade``); None when
    the module cannot, in which case a downgrade decision is recorded as ``warn``. It may also
    return False to refuse one particular model (a Bedrock InvokeModel body only suits models of
    its own family), with the same effect.
    """

    input_tokens: int
    max_output_tokens: int | None = None
    swap_model: Callable[[str], bool | None] | None = None


@dataclass(slots=True)
class Guarded:
    """A call's decision and the guard that must settle it."""

    guard: BudgetGuard
    decision: Decision


def enter(call: GenAICall, guard: BudgetGuard, ask_budget: Callable[[], BudgetAsk]) -> Guarded | None:
    """Decide the call; a block is returned, not raised (the lifecycle ends the span, then
    raises). ``ask_budget`` is only called (the input counted) when some budget covers the call.
    The decision reaches the span at its end, with the settled spend (``finish``): one
    ``set_attributes`` per call instead of two, and the spend written once."""
    # _ask, inline (aenter shares it): this runs before every budgeted call
    attributes = call.attributes
    if not guard.covers(attributes):
        return None
    ask = ask_budget()
    output = ask.max_output_tokens
    if output is None:
        output = _requested_output(attributes)
    decision = guard.reserve(attributes, input_tokens=ask.input_tokens, max_output_tokens=output)
    if decision is None:
        return None
    if decision.decision == ALLOW:  # the common answer: nothing to swap
        return Guarded(guard, decision)
    return _guarded(call, guard, ask, decision)


async def aenter(call: GenAICall, guard: BudgetGuard, ask_budget: Callable[[], BudgetAsk]) -> Guarded | None:
    """``enter`` for a call made on an event loop: the reservation is awaited."""
    asked = _ask(call, guard, ask_budget)
    if asked is None:
        return None
    ask, output = asked
    decision = await guard.areserve(call.attributes, input_tokens=ask.input_tokens, max_output_tokens=output)
    return _guarded(call, guard, ask, decision)


def _ask(
    call: GenAICall, guard: BudgetGuard, ask_budget: Callable[[], BudgetAsk]
) -> tuple[BudgetAsk, int | None] | None:
    """The call's ask and output cap, None when no budget covers it."""
    attributes = call.attributes
    if not guard.covers(attributes):
        return None
    ask = ask_budget()
    output = ask.max_output_tokens
    if output is None:
        output = _requested_output(attributes)
    return ask, output


def _guarded(call: GenAICall, guard: BudgetGuard, ask: BudgetAsk, decision: Decision | None) -> Guarded | None:
    if decision is None:
        return None
    if decision.decision == DOWNGRADE:
        if ask.swap_model is not None and decision.model and ask.swap_model(decision.model) is not False:
            call.swap_request_model(decision.model)
        else:
            decision.decision = WARN
            decision.status = "downgrade not supported for this operation; the call went on unchanged"
    return Guarded(guard, decision)


def _requested_output(attributes: dict[str, Any]) -> int | None:
    """``max_tokens`` x choices from the span's request attributes (semconv names), if set."""
    max_tokens = attributes.get(attr.REQUEST_MAX_TOKENS)
    if not isinstance(max_tokens, int):
        return None
    choices = attributes.get(attr.REQUEST_CHOICE_COUNT)
    return max_tokens * choices if isinstance(choices, int) and choices > 1 else max_tokens


def finish(guarded: Guarded, span: Any, amount: float | None, failed: bool, updates: dict[str, Any]) -> None:
    """Settle (or, for a call that failed without usage, release) and add the decision to
    ``updates``: the deciding budget's spend as this call left it, and a threshold event per
    crossing."""
    guard, decision = guarded.guard, guarded.decision
    if not decision.blocked:
        if failed:
            guard.release(decision)
        else:
            crossings = guard.settle(decision, amount)
            if crossings:
                _add_crossings(span, crossings)
    decision.add_span_attributes(updates)


def settle(guarded: Guarded, span: Any, amount: float | None) -> None:
    """``finish`` for a call that got a response, without the span attributes: the money work
    that must happen before the call returns, when the attributes are built later
    (``decision.add_span_attributes``)."""
    decision = guarded.decision
    if not decision.blocked:
        crossings = guarded.guard.settle(decision, amount)
        if crossings:
            _add_crossings(span, crossings)


async def afinish(guarded: Guarded, span: Any, amount: float | None, failed: bool, updates: dict[str, Any]) -> None:
    """``finish`` with the ledger operation awaited."""
    guard, decision = guarded.guard, guarded.decision
    if not decision.blocked:
        if failed:
            await guard.arelease(decision)
        else:
            _add_crossings(span, await guard.asettle(decision, amount))
    decision.add_span_attributes(updates)


def _add_crossings(span: Any, crossings: list[ThresholdCrossing]) -> None:
    for crossing in crossings:
        span.add_event(attr.BUDGET_THRESHOLD_EVENT, crossing.event_attributes())
