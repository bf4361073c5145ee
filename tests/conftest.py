"""Shared fixtures: a real SDK pipeline (TracerProvider -> CostSpanProcessor -> exporter) and
real metrics, installed once per session because OpenTelemetry's globals can be set only once."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from genai_cost.autoconfig import install_cost_processor
from genai_cost.metrics import CostMetrics, set_cost_metrics
from genai_cost.pricing import catalog
from genai_cost.testing import StubProvider

RECORDINGS = Path(__file__).resolve().parents[1].parent / "shared" / "recordings"

# GENAI_COST_TEST_OFF_CALL=1 runs the same tests through the pipeline users with batch exporters
# get: the cost processor completes spans (ours: their end-of-call attributes) on its own thread,
# off the call. The exporter is still written synchronously by that thread, and every read of it
# (and of metrics) first drains that thread's queue, as force_flush does.
OFF_CALL = os.environ.get("GENAI_COST_TEST_OFF_CALL", "") == "1"


class _ExportsLater(SimpleSpanProcessor):
    exports_later = True  # what a batch exporter is to the cost processor


class _DrainingExporter(InMemorySpanExporter):
    def get_finished_spans(self) -> tuple[ReadableSpan, ...]:
        _cost_processor.force_flush()
        return super().get_finished_spans()

    def clear(self) -> None:
        _cost_processor.force_flush()  # spans of calls made before, still on their way
        super().clear()


_exporter = _DrainingExporter()
_metric_reader = InMemoryMetricReader()
_provider = TracerProvider()
_provider.add_span_processor(_ExportsLater(_exporter) if OFF_CALL else SimpleSpanProcessor(_exporter))
_cost_processor = install_cost_processor(_provider)
assert _cost_processor.completes_later is OFF_CALL
trace.set_tracer_provider(_provider)
_meter_provider = MeterProvider(metric_readers=[_metric_reader])
metrics.set_meter_provider(_meter_provider)
set_cost_metrics(CostMetrics(_meter_provider))
catalog().warm_up()

# Property tests check results, never speed: on a loaded CI box neither a slow example (deadline)
# nor slow data generation (too_slow) may fail them. Each test's own @settings still applies.
settings.register_profile("genai-cost", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.load_profile("genai-cost")


@pytest.fixture
def tracer_provider() -> TracerProvider:
    return _provider


@pytest.fixture
def span_exporter() -> Iterator[InMemorySpanExporter]:
    _cost_processor.force_flush()  # an earlier test's spans still on their way (off the call)
    _exporter.clear()
    yield _exporter
    _cost_processor.force_flush()
    _exporter.clear()


@pytest.fixture
def budget(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A ``BudgetGuard`` over one ``BudgetPolicy`` (the indirect parameter) on an in-memory
    ledger, installed for the test: ``@pytest.mark.parametrize("budget", [policy], indirect=True)``."""
    from genai_cost.budget import install_guard
    from genai_cost.budget.guard import BudgetGuard
    from genai_cost.budget.ledger.memory import MemoryLedger

    guard = BudgetGuard([request.param], MemoryLedger())
    previous = install_guard(guard)
    yield guard
    install_guard(previous)
    guard.close()


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    _metric_reader.get_metrics_data()  # drain what earlier tests recorded (cumulative though)
    return _metric_reader


def metric_points(reader: InMemoryMetricReader, name: str) -> list:
    """All data points of one metric currently held by the reader."""
    from genai_cost.metrics import cost_metrics

    _cost_processor.force_flush()  # off the call, the processor's thread records them
    cost_metrics().flush()  # recording is deferred to a background thread
    data = reader.get_metrics_data()
    points = []
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.name == name:
                    points.extend(metric.data.data_points)
    return points


def genai_spans(exporter: InMemorySpanExporter, scope: str | None = None) -> list[ReadableSpan]:
    """The finished spans of one instrumentation scope (genai-cost's own by default)."""
    from genai_cost.runtime import OUR_SCOPE

    wanted = scope or OUR_SCOPE
    return [
        s
        for s in exporter.get_finished_spans()
        if s.instrumentation_scope is not None and s.instrumentation_scope.name == wanted
    ]


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    """The one CLIENT span genai-cost made (fails listing the names when there is not exactly one)."""
    spans = genai_spans(exporter)
    assert len(spans) == 1, [s.name for s in spans]
    assert spans[0].kind is SpanKind.CLIENT
    return spans[0]


def attrs(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


# --- oracles every instrumentation's tests check prices against -------------------------------

PRICE_TOLERANCE = 1e-9


def genai_prices_cost(
    model: str, usage: dict[str, int], provider: str, price_context: dict[str, str] | None = None
) -> float:
    """genai-prices' own price for this usage (genai-prices usage field names; never our catalog)."""
    from genai_prices import Usage, calc_price

    return float(calc_price(Usage(**usage), model, provider_id=provider, price_context=price_context).total_price)


def assert_usage(span_attributes: dict[str, Any], usage: dict[str, int]) -> None:
    """The span's usage attributes equal genai-prices usage made from the server's (absent = 0)."""
    assert span_attributes["gen_ai.usage.input_tokens"] == usage["input_tokens"]
    assert span_attributes["gen_ai.usage.output_tokens"] == usage.get("output_tokens", 0)
    assert span_attributes.get("gen_ai.usage.cache_read.input_tokens", 0) == usage.get("cache_read_tokens", 0)
    assert span_attributes.get("gen_ai.usage.cache_write.input_tokens", 0) == usage.get("cache_write_tokens", 0)
    assert span_attributes.get("gen_ai.usage.reasoning.output_tokens", 0) == usage.get("output_reasoning_tokens", 0)


def assert_priced_at(span_attributes: dict[str, Any], expected: float, status: str = "priced") -> None:
    """The span has that status and the oracle's (non-zero) amount, also as gen_ai.usage.cost."""
    assert span_attributes["genai_cost.status"] == status, span_attributes.get("genai_cost.status.detail")
    assert expected > 0
    assert span_attributes["genai_cost.amount"] == pytest.approx(expected, abs=PRICE_TOLERANCE)
    assert span_attributes["gen_ai.usage.cost"] == span_attributes["genai_cost.amount"]


# --- what every instrumentation's tests share ------------------------------------------------


@pytest.fixture
def stub() -> Iterator[StubProvider]:
    """The local provider stand-in the real SDKs talk HTTP to, fresh for each test."""
    with StubProvider() as provider:
        yield provider


def instrumentation_fixtures(instrumentor: type) -> tuple[Callable[..., None], Callable[[], Any], Any, Any]:
    """For one instrumentor, what its support module hands the test modules:

    ``instrument(**options)`` on the session's provider; ``uninstrumented()``, a block against the
    bare SDK; the fixture ``instrumented`` (on for the test module) and the autouse fixture
    ``no_content_capture`` (a test asserting that no prompt text reaches the span must not inherit
    an opt-in). Support modules, not a conftest per folder: that would shadow this one."""

    def instrument(**options: Any) -> None:
        instrumentor().instrument(tracer_provider=trace.get_tracer_provider(), **options)

    @contextlib.contextmanager
    def uninstrumented() -> Iterator[None]:
        instrumentor().uninstrument()
        try:
            yield
        finally:
            instrument()

    @pytest.fixture(scope="module", autouse=True)
    def instrumented() -> Iterator[None]:
        instrument()
        yield
        instrumentor().uninstrument()

    @pytest.fixture(autouse=True)
    def no_content_capture(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)

    return instrument, uninstrumented, instrumented, no_content_capture


OPENTELEMETRY_INSTRUMENT = Path(sys.executable).with_name("opentelemetry-instrument")


def run_zero_code(
    app: Path,
    otlp_endpoint: str,
    *,
    service: str,
    drop: tuple[str, ...] = (),
    timeout: float = 120,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """``opentelemetry-instrument python app`` as a user runs it: this environment without any
    ``OTEL_*``/``GENAI_COST_*`` variable (nor those starting with ``drop``: a provider's keys and
    URLs), exporting OTLP/HTTP protobuf to ``otlp_endpoint``, plus ``env``."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GENAI_COST_", *drop))}
    clean.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=otlp_endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_SERVICE_NAME=service,
    )
    clean.update(env)
    return subprocess.run(
        [str(OPENTELEMETRY_INSTRUMENT), sys.executable, str(app)],
        env=clean,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
