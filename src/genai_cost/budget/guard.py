"""The budget guard: before a call, reserve its estimate against every budget that covers it and
decide (allow, warn, downgrade, block); after it, settle the actual cost or release the estimate.

The per-call work is: match the compiled policies against the call's span attributes, look up
the current window of each (a float compare, memoised), price the estimate (two dict look-ups in
the catalog), and one atomic ledger operation for all the call's budgets together -- so nested
budgets are admitted or refused as one, and no interleaving of concurrent calls can take spend
past a hard limit by more than one call's underestimate.

An unreachable ledger never stalls calls: the ledger's own short timeout bounds the first
failure, and for ``retry_after`` seconds afterwards the guard does not ask it at all, applying the
fail mode at once (``open``: allow, with ``genai_cost.budget.status`` saying why; ``closed``:
block).

Alerts: ``guard.on_alert`` is a list of callables that receive every ``BudgetAlert`` (thresholds
crossed, calls blocked/warned/downgraded). They run on the caller's thread, so a sink must only
enqueue (the webhook sender delivers off the call path); an exception in one is logged once and
the call goes on.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from genai_cost import attributes as attr
from genai_cost import plausibility
from genai_cost.plausibility import amount_problem
from genai_cost.redaction import redact_text, redact_url
from genai_cost.budget.estimate import estimate as estimate_of
from genai_cost.budget.ledger import (
    MAX_OPERATION_MICROS,
    MICROS,
    Balance,
    Ledger,
    Reservation,
    Slot,
    LEASE_BUCKET_S,
    lease_at,
    open_ledger,
    to_micros,
)
from genai_cost.budget.policy import (
    ALLOW,
    BLOCK,
    DOWNGRADE,
    FAIL_CLOSED,
    WARN,
    BudgetPolicy,
    BudgetSettings,
    compile_pattern,
)
from genai_cost.budget.state import BudgetAlert, BudgetState, BudgetStatus, Decision, ThresholdCrossing
from genai_cost.budget.windows import Clock, Window, month_at, window_at

_log = logging.getLogger("genai_cost.budget")

# Where each scope dimension is found among a call's span attributes.
_DIMENSION_ATTRIBUTES = {
    "project": attr.PROJECT,
    "team": attr.TEAM,
    "feature": attr.FEATURE,
    "user": attr.USER_ID,
    "tenant": attr.TENANT,
    "model": attr.REQUEST_MODEL,
    "provider": attr.PROVIDER_NAME,
    "key": attr.KEY_ID,
}


def _dimension_attribute(key: str) -> str:
    """The span attribute of a scope dimension; ``dim.<name>`` is a custom dimension's."""
    return _DIMENSION_ATTRIBUTES.get(key) or attr.DIMENSION_PREFIX + key.removeprefix("dim.")


# Keys outlive their window a little, so a call settling just after the boundary finds its key.
_KEY_GRACE_S = 3600.0
_MAX_SLOTS = 4096
_STATE_FIELDS = tuple(f.name for f in fields(BudgetState))


class _Compiled:
    """A policy ready for the call path: attribute names resolved, patterns compiled, and its
    current window and ledger slots memoised until the window ends."""

    __slots__ = (
        "policy",
        "name",
        "matchers",
        "per",
        "limit",
        "hard",
        "thresholds",
        "levels",
        "covers_all",
        "window",
        "window_slots",
    )

    def __init__(self, policy: BudgetPolicy) -> None:
        self.policy = policy
        self.name = policy.name
        self.matchers = tuple(
            (_dimension_attribute(key), compile_pattern(value)) for key, value in policy.match.items()
        )
        self.per = _dimension_attribute(policy.per) if policy.per else None
        self.limit = to_micros(policy.limit)
        self.hard = policy.hard
        self.thresholds = policy.thresholds
        # (percent, spend in micro-units at which it is crossed)
        self.levels = tuple((percent, self.limit * percent / 100) for percent in policy.thresholds)
        self.covers_all = not self.matchers and self.per is None
        self.window: Window | None = None
        # The current window and its ledger slots by scope value.
        self.window_slots: tuple[Window | None, dict[str, Slot]] = (None, {})

    def scope_of(self, attributes: Mapping[str, Any]) -> str | None:
        """The call's scope value under this policy ("" for a plain budget), None if not covered."""
        if self.covers_all:
            return ""
        for key, pattern in self.matchers:
            value = attributes.get(key)
            if value is None:
                return None
            if isinstance(pattern, str):
                if value != pattern:
                    return None
            elif not pattern.match(str(value)):
                return None
        if self.per is None:
            return ""
        value = attributes.get(self.per)
        return None if value is None or value == "" else str(value)

    def current(self, now: float) -> Window:
        window = self.window
        if window is None or not window.start <= now < window.end:
            policy = self.policy
            window = window_at(policy.window, now, policy.timezone)
            # One assignment, so a racing thread never pairs one window with another's slots.
            self.window_slots = (window, {})
            self.window = window
        return window

    def slot(self, window: Window, scope: str) -> Slot:
        current, slots = self.window_slots
        if current is not window:  # the window rolled over under a racing call
            return Slot(self.key(window, scope), self.limit, self.hard, window.end + _KEY_GRACE_S)
        slot = slots.get(scope)
        if slot is None:
            slot = Slot(self.key(window, scope), self.limit, self.hard, window.end + _KEY_GRACE_S)
            if len(slots) >= _MAX_SLOTS:  # fan-out values are unbounded (users)
                slots.clear()
            slots[scope] = slot
        return slot

    def key(self, window: Window, scope: str) -> str:
        return f"{self.name}/{window.name}/{scope}" if self.per else f"{self.name}/{window.name}"

    def state(self, window: Window, scope: str, balance: Balance) -> BudgetState:
        policy = self.policy
        # Positional (name, scope, window, window_name, limit, spent, reserved, reset_at,
        # currency, action), from_micros inline: the call path.
        return BudgetState(
            self.name,
            scope,
            policy.window,
            window.name,
            policy.limit,
            balance.spent / MICROS,
            balance.reserved / MICROS,
            window.reset_at,
            policy.currency,
            policy.action,
        )


@dataclass(slots=True)
class _Ticket:
    """What settle/release need: the slots reserved, and how to describe them again."""

    slots: tuple[Slot, ...]
    estimate: int  # micro-units actually reserved (0 when the ledger was not reached)
    lease: int  # the lease bucket the reservation was filed under
    budgets: Sequence[tuple[_Compiled, Window, str]]
    deciding: int  # index of the budget the decision's attributes describe
    reserved: bool  # False when the ledger was not reached (fail open): settle records spend only
    settled: bool = False
    lane: Any = None  # the memory ledger's ``Lane`` the reservation was made on, if it was


@dataclass(slots=True)
class _Fixed:
    """When every budget covers every call: the budgets in their current windows, their slots,
    and the ledger's ``Lane`` over them, valid for [start, end) (where all the windows overlap).
    The common call then reserves and settles without matching, window or slot look-ups."""

    start: float
    end: float
    budgets: tuple[tuple[_Compiled, Window, str], ...]
    slots: tuple[Slot, ...]
    lane: Any


@dataclass(slots=True)
class _Plan:
    """A call's reservation before the ledger is asked: what reserve and areserve share."""

    budgets: list[tuple[_Compiled, Window, str]]
    slots: tuple[Slot, ...]
    micros: int
    lease: int
    model: str | None
    estimate: float | None
    now: float
    provider: Any
    server: Any
    input_tokens: int
    output_tokens: int


def _plausible(cost: float) -> bool:
    """Whether ``cost`` may reach the ledger; an implausible one (non-finite, negative, above the
    bound) counts as nothing and is logged once: one bad number must not move a shared budget."""
    problem = amount_problem(cost)
    if problem is None:
        return True
    global _implausible_logged
    if not _implausible_logged:
        _implausible_logged = True
        _log.warning("genai-cost: a cost was kept out of the budget ledger: %s", problem)
    return False


_implausible_logged = False
_MAX_ESTIMATE = MAX_OPERATION_MICROS / MICROS


_FITS: tuple[int, ...] = ()


def _over(slots: Sequence[Slot], reservation: Reservation, micros: int) -> Sequence[int]:
    """Indexes of the slots this estimate does not fit in (whether or not they are hard)."""
    balances = reservation.balances
    bump = micros if micros > 0 else 1  # a call adding nothing still may not start past the limit
    over = _FITS  # a plain loop and no list for the common call, which fits everywhere
    for i, slot in enumerate(slots):
        balance = balances[i]
        if balance.spent + balance.reserved + bump > slot.limit:
            over = (*over, i)
    return over


class BudgetGuard:
    """Decides every instrumented call against the configured budgets. Thread-safe.

    ``clock`` (epoch seconds) is injectable for tests of window roll-over.
    """

    def __init__(
        self,
        policies: Iterable[BudgetPolicy],
        ledger: Ledger,
        *,
        fail_mode: str = "open",
        default_max_output_tokens: int = 4096,
        clock: Clock = time.time,
        retry_after: float = 1.0,
    ) -> None:
        self.policies = tuple(policies)
        self.ledger = ledger
        self.fail_mode = fail_mode
        self.default_max_output_tokens = default_max_output_tokens
        self.retry_after = retry_after
        self.on_alert: list[Callable[[BudgetAlert], None]] = []
        self._compiled = tuple(_Compiled(p) for p in self.policies)
        # A budget over every call: ``covers`` need not look at the call at all.
        self._covers_all = any(c.covers_all for c in self._compiled)
        self._clock = clock
        if hasattr(ledger, "clock"):  # the memory ledger forgets windows by the guard's clock
            ledger.clock = clock
        # Until when the ledger is considered down (epoch seconds of `clock`).
        self._down_until = 0.0
        # Every budget covers every call and the ledger offers lanes (memory): the common call
        # takes ``_reserve_fixed`` (see ``_Fixed``).
        self._fixable = bool(self._compiled) and all(c.covers_all for c in self._compiled) and hasattr(ledger, "lane")
        self._fixed: _Fixed | None = None

    @classmethod
    def from_settings(cls, settings: BudgetSettings, *, clock: Clock = time.time) -> BudgetGuard:
        return cls(
            settings.policies,
            open_ledger(settings.ledger, timeout=settings.timeout),
            fail_mode=settings.fail_mode,
            default_max_output_tokens=settings.default_max_output_tokens,
            clock=clock,
        )

    # -- before the call -------------------------------------------------------------------
    def covers(self, attributes: Mapping[str, Any]) -> bool:
        """Whether any budget covers a call with these span attributes: when none does, the
        call's input is never counted (``reserve`` would return None)."""
        if self._covers_all:
            return True
        return any(compiled.scope_of(attributes) is not None for compiled in self._compiled)

    def reserve(
        self,
        attributes: Mapping[str, Any],
        *,
        input_tokens: int,
        max_output_tokens: int | None = None,
    ) -> Decision | None:
        """Reserve the call's estimate on every budget covering it and decide.

        ``attributes`` are the call's span attributes (model, provider, server, attribution).
        Returns None when no budget covers the call. A ``block`` decision has reserved nothing;
        the caller raises ``decision.exception()`` without calling the provider. Any other
        decision must later be passed to ``settle`` or ``release`` exactly once.
        """
        if self._fixable:
            decision = self._reserve_fixed(attributes, input_tokens, max_output_tokens)
            if decision is not None:
                return decision
        plan = self._plan(attributes, input_tokens, max_output_tokens)
        if not isinstance(plan, _Plan):
            return plan  # no budget covers the call, or the ledger is known to be down
        reserve = self.ledger.reserve
        try:
            reservation = reserve(plan.slots, plan.micros, plan.lease)
        except Exception as error:
            return self._failed(plan, error)
        over = _over(plan.slots, reservation, plan.micros)
        if not over and reservation.admitted:  # the common call: it fits every budget
            return self._decide(plan, reservation, over, over)
        downgrades, cheaper = self._looked(plan, reservation, over)
        if cheaper is not None:
            try:
                retried = reserve(plan.slots, cheaper[1], plan.lease)
            except Exception as error:
                return self._failed(plan, error)
            if retried.admitted:
                reservation, over = retried, self._downgraded(plan, cheaper, retried, over)
        return self._decide(plan, reservation, over, downgrades)

    async def areserve(
        self,
        attributes: Mapping[str, Any],
        *,
        input_tokens: int,
        max_output_tokens: int | None = None,
    ) -> Decision | None:
        """``reserve`` for a call made on an event loop: the ledger operation is awaited (Redis
        over redis.asyncio, SQLite in a worker thread) so other tasks run meanwhile; a ledger
        without an async operation (memory: arithmetic under a lock) is asked inline."""
        areserve = getattr(self.ledger, "areserve", None)
        if areserve is None:
            return self.reserve(attributes, input_tokens=input_tokens, max_output_tokens=max_output_tokens)
        plan = self._plan(attributes, input_tokens, max_output_tokens)
        if not isinstance(plan, _Plan):
            return plan
        try:
            reservation = await areserve(plan.slots, plan.micros, plan.lease)
        except Exception as error:
            return self._failed(plan, error)
        over = _over(plan.slots, reservation, plan.micros)
        if not over and reservation.admitted:  # the common call: it fits every budget
            return self._decide(plan, reservation, over, over)
        downgrades, cheaper = self._looked(plan, reservation, over)
        if cheaper is not None:
            try:
                retried = await areserve(plan.slots, cheaper[1], plan.lease)
            except Exception as error:
                return self._failed(plan, error)
            if retried.admitted:
                reservation, over = retried, self._downgraded(plan, cheaper, retried, over)
        return self._decide(plan, reservation, over, downgrades)

    def _reserve_fixed(
        self, attributes: Mapping[str, Any], input_tokens: int, max_output_tokens: int | None
    ) -> Decision | None:
        """The common call, when every budget covers every call: reserve on the fixed lane and
        allow if the estimate fits every budget. None (nothing reserved) sends the call down the
        general path: it does not fit somewhere (warn, downgrade, block), the windows rolled over
        under a racing call, or the ledger failed."""
        now = self._clock()
        if now < self._down_until:
            return None
        fixed = self._fixed
        if fixed is None or not fixed.start <= now < fixed.end:
            fixed = self._fix(now)
        model = attributes.get(attr.REQUEST_MODEL)
        output_tokens = max_output_tokens if max_output_tokens is not None else self.default_max_output_tokens
        estimate = estimate_of(
            model, attributes.get(attr.PROVIDER_NAME), attributes.get(attr.SERVER_ADDRESS), input_tokens, output_tokens
        )
        # As in _plan: round up, an absurd estimate is as large as a ledger takes.
        if not estimate:
            micros = 0
        elif estimate < _MAX_ESTIMATE:
            micros = math.ceil(estimate * MICROS)
        else:
            micros = MAX_OPERATION_MICROS
        lease = int(now // LEASE_BUCKET_S)
        try:
            balances = fixed.lane.reserve_fitting(micros, lease)
        except Exception:
            return None  # the general path asks again and applies the fail mode
        if balances is None:
            return None
        budgets = fixed.budgets
        if len(balances) == 1:
            deciding = 0
        else:  # describe the budget with the least left
            slots = fixed.slots
            deciding = min(range(len(slots)), key=lambda i: slots[i].limit - balances[i].spent - balances[i].reserved)
        compiled, window, scope = budgets[deciding]
        ticket = _Ticket(fixed.slots, micros, lease, budgets, deciding, True, False, fixed.lane)
        # Positional: decision, budget, model, original_model, estimate, status, crossings, ticket.
        return Decision(
            ALLOW, compiled.state(window, scope, balances[deciding]), model, None, estimate, None, [], ticket
        )

    def _fix(self, now: float) -> _Fixed:
        budgets = []
        slots = []
        start, end = -math.inf, math.inf
        for compiled in self._compiled:
            window = compiled.current(now)
            budgets.append((compiled, window, ""))
            slots.append(compiled.slot(window, ""))
            start, end = max(start, window.start), min(end, window.end)
        fixed = _Fixed(start, end, tuple(budgets), tuple(slots), self.ledger.lane(slots))
        self._fixed = fixed
        return fixed

    # The decision itself, shared by reserve and areserve: everything but the ledger operations.
    def _plan(
        self, attributes: Mapping[str, Any], input_tokens: int, max_output_tokens: int | None
    ) -> _Plan | Decision | None:
        """What to reserve; None when no budget covers the call, the fail-mode decision when
        the ledger is known to be down."""
        now = self._clock()
        budgets = []
        slot_list = []
        for compiled in self._compiled:
            scope = "" if compiled.covers_all else compiled.scope_of(attributes)
            if scope is not None:
                window = compiled.window
                if window is None or not window.start <= now < window.end:
                    window = compiled.current(now)
                budgets.append((compiled, window, scope))
                current, window_slots = compiled.window_slots  # compiled.slot's memo, read inline
                slot = window_slots.get(scope) if current is window else None
                slot_list.append(slot if slot is not None else compiled.slot(window, scope))
        if not budgets:
            return None
        model = attributes.get(attr.REQUEST_MODEL)
        output_tokens = max_output_tokens if max_output_tokens is not None else self.default_max_output_tokens
        provider, server = attributes.get(attr.PROVIDER_NAME), attributes.get(attr.SERVER_ADDRESS)
        estimate = estimate_of(model, provider, server, input_tokens, output_tokens)
        # Round the estimate up: a reservation may overstate, never understate. An absurd one (a
        # caller's max_tokens=10**18) is as large as a ledger takes: a hard budget refuses it.
        if not estimate:
            micros = 0
        elif estimate < _MAX_ESTIMATE:
            micros = math.ceil(estimate * MICROS)
        else:  # also inf and NaN
            micros = MAX_OPERATION_MICROS
        slots = tuple(slot_list)
        lease = int(now // LEASE_BUCKET_S)  # lease_at(now), inline: this is the call path
        if now < self._down_until:
            return self._unreachable(budgets, slots, lease, model, estimate, "the ledger was unreachable moments ago")
        return _Plan(budgets, slots, micros, lease, model, estimate, now, provider, server, input_tokens, output_tokens)

    def _failed(self, plan: _Plan, error: Exception) -> Decision:
        self._down_until = plan.now + self.retry_after
        _log.warning(
            "genai-cost: budget ledger %s unavailable: %s", redact_url(self.ledger.url), redact_text(str(error))
        )
        why = f"ledger unavailable ({type(error).__name__})"
        return self._unreachable(plan.budgets, plan.slots, plan.lease, plan.model, plan.estimate, why)

    def _looked(
        self, plan: _Plan, reservation: Reservation, over: Sequence[int]
    ) -> tuple[list[int], tuple[float, int] | None]:
        """Of the budgets the estimate does not fit (``over``), those that downgrade, and the
        cheaper model's (estimate, micro-units) to ask for again, if any."""
        downgrades = [i for i in over if plan.budgets[i][0].policy.action == DOWNGRADE]
        if not reservation.admitted and downgrades and plan.estimate:
            # A hard budget refused the requested model, but a downgrade budget would swap it for
            # a cheaper one anyway: ask again with the cheaper model's estimate (rare: one more
            # ledger operation, only when the first one refused).
            target = plan.budgets[downgrades[0]][0].policy.downgrade_to
            cheaper = estimate_of(target, plan.provider, plan.server, plan.input_tokens, plan.output_tokens)
            if cheaper is not None and cheaper < plan.estimate:
                return downgrades, (cheaper, math.ceil(cheaper * MICROS) if cheaper else 0)
        return downgrades, None

    @staticmethod
    def _downgraded(plan: _Plan, cheaper: tuple[float, int], retried: Reservation, over: Sequence[int]) -> list[int]:
        plan.estimate, plan.micros = cheaper
        # Still the budgets the requested model would have passed: that is what the downgrade is for.
        return sorted(set(over) | set(_over(plan.slots, retried, plan.micros)))

    def _decide(
        self, plan: _Plan, reservation: Reservation, over: Sequence[int], downgrades: Sequence[int]
    ) -> Decision:
        budgets, slots, model, estimate = plan.budgets, plan.slots, plan.model, plan.estimate
        balances = reservation.balances
        if not reservation.admitted:
            deciding = next(i for i in over if slots[i].hard)
            decision = Decision(BLOCK, self._state(budgets, deciding, balances), model=model, estimate=estimate)
            self._alert(BLOCK, decision.budget, model)
            return decision
        ticket = _Ticket(slots, plan.micros, plan.lease, budgets, 0, True)
        if over:
            deciding = downgrades[0] if downgrades else over[0]
            ticket.deciding = deciding
            state = self._state(budgets, deciding, balances)
            if downgrades:
                target = budgets[deciding][0].policy.downgrade_to
                decision = Decision(
                    DOWNGRADE, state, model=target, original_model=model, estimate=estimate, ticket=ticket
                )
                self._alert(DOWNGRADE, state, model, downgrade_to=target)
            else:
                decision = Decision(WARN, state, model=model, estimate=estimate, ticket=ticket)
                self._alert(WARN, state, model)
            return decision
        # Allowed: describe the budget with the least left.
        if len(slots) > 1:
            deciding = min(range(len(slots)), key=lambda i: slots[i].limit - balances[i].spent - balances[i].reserved)
            ticket.deciding = deciding
            state = self._state(budgets, deciding, balances)
        else:
            compiled, window, scope = budgets[0]
            state = compiled.state(window, scope, balances[0])
        return Decision(ALLOW, state, model=model, estimate=estimate, ticket=ticket)

    def _unreachable(
        self,
        budgets: Sequence[tuple[_Compiled, Window, str]],
        slots: tuple[Slot, ...],
        lease: int,
        model: str | None,
        estimate: float | None,
        why: str,
    ) -> Decision:
        state = self._state(budgets, 0, None)
        if self.fail_mode == FAIL_CLOSED:
            decision = Decision(BLOCK, state, model=model, estimate=estimate, status=f"fail_closed: {why}")
            self._alert(BLOCK, state, model)
            return decision
        ticket = _Ticket(slots, 0, lease, budgets, 0, False)
        return Decision(ALLOW, state, model=model, estimate=estimate, status=f"fail_open: {why}", ticket=ticket)

    @staticmethod
    def _state(
        budgets: Sequence[tuple[_Compiled, Window, str]], index: int, balances: Sequence[Balance] | None
    ) -> BudgetState:
        compiled, window, scope = budgets[index]
        return compiled.state(window, scope, balances[index] if balances is not None else Balance())

    # -- after the call --------------------------------------------------------------------
    def settle(self, decision: Decision, actual_cost: float | None) -> list[ThresholdCrossing]:
        """Replace the call's reservation by its actual cost (None: unpriced, counted as 0 and
        the reservation released). Returns, and records on ``decision.crossings``, the thresholds
        this call carried a budget across; their alerts go to ``on_alert``."""
        ticket: _Ticket | None = decision.ticket
        if ticket is not None and ticket.lane is not None and not ticket.settled:
            # The common call (``_reserve_fixed``): a plausible float cost, no threshold near.
            ticket.settled = True
            if type(actual_cost) is float and 0.0 < actual_cost <= plausibility.max_call_amount:
                actual = round(actual_cost * MICROS)
            else:
                actual = round(actual_cost * MICROS) if actual_cost and _plausible(actual_cost) else 0
            try:
                spent_after = ticket.lane.settle(ticket.estimate, actual, ticket.lease)
            except Exception as error:
                return self._unsettled(error, "settle")
            return self._settled(decision, ticket, spent_after, actual)
        due = self._settling(decision, actual_cost)
        if due is None:
            return []
        ticket, actual = due
        try:
            spent_after = self.ledger.settle(ticket.slots, ticket.estimate, actual, ticket.lease)
        except Exception as error:
            return self._unsettled(error, "settle")
        return self._settled(decision, ticket, spent_after, actual)

    async def asettle(self, decision: Decision, actual_cost: float | None) -> list[ThresholdCrossing]:
        """``settle`` with the ledger operation awaited (see ``areserve``)."""
        asettle = getattr(self.ledger, "asettle", None)
        if asettle is None:
            return self.settle(decision, actual_cost)
        due = self._settling(decision, actual_cost)
        if due is None:
            return []
        ticket, actual = due
        try:
            spent_after = await asettle(ticket.slots, ticket.estimate, actual, ticket.lease)
        except Exception as error:
            return self._unsettled(error, "settle")
        return self._settled(decision, ticket, spent_after, actual)

    def _settling(self, decision: Decision, actual_cost: float | None) -> tuple[_Ticket, int] | None:
        """The ticket to settle and the actual cost in micro-units; None when there is nothing
        to tell the ledger."""
        ticket: _Ticket | None = decision.ticket
        if ticket is None or ticket.settled:
            return None
        ticket.settled = True
        actual = round(actual_cost * MICROS) if actual_cost and _plausible(actual_cost) else 0  # to_micros, inline
        if not ticket.reserved and (actual == 0 or self._clock() < self._down_until):
            return None
        return ticket, actual

    def _unsettled(self, error: Exception, operation: str) -> list[ThresholdCrossing]:
        self._down_until = self._clock() + self.retry_after
        _log.warning(
            "genai-cost: budget ledger %s unavailable at %s: %s",
            redact_url(self.ledger.url),
            operation,
            redact_text(str(error)),
        )
        return []

    def _settled(
        self, decision: Decision, ticket: _Ticket, spent_after: Sequence[int], actual: int
    ) -> list[ThresholdCrossing]:
        state = decision.budget
        if state is not None:  # the span shows the deciding budget as this call left it
            state.spent = spent_after[ticket.deciding] / MICROS
            state.reserved = 0.0
        if not actual:
            return []
        if len(spent_after) == 1:  # one budget: the check below without zip
            levels = ticket.budgets[0][0].levels
            after = spent_after[0]
            if not levels or levels[0][1] > after or after - actual >= levels[-1][1]:
                return []
        # Most calls cross nothing: a level can only lie in (before, after] if the first level is
        # not above ``after`` and the last is above ``before`` (levels ascend).
        for (compiled, _, _), after in zip(ticket.budgets, spent_after, strict=True):
            levels = compiled.levels
            if levels and levels[0][1] <= after and after - actual < levels[-1][1]:
                break
        else:
            return []
        crossings = self._crossings(ticket.budgets, spent_after, actual, decision.original_model or decision.model)
        decision.crossings = crossings
        return crossings

    def _crossings(
        self,
        budgets: Sequence[tuple[_Compiled, Window, str]],
        spent_after: Sequence[int],
        actual: int,
        model: str | None,
    ) -> list[ThresholdCrossing]:
        """The thresholds ``actual`` carried each budget across, alerted. The ledger's atomic
        add says which call crossed a level, so each fires once per budget scope and window."""
        crossings: list[ThresholdCrossing] = []
        for (compiled, window, scope), after in zip(budgets, spent_after, strict=True):
            before = after - actual
            for percent, level in compiled.levels:
                if before < level <= after:
                    crossed = compiled.state(window, scope, Balance(after, 0))
                    crossings.append(ThresholdCrossing(crossed, percent))
                    self._alert("threshold", crossed, model, threshold=percent)
        return crossings

    # -- post hoc --------------------------------------------------------------------------
    def record(self, attributes: Mapping[str, Any], cost: float, *, at: float | None = None) -> Decision | None:
        """Account a cost already incurred (a call that was never reserved: the gateway prices
        spans after the fact) on every budget covering ``attributes``. Never blocks.

        ``at`` (epoch seconds, default now) is when the call happened, the span's start: a late
        batch lands in the window its calls belong to, not the current one. A time in the future
        (a skewed client clock) counts as now; a window that closed more than the key grace ago
        is not touched (its key may already be gone). Thresholds crossed fire exactly as in
        ``settle``. Returns None when no budget covers the call, else a ``Decision``: ``warn``
        when a budget is now over its limit (it describes that budget), ``allow`` otherwise (the
        budget with the least left), with ``crossings``; when the ledger is unreachable, ``allow``
        with ``status`` saying so and nothing recorded.
        """
        return self.record_many([(attributes, cost, at)])[0]

    def record_many(self, calls: Sequence[tuple[Mapping[str, Any], float, float | None]]) -> list[Decision | None]:
        """``record`` for a batch of (attributes, cost, at), in order, in one ledger operation
        (one Redis round trip for a whole export request)."""
        now = self._clock()
        decisions: list[Decision | None] = [None] * len(calls)
        slots: list[Slot] = []
        slot_index: dict[str, int] = {}
        entries: list[tuple[tuple[int, ...], int]] = []
        covered = []  # (position, budgets, model, actual) per entry
        for position, (attributes, cost, at) in enumerate(calls):
            budgets = self._covering(attributes, now, now if at is None or at > now else at)
            if not budgets:
                continue
            if cost and not _plausible(cost):
                decisions[position] = Decision(
                    ALLOW,
                    self._state(budgets, 0, None),
                    model=attributes.get(attr.REQUEST_MODEL),
                    status=f"not recorded: {amount_problem(cost)}",
                )
                continue
            indexes = []
            for compiled, window, scope in budgets:
                slot = compiled.slot(window, scope)
                index = slot_index.get(slot.key)
                if index is None:
                    index = slot_index[slot.key] = len(slots)
                    slots.append(slot)
                indexes.append(index)
            actual = to_micros(cost) if cost else 0
            entries.append((tuple(indexes), actual))
            covered.append((position, budgets, attributes.get(attr.REQUEST_MODEL), actual))
        if not entries:
            return decisions
        why = "the ledger was unreachable moments ago"
        if now >= self._down_until:
            try:
                spent_after = self.ledger.record(slots, entries)
            except Exception as error:
                self._down_until = now + self.retry_after
                _log.warning(
                    "genai-cost: budget ledger %s unavailable at record: %s",
                    redact_url(self.ledger.url),
                    redact_text(str(error)),
                )
                why = f"ledger unavailable ({type(error).__name__})"
            else:
                for (position, budgets, model, actual), (touched, _), after in zip(
                    covered, entries, spent_after, strict=True
                ):
                    decisions[position] = self._recorded(budgets, [slots[i] for i in touched], after, actual, model)
                return decisions
        for position, budgets, model, _ in covered:
            decisions[position] = Decision(
                ALLOW, self._state(budgets, 0, None), model=model, status=f"not recorded: {why}"
            )
        return decisions

    def _covering(self, attributes: Mapping[str, Any], now: float, at: float) -> list[tuple[_Compiled, Window, str]]:
        """The budgets covering a call made at ``at``, each with the window ``at`` falls in (none
        for a window closed longer ago than its keys are kept)."""
        budgets = []
        for compiled in self._compiled:
            scope = compiled.scope_of(attributes)
            if scope is None:
                continue
            window = compiled.current(now)
            if not window.start <= at < window.end:
                policy = compiled.policy
                window = window_at(policy.window, at, policy.timezone)
                if window.end + _KEY_GRACE_S < now:
                    continue
            budgets.append((compiled, window, scope))
        return budgets

    def _recorded(
        self,
        budgets: Sequence[tuple[_Compiled, Window, str]],
        slots: Sequence[Slot],
        spent_after: Sequence[int],
        actual: int,
        model: str | None,
    ) -> Decision:
        balances = [Balance(spent, 0) for spent in spent_after]
        over = [i for i, slot in enumerate(slots) if spent_after[i] > slot.limit]
        if over:
            state = self._state(budgets, over[0], balances)
            decision = Decision(WARN, state, model=model)
            self._alert(WARN, state, model)
        else:
            least = min(range(len(slots)), key=lambda i: slots[i].limit - spent_after[i])
            decision = Decision(ALLOW, self._state(budgets, least, balances), model=model)
        if actual:
            decision.crossings = self._crossings(budgets, spent_after, actual, model)
        return decision

    def release(self, decision: Decision) -> None:
        """Give back the reservation of a call that failed before costing anything."""
        ticket = self._releasing(decision)
        if ticket is None:
            return
        try:
            if ticket.lane is not None:
                ticket.lane.release(ticket.estimate, ticket.lease)
            else:
                self.ledger.release(ticket.slots, ticket.estimate, ticket.lease)
        except Exception as error:
            self._unsettled(error, "release")

    async def arelease(self, decision: Decision) -> None:
        """``release`` with the ledger operation awaited (see ``areserve``)."""
        arelease = getattr(self.ledger, "arelease", None)
        if arelease is None:
            return self.release(decision)
        ticket = self._releasing(decision)
        if ticket is None:
            return None
        try:
            await arelease(ticket.slots, ticket.estimate, ticket.lease)
        except Exception as error:
            self._unsettled(error, "release")
        return None

    @staticmethod
    def _releasing(decision: Decision) -> _Ticket | None:
        ticket: _Ticket | None = decision.ticket
        if ticket is None or ticket.settled:
            return None
        ticket.settled = True
        if not ticket.reserved or ticket.estimate == 0:
            return None
        return ticket

    @property
    def awaits_ledger(self) -> bool:
        """Whether async calls await the ledger (it has async operations) rather than ask it inline."""
        return hasattr(self.ledger, "areserve")

    # -- reading ---------------------------------------------------------------------------
    def status(self) -> list[BudgetStatus]:
        """Every budget scope in its current window: spent, reserved, remaining, reset, projection.

        Plain budgets always appear (spent 0 before their first call); fan-out budgets list
        each value that has spent in the current window. If the ledger cannot be read, each
        budget appears once with ``status`` saying why.
        """
        now = self._clock()
        rows: list[BudgetStatus] = []
        for compiled in self._compiled:
            window = compiled.current(now)
            prefix = compiled.key(window, "")
            try:
                found = self.ledger.balances(prefix, lease_at(now))
            except Exception as error:
                why = f"ledger unavailable ({redact_text(str(error))})"
                rows.append(self._status_row(compiled, window, "", Balance(), now, why))
                continue
            if compiled.per is None:
                rows.append(self._status_row(compiled, window, "", found.get(prefix, Balance()), now))
            else:
                for key in sorted(found):
                    rows.append(self._status_row(compiled, window, key[len(prefix) :], found[key], now))
        return rows

    @staticmethod
    def _status_row(
        compiled: _Compiled, window: Window, scope: str, balance: Balance, now: float, why: str | None = None
    ) -> BudgetStatus:
        policy = compiled.policy
        state = compiled.state(window, scope, balance)
        month = month_at(now, policy.timezone)
        elapsed = max(now - window.start, 1.0)
        projected = state.spent / elapsed * (month.end - month.start)
        shared = {name: getattr(state, name) for name in _STATE_FIELDS}
        return BudgetStatus(**shared, remaining=state.remaining, projected=projected, status=why)

    # -- alerts ----------------------------------------------------------------------------
    def _alert(
        self,
        kind: str,
        state: BudgetState | None,
        model: str | None,
        *,
        threshold: float | None = None,
        downgrade_to: str | None = None,
    ) -> None:
        if state is None:
            return
        alert = BudgetAlert(
            kind=kind,
            budget=state.name,
            scope=state.scope,
            window=state.window,
            window_name=state.window_name,
            limit=state.limit,
            spent=state.spent + state.reserved,
            currency=state.currency,
            reset_at=state.reset_at,
            at=datetime.fromtimestamp(self._clock(), UTC),
            threshold=threshold,
            model=model,
            downgrade_to=downgrade_to,
        )
        for sink in self.on_alert:
            try:
                sink(alert)
            except Exception:
                from genai_cost.internal_errors import log_once

                log_once(f"budget alert sink {getattr(sink, '__qualname__', sink)!r}")

    def close(self) -> None:
        self.ledger.close()
