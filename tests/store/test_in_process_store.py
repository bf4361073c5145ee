"""In process: configure(store=...) writes one row per priced call of our own instrumentation,
from the export path, with the attribution of cost_context."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genai_cost import attributes as attr
from genai_cost.autoconfig import configure
from genai_cost.config import ConfigError, Settings, load_settings
from genai_cost.reports import query
from genai_cost.store import StoreError, open_store


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


def test_without_duckdb_the_store_says_which_extra_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "duckdb", None)  # as if the `store` extra were not installed
    with pytest.raises(StoreError, match="store extra: pip install duckdb"):
        open_store(str(tmp_path / "s.duckdb"))


def test_zero_code_with_an_unusable_store_still_prices(tmp_path, monkeypatch):
    """Under opentelemetry-instrument a bad store is logged; the app keeps its priced spans."""
    (tmp_path / "f").write_text("x")
    app = tmp_path / "app.py"
    app.write_text(
        "from opentelemetry import trace\n"
        "p = trace.get_tracer_provider()\n"
        "print(type(p._active_span_processor._span_processors[0]).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GENAI_COST_"))}
    env.update(
        GENAI_COST_STORE=str(tmp_path / "f" / "s.duckdb"), OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none"
    )
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    done = subprocess.run(
        [str(instrument), sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "CostSpanProcessor"
    assert "priced but not stored" in done.stderr and "s.duckdb" in done.stderr
