"""Per-user budgets do not grow memory, metrics or scrape cost without bound (issue 11, finding 7).

* The gateway's /metrics over a real redis-server holding 20,000 users' spend: the budget gauge
  has the top scopes by spend plus one ``(other)`` series (whose remaining is the rest's sum), and
  scrapes in a row do not SCAN Redis again (Redis' own ``INFO commandstats`` counts the SCANs).
* The SDK's remaining-budget gauge: the same bound.
* The memory ledger, fed by ``record`` only (the gateway's path) with 100,000 tenants over ten
  hourly windows, forgets the windows that are over: it holds about the live windows' tenants.
"""

from __future__ import annotations

import sys
import tracemalloc
import urllib.request
from pathlib import Path

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

sys.path.insert(0, str(Path(__file__).parents[1] / "budget"))
sys.path.insert(0, str(Path(__file__).parents[1] / "gateway"))
from budget_support import RedisServer, redis_server
from gateway_support import gateway_config

from conftest import metric_points
from genai_cost import attributes as attr
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import lease_at, open_ledger
from genai_cost.budget.ledger.memory import MemoryLedger
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.budget.status import register_remaining_gauge
from genai_cost.gateway import Gateway
from genai_cost.testing.otlp_receiver import OtlpReceiver

__all__ = ["redis_server"]

USERS = 20_000
METRIC = "genai_cost_budget_remaining_USD{"


def spend_per_user(guard: BudgetGuard, users: int) -> None:
    """User ``u<n>`` spends (n % 1000 + 1) / 1000: u999, u1999 ... spend most."""
    calls = [({attr.USER_ID: f"u{n}", attr.REQUEST_MODEL: "gpt-4o"}, (n % 1000 + 1) / 1000, None) for n in range(users)]
    for start in range(0, users, 2000):
        assert all(d is not None and d.status is None for d in guard.record_many(calls[start : start + 2000]))


def scans(server: RedisServer) -> int:
    import redis

    client = redis.Redis.from_url(server.url)
    try:
        return int(client.info("commandstats").get("cmdstat_scan", {}).get("calls", 0))
    finally:
        client.close()


def test_gateway_metrics_are_bounded_and_do_not_scan_per_scrape(redis_server: RedisServer) -> None:
    redis_server.flush()
    policies = [BudgetPolicy("company", limit=1e6), BudgetPolicy("per-user", limit=5.0, per="user")]
    guard = BudgetGuard(policies, open_ledger(redis_server.url, timeout=5.0))
    spend_per_user(guard, USERS)
    with OtlpReceiver() as downstream:
        gateway = Gateway(gateway_config(downstream.endpoint, grpc_port=None), budget_guard=guard).start()
        try:
            texts = []
            for n in range(3):
                with urllib.request.urlopen(f"{gateway.http_endpoint}/metrics", timeout=30) as response:
                    texts.append(response.read().decode())
                if n == 0:
                    after_first = scans(redis_server)
            after = scans(redis_server)
        finally:
            gateway.shutdown()
            guard.close()
    lines = [line for line in texts[0].splitlines() if line.startswith(METRIC)]
    per_user = [line for line in lines if 'genai_cost_budget_name="per-user"' in line]
    assert len(per_user) == 101, len(per_user)  # the top 100 and "(other)"
    assert len(texts[0]) < 50_000
    other = next(line for line in per_user if 'genai_cost_budget_scope="(other)"' in line)
    # The 19,900 users below the top 100 by spend, 5.0 each minus what they spent.
    spends = sorted(((n % 1000 + 1) / 1000 for n in range(USERS)), reverse=True)
    assert float(other.rsplit(" ", 1)[1]) == pytest.approx(sum(5.0 - s for s in spends[100:]), rel=1e-9)
    assert 'genai_cost_budget_scope="u999"' in texts[0]  # a top spender has its own series
    assert after_first > 0 and after == after_first  # the scrapes after the first read no keys


def test_sdk_gauge_is_bounded() -> None:
    guard = BudgetGuard([BudgetPolicy("per-user", limit=5.0, per="user")], MemoryLedger())
    spend_per_user(guard, 3_000)
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    register_remaining_gauge(lambda: guard, provider)
    points = metric_points(reader, attr.METRIC_BUDGET_REMAINING)
    provider.shutdown()
    assert len(points) == 101
    assert any(p.attributes.get(attr.BUDGET_SCOPE) == "(other)" for p in points)


def test_memory_ledger_forgets_windows_that_are_over_on_the_record_path() -> None:
    now = [1_796_000_000.0]  # 2026-11-30: the clock the guard (and so the ledger) goes by
    ledger = MemoryLedger()
    guard = BudgetGuard(
        [BudgetPolicy("per-tenant", limit=5.0, window="hour", per="tenant")], ledger, clock=lambda: now[0]
    )
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        for hour in range(10):
            calls = [({attr.TENANT: f"t{hour}-{n}"}, 0.001, None) for n in range(10_000)]
            for start in range(0, len(calls), 1000):
                guard.record_many(calls[start : start + 1000])
            now[0] += 3600
        held = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        tracemalloc.stop()
    live = ledger.balances("", lease_at(now[0]))
    # The window that just ended is kept for its grace hour, the one before may not be swept
    # yet; the seven older ones are gone.
    assert len(live) <= 30_000, len(live)
    assert held < 20_000_000, held  # 100,000 tenants would hold well over twice that
