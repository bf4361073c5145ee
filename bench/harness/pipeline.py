"""The pipeline every variant gets: an SDK ``TracerProvider`` (set as the global one) with a
``BatchSpanProcessor`` over an exporter that only counts spans. No ``MeterProvider`` or
``LoggerProvider``: metrics and log events go to the API's no-op providers for every variant."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


def make_pipeline() -> tuple[Any, Any]:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class CountingExporter(SpanExporter):
        """Counts spans per scope; keeps a summary of the last one of the variant's own scope."""

        def __init__(self) -> None:
            self.count = 0
            self.scopes: Counter[str] = Counter()
            self.samples: dict[str, dict[str, Any]] = {}
            self._lock = threading.Lock()

        def export(self, spans: Any) -> Any:
            with self._lock:
                self.count += len(spans)
                for span in spans:
                    scope = span.instrumentation_scope.name if span.instrumentation_scope else "?"
                    self.scopes[scope] += 1
                    attributes = span.attributes or {}
                    self.samples[scope] = {
                        "name": span.name,
                        "attributes": len(attributes),
                        "events": len(span.events or ()),
                        "cost": attributes.get("genai_cost.amount"),
                        "status": attributes.get("genai_cost.status"),
                    }
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

    exporter = CountingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider, exporter
