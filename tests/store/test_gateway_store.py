"""Spans through a real gateway with a store: report totals equal the priced spans' amounts.

Real OTLP exporters -> gateway (pricing) -> forwarded to a real receiver, and written in the
background to a DuckDB store -> ``genai-cost report`` over that store, run as the CLI.
"""

from __future__ import annotations

import contextlib
import io
import json
import math

import pytest
from gateway_support import (
    attribute_map,
    eventually,
    gateway_config,
    genai_attributes,
    http_exporter,
    oracle,
    service,
    spans_by_id,
)

from genai_cost import attributes as attr
from genai_cost.cli import main
from genai_cost.gateway import Gateway
from genai_cost.store import open_store
from genai_cost.store.rows import calls_from_otlp
from genai_cost.store.writer import StoreWriter
from genai_cost.testing.otlp_receiver import OtlpReceiver

# (team, model, provider, input, output)
CALLS = [
    ("search", "gpt-4o", "openai", 1200, 300),
    ("search", "gpt-4o-mini", "openai", 5000, 20),
    ("checkout", "claude-sonnet-4-20250514", "anthropic", 800, 450),
    ("checkout", "gpt-4o", "openai", 10, 10),
    ("checkout", "no-such-model-xyz", "openai", 100, 100),  # unpriced: never $0
]


@contextlib.contextmanager
def running_gateway(downstream: str, store_writer: StoreWriter, **overrides):
    gateway = Gateway(gateway_config(downstream, **overrides), store_writer=store_writer).start()
    try:
        yield gateway
    finally:
        gateway.shutdown()


def _report(store: str, *args: str) -> list[dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["report", "--store", store, "--since", "2000-01-01", *args, "--format", "json"]) == 0
    return json.loads(out.getvalue())


@pytest.fixture
def receiver():
    with OtlpReceiver() as running:
        yield running


def test_report_totals_equal_priced_span_amounts(tmp_path, receiver):
    path = str(tmp_path / "spend.duckdb")
    writer = StoreWriter(open_store(path), calls_from_otlp, interval=0.05)
    with running_gateway(receiver.endpoint, store_writer=writer) as gateway:
        provider = service("app", http_exporter(gateway))
        tracer = provider.get_tracer("test")
        for team, model, prov, inp, out in CALLS:
            with (
                tracer.start_as_current_span("GET /x"),
                tracer.start_as_current_span(
                    f"chat {model}", attributes={**genai_attributes(model, prov, inp, out), attr.TEAM: team}
                ),
            ):
                pass
        provider.shutdown()
        assert eventually(lambda: len(spans_by_id(receiver.requests)) == 2 * len(CALLS))
    forwarded = [attribute_map(span) for _, _, span in spans_by_id(receiver.requests).values()]
    amounts = [a[attr.COST_AMOUNT] for a in forwarded if attr.COST_AMOUNT in a]
    assert len(amounts) == 4
    assert math.isclose(sum(amounts), sum(oracle(m, p, input_tokens=i, output_tokens=o) for _, m, p, i, o in CALLS[:4]))

    rows = _report(path, "--by", "team")
    assert {r["team"] for r in rows} == {"search", "checkout"}
    assert abs(sum(r["amount"] for r in rows) - sum(amounts)) <= 1e-9
    by_team = {r["team"]: r for r in rows}
    assert by_team["checkout"]["calls"] == 3
    assert by_team["checkout"]["unpriced_calls"] == 1
    assert by_team["search"]["input_tokens"] == 6200
    assert by_team["checkout"]["output_tokens"] == 560
    models = {r["model"] for r in _report(path, "--by", "model,day")}
    assert "no-such-model-xyz" in models  # the unpriced call is a row, with no amount
    unpriced = next(r for r in _report(path, "--by", "model") if r["model"] == "no-such-model-xyz")
    assert unpriced["amount"] is None and unpriced["calls"] == 1


def test_a_retried_export_is_one_row(tmp_path, receiver):
    path = str(tmp_path / "spend.duckdb")
    store = open_store(path)
    writer = StoreWriter(store, calls_from_otlp, interval=0.05)
    exporter_spans = []
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    with running_gateway(receiver.endpoint, store_writer=writer, dedupe_window_spans=0) as gateway:
        provider = service("app")
        provider.add_span_processor(SimpleSpanProcessor(memory))
        tracer = provider.get_tracer("test")
        with tracer.start_as_current_span("chat gpt-4o", attributes=genai_attributes("gpt-4o", "openai", 100, 10)):
            pass
        exporter_spans = memory.get_finished_spans()
        exporter = http_exporter(gateway)
        exporter.export(exporter_spans)
        exporter.export(exporter_spans)  # the client retries: same trace id and span id
        writer.flush()
        exporter.export(exporter_spans)  # again, in a later batch
    rows = store.calls()
    assert len(rows) == 1
    assert writer.stats.skipped == 2
