"""The gateway accounts spend in the budget ledger: real OTLP exporters -> gateway (the real
``genai-cost gateway`` process, or a ``Gateway`` in the test) with a SQLite file or a real
redis-server as ledger -> a real OTLP receiver, and webhooks delivered to a real HTTP server.

The oracle for every amount is genai-prices' calc_price; the ledger must hold the sum of the
amounts on the forwarded spans to the micro-unit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_support import free_port, gateway_config, genai_attributes, http_exporter, oracle, service
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from genai_cost import attributes as attr
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import open_ledger, to_micros
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.gateway import Gateway
from genai_cost.testing.otlp_receiver import OtlpReceiver, ReceivedSpan

# The budget tests' real redis-server and webhook receiver (their folder is not on the path when
# only this folder's tests run).
sys.path.insert(0, str(Path(__file__).parents[1] / "budget"))
from budget_support import RedisServer, ledger_url_for, redis_server
from test_alerts import Receiver, running_receiver

__all__ = ["redis_server"]

# (model, provider, input, output, team): ten calls, two teams.
CALLS = [
    ("gpt-4o", "openai", 1200, 300, "search"),
    ("gpt-4o-mini", "openai", 5000, 20, "search"),
    ("claude-sonnet-4-20250514", "anthropic", 800, 450, "ads"),
    ("gpt-4o", "openai", 40, 900, "ads"),
    ("gemini-2.5-flash", "google", 3000, 40, "search"),
    ("gpt-4o-mini", "openai", 123, 4567, "ads"),
    ("gpt-4o", "openai", 777, 77, "search"),
    ("claude-sonnet-4-20250514", "anthropic", 60, 6, "ads"),
    ("gemini-2.5-flash", "google", 10, 1000, "search"),
    ("gpt-4o", "openai", 2000, 200, "ads"),
]
AMOUNTS = [oracle(m, p, input_tokens=i, output_tokens=o) for m, p, i, o, _ in CALLS]
TOTAL = sum(AMOUNTS)
# The company budget ends 90% spent: its 50% and 80% thresholds are crossed, 95% is not.
COMPANY_LIMIT = round(TOTAL / 0.9, 6)
SEARCH_LIMIT = 0.004  # per-team budget that the search team goes over: later calls are "warn"


@pytest.fixture(params=["sqlite", "redis"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return ledger_url_for(request.param, request, tmp_path)


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


def write_config(tmp_path: Path, ledger: str, webhook_url: str) -> Path:
    config = {
        "budgets": {
            "ledger": ledger,
            "policies": [
                {"name": "company", "limit": COMPANY_LIMIT, "window": "month", "thresholds": [50, 80, 95]},
                {"name": "teams", "per": "team", "limit": SEARCH_LIMIT, "window": "month", "thresholds": [100]},
            ],
        },
        "alerts": {"webhooks": [{"url": f"{webhook_url}/hook", "format": "json"}]},
    }
    path = tmp_path / "genai-cost.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
    return path


def send_calls(exporter: OTLPSpanExporter, *, prepriced: bool = False) -> None:
    """One service's trace: the ten calls, a pre-priced span, and a duplicate of the first call."""
    provider = service("budgeted", exporter)
    tracer = provider.get_tracer("some.genai.instrumentation")
    with tracer.start_as_current_span("POST /ask"):
        for n, (model, provider_name, i, o, team) in enumerate(CALLS):
            extra = {attr.TEAM: team, attr.RESPONSE_ID: f"resp-{n}"}
            with tracer.start_as_current_span(
                f"chat {model}", attributes=genai_attributes(model, provider_name, i, o, **extra)
            ):
                pass
        # The same first call, seen by a second instrumentation: a duplicate, not spend.
        model, provider_name, i, o, team = CALLS[0]
        other = provider.get_tracer("another.genai.instrumentation")
        dup = genai_attributes(model, provider_name, i, o, **{attr.TEAM: team, attr.RESPONSE_ID: "resp-0"})
        with other.start_as_current_span("duplicate", attributes=dup):
            pass
        # Priced by an SDK with genai-cost: its own ledger's business, unless account_prepriced.
        already = genai_attributes("gpt-4o", "openai", 1, 1, **{attr.COST_STATUS: "priced", attr.COST_AMOUNT: 0.5})
        with tracer.start_as_current_span("prepriced", attributes=already):
            pass
    provider.shutdown()


def ledger_spent(ledger: str) -> dict[str, int]:
    guard = BudgetGuard(
        [
            BudgetPolicy("company", limit=COMPANY_LIMIT, window="month"),
            BudgetPolicy("teams", limit=SEARCH_LIMIT, window="month", per="team"),
        ],
        open_ledger(ledger, timeout=5.0),
    )
    try:
        return {f"{row.name}/{row.scope}": to_micros(row.spent) for row in guard.status()}
    finally:
        guard.close()


def assert_accounted(spans: list[ReceivedSpan], ledger: str) -> None:
    priced = [s for s in spans if s.name.startswith("chat ")]
    assert len(priced) == len(CALLS)
    for span, want in zip(priced, AMOUNTS, strict=True):
        assert span.attributes[attr.COST_AMOUNT] == pytest.approx(want, abs=1e-9)
    micros = [to_micros(s.attributes[attr.COST_AMOUNT]) for s in priced]
    by_team = {team: sum(m for m, c in zip(micros, CALLS, strict=True) if c[4] == team) for team in ("search", "ads")}
    assert ledger_spent(ledger) == {
        "company/": sum(micros),
        "teams/ads": by_team["ads"],
        "teams/search": by_team["search"],
    }
    # Each span shows its decision and the deciding budget as the call left it.
    for span in priced:
        values = span.attributes
        assert values[attr.BUDGET_DECISION] in ("allow", "warn")
        assert values[attr.BUDGET_REMAINING] == pytest.approx(
            max(0.0, values[attr.BUDGET_LIMIT] - values[attr.BUDGET_SPENT]), abs=1e-9
        )
    search = [s.attributes for s in priced if s.attributes[attr.TEAM] == "search"]
    over = [a for a in search if a[attr.BUDGET_DECISION] == "warn"]
    assert over and all(a[attr.BUDGET_NAME] == "teams" and a[attr.BUDGET_SCOPE] == "search" for a in over)
    # One span carries each crossing, as an event; duplicates and pre-priced spans have no budget.
    events = [e for s in priced for e in s.events]
    assert events.count(attr.BUDGET_THRESHOLD_EVENT) == 2 + 2  # company 50, 80; teams 100 for each team
    others = sorted((s for s in spans if s.name in ("duplicate", "prepriced")), key=lambda s: s.name)
    assert [s.attributes[attr.COST_STATUS] for s in others] == ["duplicate", "priced"]
    assert all(attr.BUDGET_DECISION not in s.attributes for s in others)


def threshold_alerts(webhook: Receiver) -> list[tuple[str, str, float]]:
    return sorted(
        (r.body["budget"], r.body["scope"], r.body["threshold"])
        for r in webhook.requests
        if r.body["kind"] == "threshold"
    )


def test_the_gateway_command_accounts_spend_alerts_and_budget_status_shows_it(
    tmp_path: Path, ledger_url: str, webhook: Receiver
) -> None:
    config = write_config(tmp_path, ledger_url, webhook.url)
    port = free_port()
    env = {**os.environ, "GENAI_COST_LEDGER": ""}
    with OtlpReceiver() as downstream:
        command = [sys.executable, "-m", "genai_cost.cli", "--config", str(config), "gateway"]
        process = subprocess.Popen(
            [*command, "--downstream", downstream.endpoint, "--http-port", str(port), "--grpc-port", "off"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert f"OTLP/HTTP 127.0.0.1:{port}" in process.stdout.readline()
            assert "2 budget(s), ledger " in process.stdout.readline()
            send_calls(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces"))
            spans = downstream.wait_for_spans(lambda s: len(s) >= len(CALLS) + 3)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
                metrics = response.read().decode()
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0, process.stderr.read()
        finally:
            if process.poll() is None:
                process.kill()
    assert_accounted(spans, ledger_url)
    assert f"genai_cost_gateway_spans_budget_recorded_total {len(CALLS)}" in metrics
    spent = sum(to_micros(s.attributes[attr.COST_AMOUNT]) for s in spans if s.name.startswith("chat "))
    company_left = COMPANY_LIMIT - spent / 1e6
    company_series = 'genai_cost_budget_remaining_USD{genai_cost_budget_name="company"'
    [line] = [m for m in metrics.splitlines() if m.startswith(company_series)]
    assert float(line.rsplit(" ", 1)[1]) == pytest.approx(company_left, abs=1e-9)
    # Alerts: each threshold once (the webhook receiver saw them before the gateway exited).
    assert threshold_alerts(webhook) == [
        ("company", "", 50.0),
        ("company", "", 80.0),
        ("teams", "ads", 100.0),
        ("teams", "search", 100.0),
    ]
    status = subprocess.run(
        [sys.executable, "-m", "genai_cost.cli", "--config", str(config), "budget", "status", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert status.returncode == 0, status.stderr
    rows = {(row["name"], row["scope"]): row for row in json.loads(status.stdout)}
    assert to_micros(rows["company", ""]["spent"]) == spent
    assert rows["company", ""]["remaining"] == pytest.approx(company_left, abs=1e-9)


def _guard(ledger: str) -> BudgetGuard:
    return BudgetGuard([BudgetPolicy("company", limit=COMPANY_LIMIT, window="month")], open_ledger(ledger, timeout=0.2))


def _send_one(gateway: Gateway, **attributes: Any) -> None:
    provider = service("one", http_exporter(gateway))
    with provider.get_tracer("t").start_as_current_span(
        "chat gpt-4o", attributes=genai_attributes("gpt-4o", "openai", 1000, 100, **attributes)
    ):
        pass
    provider.shutdown()


@pytest.mark.parametrize("account_prepriced", [False, True])
def test_prepriced_spans_count_only_when_asked_and_never_twice(tmp_path: Path, account_prepriced: bool) -> None:
    ledger = f"sqlite://{tmp_path / 'ledger.db'}"
    guard = _guard(ledger)
    with OtlpReceiver() as downstream:
        config = gateway_config(downstream.endpoint, grpc_port=None, account_prepriced=account_prepriced)
        gateway = Gateway(config, budget_guard=guard).start()
        try:
            _send_one(gateway, **{attr.COST_STATUS: "priced", attr.COST_AMOUNT: 0.25})
            # An SDK with its own budgets already settled this one: never again here.
            _send_one(gateway, **{attr.COST_STATUS: "priced", attr.COST_AMOUNT: 0.5, attr.BUDGET_DECISION: "allow"})
            spans = downstream.wait_for_spans(lambda s: len(s) >= 2)
        finally:
            gateway.shutdown()
    assert ledger_spent(ledger)["company/"] == (250_000 if account_prepriced else 0)
    first, second = (s.attributes for s in spans)
    assert (attr.BUDGET_DECISION in first) is account_prepriced
    assert second[attr.BUDGET_DECISION] == "allow" and attr.BUDGET_SPENT not in second  # as the SDK sent it
    guard.close()


def test_an_unreachable_ledger_loses_the_accounting_not_the_spans(tmp_path: Path, redis_server: RedisServer) -> None:
    redis_server.flush()
    guard = _guard(redis_server.url)
    with OtlpReceiver() as downstream:
        gateway = Gateway(gateway_config(downstream.endpoint, grpc_port=None), budget_guard=guard).start()
        try:
            redis_server.stop()
            _send_one(gateway)
            [span] = downstream.wait_for_spans(lambda s: len(s) >= 1)
        finally:
            gateway.shutdown()
            redis_server.start()
    assert span.attributes[attr.COST_STATUS] == "priced"
    assert span.attributes[attr.BUDGET_DECISION] == "allow"
    assert span.attributes[attr.BUDGET_STATUS].startswith("not recorded: ledger unavailable")
    assert attr.BUDGET_SPENT not in span.attributes  # unknown, not 0
    assert gateway.stats.get("spans_budget_unrecorded") == 1 and gateway.stats.get("spans_budget_recorded") == 0
    guard.close()
