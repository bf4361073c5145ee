"""Anomaly detection on a real embedded store: 14 days of steady traffic fire nothing; each planted
anomaly fires exactly its rule; a new project's first day is not an anomaly; the CLI's exit codes;
and the same findings when the spans (with past timestamps) go through a real gateway."""

from __future__ import annotations

import contextlib
import io
import json
from datetime import timedelta

import pytest
import traffic
from clickhouse_support import ChdbClickHouse, exporter_rows
from gateway_support import gateway_config, http_exporter, service

from genai_cost.cli import main
from genai_cost.gateway import Gateway
from genai_cost.pricing import PriceCatalog
from genai_cost.reports.anomalies import AnomalySettings, detect
from genai_cost.store import open_store
from genai_cost.store.clickhouse import ClickHouseStore
from genai_cost.store.rows import calls_from_otlp
from genai_cost.store.writer import StoreWriter
from genai_cost.testing.otlp_receiver import OtlpReceiver

DAY, NEXT = traffic.DAY, traffic.DAY + timedelta(days=1)
EXPECTED = {
    ("cost_per_request", (("project", "search"),)),
    ("cost_per_request", (("feature", "autocomplete"),)),
    ("call_outlier", (("feature", "autocomplete"), ("model", "gpt-4o-mini"))),
    ("call_outlier", (("feature", "chat"), ("model", "gpt-4o"))),
    ("expensive_call", (("feature", "chat"), ("model", "gpt-4o"), ("project", "support"))),
    ("spend_rate", ()),
    ("new_model", (("model", "gpt-4.1-mini"),)),
    ("unpriced_jump", ()),
}


def fired(findings) -> set:
    return {(f.rule, tuple(sorted(f.dimension.items()))) for f in findings}


@pytest.fixture(scope="module")
def catalog() -> PriceCatalog:
    return PriceCatalog()


@pytest.fixture(scope="module")
def steady_calls() -> list[traffic.Call]:
    return list(traffic.steady())


def planted(steady_calls: list[traffic.Call]) -> list[traffic.Call]:
    return traffic.spiked(steady_calls) + [call for calls in traffic.plants().values() for call in calls]


def store_of(tmp_path, name, calls, catalog):
    store = open_store(str(tmp_path / name))
    store.write(traffic.rows(calls, catalog))
    return store


def test_steady_traffic_with_a_weekly_rhythm_fires_nothing(tmp_path, steady_calls, catalog):
    store = store_of(tmp_path, "steady.duckdb", steady_calls, catalog)
    assert detect(store, DAY, NEXT) == []
    # Every day of the second week too (weekends after weekdays, Mondays after weekends).
    for offset in range(1, 7):
        day = DAY - timedelta(days=offset)
        assert detect(store, day, day + timedelta(days=1)) == [], day


def test_each_planted_anomaly_fires_exactly_its_rule(tmp_path, steady_calls, catalog):
    store = store_of(tmp_path, "planted.duckdb", planted(steady_calls), catalog)
    findings = detect(store, DAY, NEXT)
    assert fired(findings) == EXPECTED
    by_rule = {f.rule: f for f in findings}
    # Each finding names its figures and baseline.
    spike = next(f for f in findings if f.rule == "cost_per_request" and "project" in f.dimension)
    assert spike.value / spike.baseline > 2.5 and "cost per request" in spike.message
    assert spike.figures["calls"] == pytest.approx(spike.figures["baseline_calls"], rel=0.2)
    assert by_rule["expensive_call"].value == pytest.approx(1.25)
    assert by_rule["spend_rate"].window == "2026-11-18T03:00:00"
    assert by_rule["unpriced_jump"].value == 31 and by_rule["unpriced_jump"].baseline == pytest.approx(1.0)


def test_thresholds_come_from_settings(tmp_path, steady_calls, catalog):
    store = store_of(tmp_path, "planted.duckdb", planted(steady_calls), catalog)
    quiet = AnomalySettings(call_threshold=5.0, rules=("expensive_call", "spend_rate"), rate_factor=100.0)
    assert detect(store, DAY, NEXT, quiet) == []


def test_a_new_projects_first_day_is_not_an_anomaly(tmp_path, steady_calls, catalog):
    # Enough spend for the per-project rules to look at ($1.80 in the day), spread as real traffic is.
    newcomer = [
        traffic.Call(DAY.replace(hour=8 + i // 2, minute=17 * (i % 2)), "brand-new", "launch", "gpt-4o", 20_000, 4_000)
        for i in range(20)
    ]
    store = store_of(tmp_path, "new.duckdb", steady_calls + newcomer, catalog)
    assert detect(store, DAY, NEXT) == []


def test_a_store_with_no_history_does_not_page(tmp_path, catalog):
    calls = [traffic.Call(DAY.replace(hour=h), "search", "autocomplete", "gpt-4o-mini", 2000, 200) for h in range(24)]
    store = store_of(tmp_path, "fresh.duckdb", calls, catalog)
    assert detect(store, DAY, NEXT) == []


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def test_cli_exit_status_says_whether_something_fired(tmp_path, steady_calls, catalog):
    store_of(tmp_path, "steady.duckdb", steady_calls, catalog)
    store_of(tmp_path, "planted.duckdb", planted(steady_calls), catalog)
    period = ["--since", DAY.date().isoformat(), "--until", NEXT.date().isoformat()]
    code, out, _ = run_cli("anomalies", "--store", str(tmp_path / "steady.duckdb"), *period)
    assert code == 0 and out.startswith("no anomalies")
    code, out, _ = run_cli("anomalies", "--store", str(tmp_path / "planted.duckdb"), *period, "--format", "json")
    assert code == 1
    rows = json.loads(out)
    assert {(r["rule"], tuple(sorted(r["dimension"].items()))) for r in rows} == EXPECTED
    assert all(r["key"] and r["message"] for r in rows)
    code, _, err = run_cli("anomalies", "--store", str(tmp_path / "missing.duckdb"), *period)
    assert code == 2 and "missing.duckdb" in err
    code, _, err = run_cli("anomalies", "--store", str(tmp_path / "planted.duckdb"), "--since", "someday")
    assert code == 2 and "someday" in err


def test_config_file_thresholds_and_their_errors(tmp_path, steady_calls, catalog):
    store_of(tmp_path, "planted.duckdb", planted(steady_calls), catalog)
    config = tmp_path / "genai-cost.yaml"
    config.write_text("anomalies: {rules: [expensive_call], call_threshold: 0.5}\n")
    period = ["--since", DAY.date().isoformat(), "--until", NEXT.date().isoformat()]
    code, out, _ = run_cli("--config", str(config), "anomalies", "--store", str(tmp_path / "planted.duckdb"), *period)
    assert code == 1 and out.count("expensive_call") == 1
    config.write_text("anomalies: {rate_factr: 3}\n")
    code, _, err = run_cli("--config", str(config), "anomalies", "--store", str(tmp_path / "planted.duckdb"))
    assert code == 2 and str(config) in err and "anomalies.rate_factr" in err


def test_spans_with_past_timestamps_through_the_gateway_fire_the_same_findings(tmp_path, steady_calls, catalog):
    """The issue's done-when: a planted spike in 14 days of steady traffic, sent as OTLP spans
    through a real gateway with a store, fires exactly the expected findings; and so does the real
    ClickHouse engine (chdb) holding what the gateway forwarded, in the clickhouseexporter's table."""
    path = str(tmp_path / "gateway.duckdb")
    writer = StoreWriter(open_store(path), calls_from_otlp, interval=0.05)
    with OtlpReceiver() as receiver:
        gateway = Gateway(gateway_config(receiver.endpoint), store_writer=writer).start()
        try:
            provider = service("app", http_exporter(gateway), max_queue_size=50_000)
            tracer = provider.get_tracer("test")
            for call in planted(steady_calls):
                attributes = call.attributes(catalog)
                for priced in ("genai_cost.status", "genai_cost.amount", "genai_cost.currency"):
                    attributes.pop(priced, None)  # the gateway prices them
                start = int(call.when.timestamp() * 1e9)
                span = tracer.start_span(f"chat {call.model}", attributes=attributes, start_time=start)
                span.end(end_time=start + 800_000_000)
            provider.shutdown()
        finally:
            gateway.shutdown()
        forwarded = list(receiver.requests)
    writer.close()
    code, out, err = run_cli(
        "anomalies",
        "--store",
        path,
        "--since",
        DAY.date().isoformat(),
        "--until",
        NEXT.date().isoformat(),
        "--format",
        "json",
    )
    assert code == 1, err
    assert {(r["rule"], tuple(sorted(r["dimension"].items()))) for r in json.loads(out)} == EXPECTED
    clickhouse = ChdbClickHouse(str(tmp_path / "chdb"))
    try:
        clickhouse.insert(exporter_rows(forwarded))
        assert fired(detect(ClickHouseStore(clickhouse.run), DAY, NEXT)) == EXPECTED
    finally:
        clickhouse.close()
