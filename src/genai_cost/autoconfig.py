"""Setting genai-cost up: ``configure()`` in code, and the hook ``opentelemetry-instrument`` runs.

Both end in the same place: the process's SDK ``TracerProvider`` sends every span through a
``CostSpanProcessor`` that wraps its export processors, the price catalog carries the configured
overrides, and our instrumentors are active.

Zero-code (``opentelemetry-instrument python app.py``): our ``opentelemetry_pre_instrument`` entry
point runs after any distro/configurator and before instrumentors. If a configurator already
built an SDK pipeline (``opentelemetry-distro`` is installed), we wrap its processors. If none did
(no distro), we build the standard one from the usual ``OTEL_*`` variables — OTLP over
http/protobuf unless they say otherwise — so the user sets nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from genai_cost import runtime
from genai_cost.backend_view import BackendView
from genai_cost.config import ConfigError, Settings, load_file, load_settings, port_from_env
from genai_cost.context import set_default_attribution
from genai_cost.context import set_dimensions
from genai_cost.metrics import CostMetrics, set_cost_metrics
from genai_cost.pricing import PriceCatalog, catalog, set_catalog
from genai_cost.processor import CostSpanProcessor

_log = logging.getLogger("genai_cost")


def apply_settings(settings: Settings) -> None:
    """Make settings take effect process-wide (catalog, attribution defaults, span aliases)."""
    # Not warmed up here: the background load would compete with the rest of set-up for the GIL
    # and the import lock; configure() and pre_instrument() start it when they are done.
    set_catalog(PriceCatalog(settings.overrides))
    set_default_attribution(settings.attribution)
    set_dimensions(settings.dimensions)
    set_cost_metrics(CostMetrics(user_id=settings.metrics_user_id))
    runtime.amount_aliases = settings.amount_aliases
    runtime.anthropic_sdk_tracing = settings.anthropic_sdk_tracing
    runtime.backend_view = BackendView(settings.backends, settings.duplicate_usage)
    from genai_cost.budget.setup import start_budgets  # budgets load only when configured

    start_budgets(settings.budgets, settings.alerts)


def install_cost_processor(provider: TracerProvider, settings: Settings | None = None) -> CostSpanProcessor:
    """Route every processor already on ``provider`` through one ``CostSpanProcessor``.

    Idempotent. Processors added to the provider later are not wrapped.
    """
    active = provider._active_span_processor  # the SDK offers no public way to wrap processors
    current: tuple[SpanProcessor, ...] = active._span_processors
    for processor in current:
        if isinstance(processor, CostSpanProcessor):
            return processor
    settings = settings or Settings()
    downstream = list(current)
    if settings.store:
        downstream.append(_store_processor(settings))
    cost_processor = CostSpanProcessor(
        downstream,
        amount_aliases=settings.amount_aliases,
        max_open_traces=settings.max_open_traces,
        complete_later=settings.complete_off_call,
    )
    with active._lock:
        active._span_processors = (cost_processor,)
    return cost_processor


def _store_processor(settings: Settings) -> SpanProcessor:
    """The in-process spend store writer: beside the exporters, so it sees spans once priced."""
    from genai_cost.store import StoreError, open_store, parse_retention
    from genai_cost.store.writer import StoreSpanProcessor

    assert settings.store is not None
    try:
        retention = parse_retention(settings.store_retention) if settings.store_retention else None
        store = open_store(settings.store, retention=retention, writer=True)
    except (StoreError, ValueError) as exc:
        raise ConfigError(f"store: {exc}") from None
    return StoreSpanProcessor(store)  # type: ignore[return-value]


def configure(
    *,
    service_name: str | None = None,
    exporters: SpanExporter | Sequence[SpanExporter] | None = None,
    tracer_provider: TracerProvider | None = None,
    config_file: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    instrument: bool = True,
    metric_readers: Sequence[Any] | None = None,
    budgets: Sequence[Any] | None = None,
    ledger: str | None = None,
    budget_fail_mode: str | None = None,
    prometheus_port: int | None = None,
    store: str | None = None,
) -> TracerProvider:
    """Set up tracing with cost in one call; returns the ``TracerProvider`` in use.

    * ``tracer_provider``: use (and wrap) this provider; otherwise the global SDK provider if one
      is set, otherwise a new one exporting to ``exporters`` (default: OTLP/http from ``OTEL_*``).
    * ``config_file`` / ``settings``: instead of ``GENAI_COST_CONFIG``. A bad file raises
      ``ConfigError`` naming the file, key and problem.
    * ``metric_readers``: if given, a ``MeterProvider`` with them is installed globally.
    * ``instrument``: instrument every supported provider SDK that is installed.
    * ``budgets``: ``BudgetPolicy`` objects or mappings of their fields (replacing the file's);
      ``ledger``: ``memory``, ``sqlite:///path`` or ``redis://...``; ``budget_fail_mode``:
      ``open`` or ``closed``. A bad budget raises ``ConfigError`` naming the budget and key.
    * ``prometheus_port`` (or ``GENAI_COST_PROMETHEUS_PORT``): serve the SDK's metrics for
      Prometheus on this port (0: any free one), for apps without a gateway or Collector; needs
      the ``prometheus`` extra (opentelemetry-exporter-prometheus).
    * ``store``: write one row per GenAI call to this spend store (a path), in the background.
    """
    if settings is None:
        settings = load_settings()
        if config_file is not None:
            file_settings = load_file(config_file)
            settings = Settings(
                **{**file_settings.__dict__, "attribution": {**file_settings.attribution, **settings.attribution}}
            )
    if budgets is not None or ledger is not None or budget_fail_mode is not None:
        from genai_cost.budget.policy import InvalidBudget
        from genai_cost.budget.setup import budgets_in_code

        try:
            in_code = budgets_in_code(settings.budgets, budgets, ledger, budget_fail_mode)
        except InvalidBudget as exc:
            raise ConfigError(f"configure(): {exc}") from None
        settings = Settings(**{**settings.__dict__, "budgets": in_code})
    if store is not None:
        settings = Settings(**{**settings.__dict__, "store": store})
    apply_settings(settings)

    provider = tracer_provider
    if provider is None:
        current = trace.get_tracer_provider()
        if isinstance(current, TracerProvider):
            provider = current
    if provider is None:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource

        # Phoenix files traces by the resource's project; MLflow tags traces with the resource.
        backends = runtime.backend_view.resource(settings.attribution)
        resource = Resource.create({**backends, **({SERVICE_NAME: service_name} if service_name else {})})
        provider = TracerProvider(resource=resource)
        if exporters is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters = OTLPSpanExporter()
        for exporter in [exporters] if isinstance(exporters, SpanExporter) else exporters:
            provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(provider)
    install_cost_processor(provider, settings)

    if prometheus_port is None:  # the variable wins over a config_file's metrics.prometheus_port
        prometheus_port = port_from_env(os.environ, "GENAI_COST_PROMETHEUS_PORT", settings.prometheus_port)
    if prometheus_port is not None:
        metric_readers = [*(metric_readers or ()), _prometheus_reader(prometheus_port)]
    if metric_readers:
        from opentelemetry import metrics
        from opentelemetry.sdk.metrics import MeterProvider

        metrics.set_meter_provider(MeterProvider(metric_readers=list(metric_readers), resource=provider.resource))

    if instrument and settings.enabled:
        from genai_cost.instrumentation import instrument_all

        instrument_all(tracer_provider=provider)
    catalog().warm_up()  # price data loads in the background, before the first call ends
    return provider


def _prometheus_reader(port: int) -> Any:
    """A metric reader Prometheus scrapes at ``http://<host>:<port>/metrics``."""
    try:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import start_http_server
    except ImportError:
        raise ConfigError(
            "prometheus_port needs opentelemetry-exporter-prometheus (the prometheus extra: pip install opentelemetry-exporter-prometheus)"
        ) from None
    server, _ = start_http_server(port, addr=os.environ.get("GENAI_COST_PROMETHEUS_HOST", "127.0.0.1"))
    runtime.prometheus_port = server.server_port
    return PrometheusMetricReader()


def pre_instrument() -> None:
    """``opentelemetry_pre_instrument`` hook: make the zero-code pipeline price spans."""
    try:
        try:
            settings = load_settings()
        except ConfigError as exc:
            # Pricing with half a configuration (say, without its discounts) would report wrong
            # money; better to price nothing and say loudly why.
            _log.error("genai-cost is disabled: %s", exc)
            runtime.disabled_reason = str(exc)
            return
        if not settings.enabled:
            return
        apply_settings(settings)
        provider = trace.get_tracer_provider()
        if not isinstance(provider, TracerProvider):
            _configure_sdk_from_environment()
            provider = trace.get_tracer_provider()
        if isinstance(provider, TracerProvider):
            try:
                install_cost_processor(provider, settings)
            except ConfigError as exc:  # an unusable spend store must not cost the app its prices
                _log.error("genai-cost: calls are priced but not stored: %s", exc)
                install_cost_processor(provider, Settings(**{**settings.__dict__, "store": None}))
        catalog().warm_up()  # in the background, while the instrumentors and the app load
    except Exception:
        _log.exception("genai-cost: setting up under opentelemetry-instrument failed; spans are not priced")


def _configure_sdk_from_environment() -> None:
    """What opentelemetry-distro's configurator would do, for installs without a distro."""
    from opentelemetry.sdk._configuration import _initialize_components

    os.environ.setdefault("OTEL_TRACES_EXPORTER", "otlp")
    os.environ.setdefault("OTEL_METRICS_EXPORTER", "otlp")
    # We depend on the http/protobuf exporter only, so that is the protocol that will work.
    os.environ.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
    from opentelemetry.instrumentation.version import __version__ as auto_version

    _initialize_components(auto_instrumentation_version=auto_version)
