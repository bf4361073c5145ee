"""The gateway's own telemetry: counters and gauges, as Prometheus text and OTel observable instruments."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from opentelemetry import metrics

# name -> help; every counter is exported as genai_cost_gateway_<name>_total.
COUNTERS = {
    "requests": "OTLP export requests accepted",
    "rejected_requests": "OTLP export requests refused (bad payload, auth, size, backpressure)",
    "spans_in": "spans received in accepted requests",
    "spans_out": "spans delivered downstream",
    "spans_priced": "GenAI spans priced by the gateway",
    "spans_unpriced": "GenAI spans the gateway could not price (unknown model, no or invalid usage)",
    "spans_duplicate": "GenAI spans marked as duplicates of another span of the same call",
    "spans_already_priced": "GenAI spans that arrived priced and were left alone",
    "spans_retried": "GenAI spans (and totalled roots) of a retried export: forwarded as the first time, counted once",
    "spans_spooled": "spans written to the on-disk spool",
    "retries": "downstream export attempts that failed and were retried",
    "spans_dropped": "spans given up on (downstream refused them as invalid, or shutdown could not save them)",
    "enrich_errors": "spans forwarded unpriced because pricing them raised",
    "spans_budget_recorded": "priced spans whose cost was added to the budget ledger",
    "spans_budget_unrecorded": "priced spans whose cost the budget ledger could not take (unreachable)",
    "spans_rejected": "spans refused as undecodable while the rest of their request was kept (OTLP partial success)",
    "spans_redelivered": "spans sent again after a restart: a crash came between delivery and removal from the spool",
    "requests_over_memory_limit": "requests refused (503 / RESOURCE_EXHAUSTED) because in-flight bytes hit the limit",
    "connections_refused": "connections closed at once because the gateway had its maximum open",
}


class GatewayStats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(COUNTERS, 0)
        self._gauges: dict[str, tuple[str, Callable[[], float]]] = {}
        # More Prometheus text after the gateway's own figures (labelled series: budgets).
        self.text_sections: list[Callable[[], Iterable[str]]] = []

    def add(self, **increments: int) -> None:
        with self._lock:
            for name, value in increments.items():
                self._counts[name] += value

    def get(self, name: str) -> int:
        return self._counts[name]

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self._gauges[name] = (help_text, read)

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            out: dict[str, float] = dict(self._counts)
        for name, (_, read) in self._gauges.items():
            out[name] = read()
        return out

    def prometheus_text(self) -> str:
        lines = []
        values = self.snapshot()
        for name, help_text in COUNTERS.items():
            metric = f"genai_cost_gateway_{name}_total"
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter", f"{metric} {values[name]}"]
        for name, (help_text, _) in self._gauges.items():
            metric = f"genai_cost_gateway_{name}"
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} gauge", f"{metric} {values[name]}"]
        for section in self.text_sections:
            lines += section()
        return "\n".join(lines) + "\n"

    def register_instruments(self, meter_provider: metrics.MeterProvider | None = None) -> None:
        """The same figures through the OTel metrics API (observable: read at collection time)."""
        from genai_cost.version import __version__

        meter = metrics.get_meter("genai_cost.gateway", __version__, meter_provider)
        for name, help_text in COUNTERS.items():
            meter.create_observable_counter(
                f"genai_cost.gateway.{name}", callbacks=[self._observe(name)], description=help_text
            )
        for name, (help_text, _) in self._gauges.items():
            meter.create_observable_gauge(
                f"genai_cost.gateway.{name}", callbacks=[self._observe(name)], description=help_text
            )

    def _observe(self, name: str) -> Callable[[metrics.CallbackOptions], Iterable[metrics.Observation]]:
        def callback(_options: metrics.CallbackOptions) -> Iterable[metrics.Observation]:
            return [metrics.Observation(self.snapshot()[name])]

        return callback
