"""Gateway + Prometheus alone fill collector/'s dashboard and rules; the SDK's own /metrics endpoint
serves the same spend. A real Prometheus (Debian package) scrapes a real gateway and the app's
in-process endpoint every second, loads collector/'s rules, and answers every dashboard query and
rule expression through its HTTP API; the money is compared with what the app sent.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from backends_support import ROOT, AppRun, Prometheus, free_port, wait_until

from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import open_ledger
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.gateway import Gateway, GatewayConfig
from genai_cost.testing.otlp_receiver import OtlpReceiver

DASHBOARD = ROOT / "collector" / "grafana" / "dashboards" / "genai-cost.json"
RULES = ROOT / "collector" / "prometheus" / "genai-cost.rules.yml"
# Grafana's variables, as Grafana would fill them for "last 5 minutes, all projects".
VARIABLES = {"$project": ".*", "$__range": "5m", "$__rate_interval": "1m"}
# Queries that compare with 30 days ago: no Prometheus has data there minutes after its start.
NEEDS_HISTORY = ("offset 30d",)
# Alerts this run must fire, and those it must not (what the run does not do).
FIRING = {"GenAIBudgetExhausted", "GenAIBudgetRunningOut", "GenAIUnpricedCalls", "GenAIUnpricedCallsInProcess"}
SILENT = {
    "GenAISpendAnomaly": "the run spends far under 1 USD/h",
    "GenAICostGatewayDroppingSpans": "the downstream takes every span",
    "GenAICostGatewaySpooling": "no spool configured, nothing refused",
}


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, expression) for every target and template variable, variables filled in."""
    board = json.loads(DASHBOARD.read_text())
    queries = [(panel["title"], target["expr"]) for panel in board["panels"] for target in panel.get("targets", [])]
    for variable in board.get("templating", {}).get("list", []):
        definition = variable.get("definition", "")
        found = re.fullmatch(r"label_values\((.+), *(\w+)\)", definition)
        if found:  # Grafana's label_values(metric, label): the series that give the label its values
            queries.append((f"${variable['name']}", f"count by ({found.group(2)}) ({found.group(1)})"))
    filled = []
    for title, expr in queries:
        for name, value in VARIABLES.items():
            expr = expr.replace(name, value)
        filled.append((title, expr))
    return filled


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Prometheus, Gateway, AppRun]]:
    workdir = tmp_path_factory.mktemp("prometheus")
    # The recording rules as shipped, evaluated every second instead of every minute.
    rules_copy = workdir / "genai-cost.rules.yml"
    rules_copy.write_text(RULES.read_text().replace("interval: 1m", "interval: 1s"))
    guard = BudgetGuard(
        [
            BudgetPolicy("company", limit=0.05, window="month"),  # 2% spent: running out at this pace
            BudgetPolicy("tiny", limit=0.0001, window="month"),  # spent by the first Claude call
        ],
        open_ledger("memory"),
    )
    # The gateway reads the ledger for /metrics at most every 15 s by default; this run looks sooner.
    mp = pytest.MonkeyPatch()
    mp.setenv("GENAI_COST_BUDGET_STATUS_MAX_AGE", "0.5")
    with OtlpReceiver() as downstream:
        config = GatewayConfig(http_port=0, grpc_port=None, downstream=downstream.endpoint, account_prepriced=True)
        gateway = Gateway(config, budget_guard=guard).start()
        run = AppRun(
            APP_OTLP_ENDPOINT=f"{gateway.http_endpoint}/v1/traces", GENAI_COST_PROMETHEUS_PORT=str(free_port())
        )
        prometheus = None
        try:
            prometheus = Prometheus(
                workdir,
                {"genai-cost-gateway": f"127.0.0.1:{gateway.http_port}", "app": f"127.0.0.1:{run.prometheus_port}"},
                [rules_copy],
            )
            wait_until(prometheus.targets_up, 30, "both targets scraped")
            wait_until(lambda: prometheus.query("genai_cost_budget_remaining_USD"), 30, "the budget gauges")
            run.go()
            wait_until(
                lambda: math.isclose(prometheus.value("sum(genai_cost_spend_USD_total)") or 0, run.total, rel_tol=1e-9),
                30,
                "the gateway's spend to reach Prometheus",
            )
            # A few more samples: increase() and predict_linear() need two or more in their window.
            wait_until(lambda: prometheus.query("genai_cost:spend_usd:increase1h"), 30, "the recording rules")
            wait_until(
                lambda: prometheus.value("count_over_time(sum(genai_cost_spend_USD_total)[1m:1s])") or 0 >= 4,
                30,
                "more samples",
            )
            yield prometheus, gateway, run
        finally:
            run.close()
            if prometheus is not None:
                prometheus.stop()
            gateway.shutdown()
            guard.close()
            mp.undo()


def test_the_gateway_series_total_equals_what_the_app_sent(stack: tuple[Prometheus, Gateway, AppRun]) -> None:
    prometheus, _, run = stack
    assert run.total > 0
    spend = prometheus.value('sum(genai_cost_spend_USD_total{job="genai-cost-gateway"})')
    assert spend == pytest.approx(run.total, rel=1e-9)
    # One call counted per provider call: the Anthropic SDK's duplicate span is not a call.
    calls = prometheus.value('sum(genai_cost_spans_calls_total{job="genai-cost-gateway"})')
    assert calls == len(run.billed_calls()) == 6
    unknown = prometheus.query('genai_cost_spans_calls_total{genai_cost_status="unknown_model"}')
    assert [(row["metric"]["gen_ai_request_model"], row["value"][1]) for row in unknown] == [
        ("acme-house-model-7", "1")
    ]
    # Spend by model adds up to the amounts the app saw per model (the discount included).
    by_model = {
        row["metric"]["gen_ai_request_model"]: float(row["value"][1])
        for row in prometheus.query("sum by (gen_ai_request_model) (genai_cost_spend_USD_total)")
    }
    sent: dict[str, float] = {}
    for span in run.priced():
        model = span["attributes"]["gen_ai.request.model"]
        sent[model] = sent.get(model, 0.0) + span["attributes"]["genai_cost.amount"]
    assert by_model == pytest.approx(sent, rel=1e-9)


def test_the_sdk_endpoint_serves_the_same_spend(stack: tuple[Prometheus, Gateway, AppRun]) -> None:
    prometheus, _, run = stack
    spend = prometheus.value('sum(gen_ai_client_operation_cost_USD_sum{job="app"})')
    assert spend == pytest.approx(run.total, rel=1e-9)
    assert prometheus.value('sum(gen_ai_client_operation_cost_USD_count{job="app"})') == len(run.priced())
    # No budget decision label multiplying the cost series.
    assert not [
        row
        for row in prometheus.query("gen_ai_client_operation_cost_USD_count")
        if any("budget" in label for label in row["metric"])
    ]
    assert prometheus.value('sum(genai_cost_unpriced_calls_total{job="app"})') == 1


@pytest.mark.parametrize(("title", "expr"), dashboard_queries(), ids=lambda value: str(value)[:60])
def test_every_dashboard_query_returns_data_from_the_gateway_alone(
    stack: tuple[Prometheus, Gateway, AppRun], title: str, expr: str
) -> None:
    prometheus, _, _ = stack
    result = prometheus.query(expr)  # a query Prometheus refuses fails here with its message
    if any(marker in expr for marker in NEEDS_HISTORY):
        return  # evaluated (so it parses and runs), but there is no month before this test
    assert result, f"panel {title!r}: no data for {expr}"


def test_unpriced_calls_panel_counts_them_instead_of_zero(stack: tuple[Prometheus, Gateway, AppRun]) -> None:
    prometheus, _, _ = stack
    (expr,) = [e for title, e in dashboard_queries() if title == "Unpriced calls in range"]
    assert "vector(0)" not in expr
    # One unpriced call; increase() extrapolates to the window's edges, more when scrapes lag.
    assert 1 <= (prometheus.value(expr) or 0) < 2


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule.get("record") or rule.get("alert"))
def test_every_rule_evaluates_and_fires_where_this_run_says(
    stack: tuple[Prometheus, Gateway, AppRun], rule: dict[str, Any]
) -> None:
    prometheus, _, _ = stack
    result = prometheus.query(rule["expr"])
    name = rule.get("record") or rule["alert"]
    if "record" in rule or name in FIRING:
        assert result, f"{name}: no data for {rule['expr']}"
    else:
        assert name in SILENT, f"{name}: say whether this run should fire it"
        assert not result, f"{name} fires although {SILENT[name]}: {result}"


def test_prometheus_loaded_every_rule_healthy(stack: tuple[Prometheus, Gateway, AppRun]) -> None:
    import urllib.request

    prometheus, _, _ = stack
    with urllib.request.urlopen(f"http://127.0.0.1:{prometheus.port}/api/v1/rules", timeout=10) as response:
        groups = json.load(response)["data"]["groups"]
    loaded = {rule["name"]: rule["health"] for group in groups for rule in group["rules"]}
    assert set(loaded) == {rule.get("record") or rule["alert"] for rule in rules()}
    assert set(loaded.values()) == {"ok"}, loaded
