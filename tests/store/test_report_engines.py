"""One set of report assertions over both engines, filled by the same gateway run.

Spans go through a real gateway; its store writer fills the embedded (DuckDB) store, and the
forwarded, priced OTLP lands in the real ClickHouse engine (chdb) in the clickhouseexporter's
``otel_traces`` table. Every report must give the same answer on both, and equal the priced spans.
"""

from __future__ import annotations

import math
import sys
from datetime import UTC, datetime, timedelta

import pytest
from clickhouse_support import ChdbClickHouse, exporter_rows
from gateway_support import (
    attribute_map,
    eventually,
    gateway_config,
    genai_attributes,
    http_exporter,
    service,
    spans_by_id,
)

from genai_cost import attributes as attr
from genai_cost.gateway import Gateway
from genai_cost.reports import query
from genai_cost.store import open_store
from genai_cost.store.clickhouse import ClickHouseStore
from genai_cost.store.rows import calls_from_otlp
from genai_cost.store.writer import StoreWriter
from genai_cost.testing.otlp_receiver import OtlpReceiver

DAY0 = datetime(2026, 11, 2, 12, tzinfo=UTC)  # a Monday
# (days after DAY0, team, feature, model, provider, input, output, cache read)
CALLS = [
    (0, "search", "ask", "gpt-4o", "openai", 1200, 300, 0),
    (0, "search", "ask", "gpt-4o-mini", "openai", 5000, 20, 4000),
    (1, "checkout", None, "claude-sonnet-4-20250514", "anthropic", 800, 450, 0),
    (1, "checkout", "cart", "gpt-4o", "openai", 10, 10, 0),
    (8, "checkout", "cart", "no-such-model-xyz", "openai", 100, 100, 0),
    (8, None, None, "gpt-4o", "openai", 40, 4, 0),
    (31, "search", "ask", "gpt-4o", "openai", 700, 70, 0),
]


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """(embedded store, clickhouse store, amounts of the priced spans as forwarded)."""
    tmp = tmp_path_factory.mktemp("engines")
    path = str(tmp / "spend.duckdb")
    writer = StoreWriter(open_store(path), calls_from_otlp, interval=0.05)
    with OtlpReceiver() as receiver:
        gateway = Gateway(gateway_config(receiver.endpoint), store_writer=writer).start()
        try:
            provider = service("app", http_exporter(gateway))
            tracer = provider.get_tracer("test")
            for days, team, feature, model, prov, inp, out, cached in CALLS:
                start = int((DAY0 + timedelta(days=days)).timestamp() * 1e9)
                extra = {attr.USAGE_CACHE_READ_TOKENS: cached} if cached else {}
                if team:
                    extra[attr.TEAM] = team
                if feature:
                    extra[attr.FEATURE] = feature
                if team == "search":  # a custom dimension (cost_context(prompt_version=...) in an app)
                    extra["genai_cost.dim.prompt_version"] = f"v{days % 2 + 1}"
                span = tracer.start_span(
                    f"chat {model}", attributes=genai_attributes(model, prov, inp, out, **extra), start_time=start
                )
                span.end(end_time=start + 1_500_000_000)
            # Another instrumentation's view of a call already priced: stored nowhere.
            dup = tracer.start_span(
                "chat gpt-4o", attributes={**genai_attributes("gpt-4o", "openai", 1, 1), attr.COST_STATUS: "duplicate"}
            )
            dup.end()
            provider.shutdown()
            assert eventually(lambda: len(spans_by_id(receiver.requests)) == len(CALLS) + 1)
        finally:
            gateway.shutdown()
        requests = list(receiver.requests)
    clickhouse = ChdbClickHouse(str(tmp / "chdb"))
    clickhouse.insert(exporter_rows(requests))
    forwarded = [attribute_map(span) for _, _, span in spans_by_id(requests).values()]
    amounts = [a[attr.COST_AMOUNT] for a in forwarded if attr.COST_AMOUNT in a]
    yield open_store(path), ClickHouseStore(clickhouse.run), amounts
    clickhouse.close()


@pytest.fixture(params=["embedded", "clickhouse"])
def store(request, filled):
    return filled[0] if request.param == "embedded" else filled[1]


def _rows(report):
    return sorted(
        (tuple(v or "" for v in g.keys.values()), g.calls, g.priced_calls, g.amount, g.input_tokens, g.output_tokens)
        for g in report.groups
    )


def test_total_equals_the_priced_spans(store, filled):
    amounts = filled[2]
    assert len(amounts) == 6
    report = query.spend(store, ["team"], compare=False)
    assert abs(sum(g.amount or 0 for g in report.groups) - sum(amounts)) <= 1e-9
    assert abs(report.total.amount - sum(amounts)) <= 1e-9
    assert report.total.calls == 7 and report.total.unpriced_calls == 1


def test_both_engines_agree_on_every_grouping(filled):
    embedded, clickhouse, _ = filled
    for by in (["team"], ["model"], ["team", "feature"], ["provider", "day"], ["week"], ["month", "team"], ["status"]):
        left, right = query.spend(embedded, by, compare=False), query.spend(clickhouse, by, compare=False)
        for a, b in zip(_rows(left), _rows(right), strict=True):
            assert a[:3] == b[:3] and a[4:] == b[4:], by
            assert (a[3] is None and b[3] is None) or math.isclose(a[3], b[3], rel_tol=0, abs_tol=1e-12), by


def test_unpriced_calls_are_counted_never_as_zero(store):
    unknown = [g for g in query.totals(store, ["model"]) if g.keys["model"] == "no-such-model-xyz"]
    assert len(unknown) == 1
    assert unknown[0].calls == 1 and unknown[0].priced_calls == 0 and unknown[0].amount is None


def test_period_and_filters(store):
    since, until = DAY0 - timedelta(hours=12), DAY0 + timedelta(days=2)
    groups = query.totals(store, ["team"], since, until)
    assert {g.keys["team"]: g.calls for g in groups} == {"search": 2, "checkout": 2}
    only = query.totals(store, ["feature"], where={"team": "checkout"})
    assert {g.keys["feature"]: g.calls for g in only} == {"cart": 2, None: 1}


def test_week_over_week_and_previous_period(store):
    report = query.spend(store, ["week"], DAY0 + timedelta(days=7), DAY0 + timedelta(days=14))
    assert [g.keys["week"] for g in report.groups] == ["2026-11-09"]
    week = report.groups[0]
    first_week = query.totals(store, [], DAY0 - timedelta(days=1), DAY0 + timedelta(days=6))[0]
    assert math.isclose(week.previous_amount, first_week.amount, abs_tol=1e-12)
    # Day 1 against day 0: search spent only on day 0, checkout only on day 1.
    plain = query.spend(
        store, ["team"], DAY0 + timedelta(days=1) - timedelta(hours=12), DAY0 + timedelta(days=1, hours=12)
    )
    day0 = query.totals(store, [], DAY0 - timedelta(hours=12), DAY0 + timedelta(hours=12))[0]
    assert math.isclose(plain.total.previous_amount, day0.amount, abs_tol=1e-12)
    assert [(g.keys["team"], g.previous_amount) for g in plain.groups] == [("checkout", None)]


def test_per_call_rows(store, filled):
    rows = query.calls(store)
    assert len(rows) == 7
    assert rows[0]["time"] <= rows[-1]["time"]
    assert {r["response_model"] or r["request_model"] for r in rows} >= {"gpt-4o", "no-such-model-xyz"}
    assert all(len(r["trace_id"]) == 32 and len(r["span_id"]) == 16 for r in rows)
    assert abs(sum(r["amount"] or 0 for r in rows) - sum(filled[2])) <= 1e-9


def test_top_keeps_the_costliest(store):
    report = query.spend(store, ["model"], top=1, compare=False)
    assert len(report.groups) == 1 and report.omitted_groups == 3
    everything = query.totals(store, ["model"])
    assert report.groups[0].amount == max(g.amount for g in everything if g.amount is not None)


def test_clickhouse_store_is_read_only(filled):
    from genai_cost.store import StoreError

    with pytest.raises(StoreError, match="clickhouseexporter"):
        filled[1].write([])


# --- FinOps FOCUS export -----------------------------------------------------------------
NOT_NULL = {
    "BilledCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
}  # FOCUS 1.2: "Allows nulls: False"


def test_focus_csv_has_every_mandatory_column_typed_and_sums_to_the_store(store, filled, tmp_path):
    import csv
    from decimal import Decimal

    from genai_cost.reports.focus import MANDATORY_COLUMNS, export_focus

    output = tmp_path / "focus.csv"
    count, unpriced = export_focus(store, str(output))
    assert unpriced == 1
    with output.open(newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == count > 0
    assert set(MANDATORY_COLUMNS) <= set(rows[0])
    for row in rows:
        for name, kind in MANDATORY_COLUMNS.items():
            value = row[name]
            if name in NOT_NULL:
                assert value != "", name
            if value == "":
                continue
            if kind == "Decimal":
                Decimal(value)
            elif kind == "DateTime":
                assert datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        assert row["ServiceCategory"] == "AI and Machine Learning"
        assert row["ChargeCategory"] == "Usage"
        assert row["BillingPeriodStart"] <= row["ChargePeriodStart"] < row["ChargePeriodEnd"] <= row["BillingPeriodEnd"]
        assert (row["PricingQuantity"] == "") == (row["PricingUnit"] == "")
    assert abs(float(sum(Decimal(r["BilledCost"]) for r in rows)) - sum(filled[2])) <= 1e-9
    skus: dict[str, set] = {}
    for row in rows:
        skus.setdefault(row["SkuId"], set()).add((row["x_Model"], row["x_TokenType"]))
    assert all(len(v) == 1 for v in skus.values())  # one SKU per model and token type
    assert {r["x_TokenType"] for r in rows} >= {"input", "output", "cached-input"}
    assert {r["x_Team"] for r in rows} == {"search", "checkout", ""}
    # The custom dimension is a column on both engines (otel_traces is asked which keys occur).
    assert {(r["x_Team"], r["x_dim_prompt_version"]) for r in rows} == {
        ("search", "v1"),
        ("search", "v2"),
        ("checkout", ""),
        ("", ""),
    }
    assert sum(int(r["x_Calls"]) for r in rows) == 6
    tokens = sum(
        Decimal(r["PricingQuantity"]) for r in rows if r["x_TokenType"] in ("input", "cached-input", "cache-write")
    )
    priced_input = sum(c[5] for c in CALLS if c[3] != "no-such-model-xyz")
    assert tokens == priced_input


def test_focus_parquet_types(store, filled, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from genai_cost.reports.focus import MANDATORY_COLUMNS, export_focus

    output = tmp_path / "focus.parquet"
    export_focus(store, str(output))
    table = pq.read_table(output)
    for name, kind in MANDATORY_COLUMNS.items():
        field = table.schema.field(name)
        if kind == "Decimal":
            assert pa.types.is_decimal(field.type), name
        elif kind == "DateTime":
            assert pa.types.is_timestamp(field.type) and field.type.tz == "UTC", name
        else:
            assert pa.types.is_string(field.type), name
        if name in NOT_NULL:
            assert table.column(name).null_count == 0, name
    assert abs(float(sum(table.column("BilledCost").to_pylist())) - sum(filled[2])) <= 1e-9


def test_focus_export_errors_are_clear(filled, tmp_path):
    from genai_cost.reports.focus import FocusExportError, export_focus

    with pytest.raises(FocusExportError, match=r"\.csv or \.parquet"):
        export_focus(filled[0], str(tmp_path / "f.xlsx"))
    with pytest.raises(FocusExportError, match=r"f\.csv"):
        export_focus(filled[0], str(tmp_path / "missing-dir" / "f.csv"))


def test_parquet_without_pyarrow_says_how_to_get_it(filled, tmp_path, monkeypatch):
    from genai_cost.reports.focus import FocusExportError, export_focus

    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if the extra were not installed
    with pytest.raises(FocusExportError, match="parquet extra: pip install pyarrow"):
        export_focus(filled[0], str(tmp_path / "f.parquet"))


def test_export_focus_command(filled, tmp_path, capsys):
    from genai_cost.cli import main

    path = filled[0].url
    assert main(["export", "focus", "--store", path, "--output", str(tmp_path / "f.csv")]) == 0
    out = capsys.readouterr().out
    assert "FOCUS row(s) written" in out and "1 unpriced call(s) left out" in out
