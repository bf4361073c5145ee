"""In process: configure(store=...) writes one row per priced call of our own instrumentation,
from the export path, with the attribution of cost_context."""

from __future__ import annotations

import math

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genai_cost import attributes as attr
from genai_cost.autoconfig import configure
from genai_cost.config import ConfigError, Settings, load_settings
from genai_cost.reports import query
from genai_cost.store import open_store


def test_configure_store_writes_priced_spans_in_the_background(tmp_path):
    from genai_cost import cost_context

    path = str(tmp_path / "spend.duckdb")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    configure(tracer_provider=provider, store=path, settings=Settings(), instrument=False)
    tracer = provider.get_tracer("some.other.instrumentation")  # priced by CostSpanProcessor
    with cost_context(team="search", project="web"):
        for tokens in (100, 200, 300):
            with tracer.start_as_current_span(
                "chat gpt-4o",
                attributes={
                    attr.OPERATION_NAME: "chat",
                    attr.PROVIDER_NAME: "openai",
                    attr.REQUEST_MODEL: "gpt-4o",
                    attr.USAGE_INPUT_TOKENS: tokens,
                    attr.USAGE_OUTPUT_TOKENS: 10,
                },
            ):
                pass
    assert provider.force_flush()
    amounts = [s.attributes[attr.COST_AMOUNT] for s in exporter.get_finished_spans()]
    assert len(amounts) == 3
    groups = query.totals(open_store(path), ["team", "project"])
    assert [(g.keys, g.calls, g.input_tokens) for g in groups] == [({"team": "search", "project": "web"}, 3, 600)]
    assert math.isclose(groups[0].amount, sum(amounts), abs_tol=1e-12)
    provider.shutdown()


def test_an_unusable_store_fails_configure_naming_it(tmp_path):
    (tmp_path / "f").write_text("x")
    try:
        configure(
            tracer_provider=TracerProvider(),
            store=str(tmp_path / "f" / "s.duckdb"),
            settings=Settings(),
            instrument=False,
        )
    except ConfigError as exc:
        assert "store:" in str(exc) and "s.duckdb" in str(exc)
    else:
        raise AssertionError("configure must fail fast")


def test_store_settings_from_the_environment_and_the_file(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("store: {url: /tmp/x.duckdb, retention: 400d}\n")
    settings = load_settings({"GENAI_COST_CONFIG": str(config)})
    assert (settings.store, settings.store_retention) == ("/tmp/x.duckdb", "400d")
    settings = load_settings({"GENAI_COST_CONFIG": str(config), "GENAI_COST_STORE": "/tmp/y.duckdb"})
    assert settings.store == "/tmp/y.duckdb"
    config.write_text("store: {url: /tmp/x.duckdb, retention: forever}\n")
    try:
        load_settings({"GENAI_COST_CONFIG": str(config)})
    except ConfigError as exc:
        assert "store.retention" in str(exc) and "forever" in str(exc)
    else:
        raise AssertionError("a bad retention must fail")
