"""Budget accounting at the gateway: the spend of the spans it prices, settled in the ledger.

Post hoc: the call already happened, so nothing is blocked. Each priced span's cost is added
(``BudgetGuard.record``) to every budget covering it, in the window of the span's start; the span
gets the decision attributes (``allow``, or ``warn`` once a budget is over its limit) with the
budget's spend and what is left, and a ``genai_cost.budget.threshold`` event per threshold it
carried a budget across. The guard's alert sinks (log, webhooks) hear every crossing.

Which spans count: those the gateway priced itself. A span that arrives priced came from a
genai-cost SDK, which settled it in its own ledger if it runs budgets; with ``account_prepriced``
(fleets whose applications run no budgets) those count too, unless they carry a budget decision
(an SDK with budgets already settled them). Duplicates never count.

A ledger that cannot be reached costs the span its accounting, not its delivery: the span says
``genai_cost.budget.status=not recorded: ...``, ``spans_budget_unrecorded`` counts it, and the
first such failure is logged.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from genai_cost import attributes as attr
from genai_cost.attributes import Status
from genai_cost.budget.status import StatusCache, bounded_series
from genai_cost.gateway.wire import set_any_value

if TYPE_CHECKING:
    from genai_cost.budget.guard import BudgetGuard
    from genai_cost.budget.state import ThresholdCrossing
    from genai_cost.gateway.stats import GatewayStats

_log = logging.getLogger(__name__)


class SpendAccounting:
    def __init__(self, guard: BudgetGuard, stats: GatewayStats, *, account_prepriced: bool = False) -> None:
        self.guard = guard
        self.stats = stats
        self.account_prepriced = account_prepriced
        self._warned = False
        self._statuses = StatusCache(lambda: guard)  # a scrape does not scan the ledger each time

    def counts(self, attributes: MutableMapping[str, Any], priced_here: bool) -> bool:
        """Whether this span's cost is the gateway's to account (``attributes`` as forwarded)."""
        if attributes.get(attr.COST_STATUS) != Status.PRICED:
            return False  # unpriced or a duplicate: nothing spent, or counted on another span
        return priced_here or (self.account_prepriced and attr.BUDGET_DECISION not in attributes)

    def account(self, spans: Sequence[tuple[Any, MutableMapping[str, Any]]]) -> None:
        """Record the cost of each (span, attributes as forwarded) of one request, in order and in
        one ledger operation; add each decision to its attributes and crossings to its span."""
        calls = []
        accounted = []
        for span, attributes in spans:
            amount = attributes.get(attr.COST_AMOUNT)
            if isinstance(amount, int | float) and not isinstance(amount, bool):
                start_ns = span.start_time_unix_nano
                calls.append((attributes, float(amount), start_ns / 1e9 if start_ns else None))
                accounted.append((span, attributes))
        recorded = unrecorded = 0
        for (span, attributes), decision in zip(accounted, self.guard.record_many(calls), strict=True):
            if decision is None:
                continue
            attributes.update(decision.span_attributes())
            if decision.status is not None:
                unrecorded += 1
                if not self._warned:
                    self._warned = True
                    _log.warning("genai-cost gateway: spend not recorded in the budget ledger: %s", decision.status)
                continue
            recorded += 1
            for crossing in decision.crossings:
                _add_event(span, crossing)
        self.stats.add(spans_budget_recorded=recorded, spans_budget_unrecorded=unrecorded)

    def remaining_lines(self) -> Iterator[str]:
        """The remaining-budget gauge in Prometheus text (a scrape reads the ledger once), named as
        the Collector's Prometheus exporter names the SDK's ``genai_cost.budget.remaining``, so
        collector/'s alert rules and dashboard read either. Fan-out budgets give their top scopes
        by spend and one ``(other)`` series (``bounded_series``): a label per user would grow
        without bound."""
        metric = "genai_cost_budget_remaining_USD"
        yield f"# HELP {metric} money left in each budget's current window, in its currency"
        yield f"# TYPE {metric} gauge"
        for row in bounded_series(self._statuses()):
            if row.status:  # the ledger could not be read: no figure rather than a made-up one
                continue
            labels = {"genai_cost_budget_name": row.name, "genai_cost_budget_window": row.window}
            if row.scope:
                labels["genai_cost_budget_scope"] = row.scope
            labels["currency"] = row.currency
            text = ",".join(f'{key}="{_label(value)}"' for key, value in labels.items())
            yield f"{metric}{{{text}}} {row.remaining!r}"


def _add_event(span: Any, crossing: ThresholdCrossing) -> None:
    event = span.events.add()
    event.name = attr.BUDGET_THRESHOLD_EVENT
    event.time_unix_nano = span.end_time_unix_nano or span.start_time_unix_nano
    for key, value in crossing.event_attributes().items():
        key_value = event.attributes.add()
        key_value.key = key
        set_any_value(key_value.value, value)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
