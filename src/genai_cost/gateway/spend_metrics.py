"""Spend and call counters the gateway serves on its /metrics, so Prometheus alone fills collector/'s
dashboard and rules (no Collector with span connectors needed).

Names and labels are what the Collector's connectors make of the same spans
(collector/otelcol-spend-metrics.yaml): ``genai_cost_spend_USD_total`` sums ``genai_cost.amount``
of priced spans, ``genai_cost_spans_calls_total`` counts one per billed call with its
``genai_cost.status`` — unpriced calls too, duplicates never. Either source serves one dashboard;
run both for the same spans and Prometheus would count twice (collector/prometheus/prometheus.yml
drops these two from the gateway's job where the Collector's connectors run).

Cardinality is bounded: past ``max_series`` label sets, new ones fold their attribution and model
into ``_other`` (provider, operation and status stay exact), counted in
``genai_cost_gateway_spend_series_folded_total``. A series appears at 0 on the first scrape after
it was made and with its value from the next one on: Prometheus' ``increase()`` cannot see money
that a series already had in its first sample, so without that the first calls of every new
project or model would be lost to every panel.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from genai_cost import attributes as attr
from genai_cost.attributes import Status
from genai_cost.plausibility import amount_problem

# (Prometheus label, span attribute, value when absent) — the Collector connectors' defaults.
LABELS = (
    ("gen_ai_provider_name", attr.PROVIDER_NAME, "unknown"),
    ("gen_ai_request_model", attr.REQUEST_MODEL, "unknown"),
    ("gen_ai_operation_name", attr.OPERATION_NAME, "unknown"),
    ("genai_cost_project", attr.PROJECT, "unattributed"),
    ("genai_cost_team", attr.TEAM, "unattributed"),
    ("genai_cost_feature", attr.FEATURE, "unattributed"),
)
STATUS_LABEL = "genai_cost_status"
# Label positions folded to OTHER past the series bound (model and attribution).
_FOLDED = frozenset({1, 3, 4, 5})
OTHER = "_other"
_MAX_LABEL_CHARS = 128


def _escape(value: str) -> str:
    return value[:_MAX_LABEL_CHARS].replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class SpendCounters:
    def __init__(self, max_series: int = 5_000) -> None:
        self.max_series = max_series
        self._lock = threading.Lock()
        # (labels..., status) -> [calls, shown to a scrape, {currency: [amount, shown to a scrape]}]
        self._series: dict[tuple[str, ...], list[Any]] = {}
        self.folded = 0

    def observe(self, attributes: Mapping[str, Any]) -> None:
        """Count one finished GenAI span by its final attributes (ignored unless a billed call)."""
        status = attributes.get(attr.COST_STATUS)
        if status is None or status == Status.DUPLICATE:
            return
        amount = attributes.get(attr.COST_AMOUNT)
        if amount_problem(amount) is not None:  # not a number, or implausible (1e300, -50, NaN):
            amount = None  # the call counts, its amount does not (the enricher's bounds)
        currency = str(attributes.get(attr.COST_CURRENCY) or "USD")
        key = (*(str(attributes.get(name) or default) for _, name, default in LABELS), str(status))
        with self._lock:
            series = self._series.get(key)
            if series is None:
                if len(self._series) >= self.max_series:
                    self.folded += 1
                    key = tuple(OTHER if i in _FOLDED else v for i, v in enumerate(key))
                    series = self._series.get(key)
                if series is None:
                    series = self._series[key] = [0, False, {}]
            series[0] += 1
            if amount is not None:
                spent = series[2].get(currency)
                if spent is None:
                    series[2][currency] = [amount, False]
                else:
                    spent[0] += amount

    def prometheus_lines(self) -> Iterator[str]:
        with self._lock:
            rows = []
            for key, series in self._series.items():
                amounts = {currency: spent[0] if spent[1] else 0.0 for currency, spent in series[2].items()}
                rows.append((key, series[0] if series[1] else 0, amounts))
                series[1] = True
                for spent in series[2].values():
                    spent[1] = True
            folded = self.folded
        calls = "genai_cost_spans_calls_total"
        yield f"# HELP {calls} GenAI calls seen by the gateway, one per billed call (duplicates excluded)"
        yield f"# TYPE {calls} counter"
        spend_lines: dict[str, list[str]] = {}
        for key, count, amounts in rows:
            labels = ",".join(f'{label}="{_escape(value)}"' for (label, _, _), value in zip(LABELS, key, strict=False))
            yield f'{calls}{{{labels},{STATUS_LABEL}="{_escape(key[-1])}"}} {count}'
            for currency, amount in amounts.items():
                spend_lines.setdefault(currency, []).append(f"{{{labels}}} {amount!r}")
        # Spend by currency, one metric each (the Collector's signaltometrics sums USD only).
        for currency in sorted(spend_lines):
            metric = f"genai_cost_spend_{currency}_total"
            yield f"# HELP {metric} money spent on GenAI calls (sum of genai_cost.amount), in {currency}"
            yield f"# TYPE {metric} counter"
            for line in spend_lines[currency]:
                yield metric + line
        metric = "genai_cost_gateway_spend_series_folded_total"
        yield f"# HELP {metric} calls counted under _other model/attribution labels (series bound reached)"
        yield f"# TYPE {metric} counter"
        yield f"{metric} {folded}"
