"""Two gateways behind trace-id routing share one Redis budget (issue 11, scale-out).

Two real ``genai-cost gateway`` processes, both with the same budgets on one real redis-server,
both forwarding to one real OTLP receiver. The application side routes each span by its trace id
to one of the two, as the Collector's ``loadbalancing`` exporter with ``routing_key: traceID``
does (collector/otelcol-gateway-scaleout.yaml), over real OTLP/HTTP from batching exporters.

Whole: each trace's root carries the total of that trace's calls (the gateway that priced them
also saw the root). Exact: the shared ledger holds the sum of every forwarded amount, to the
micro-unit, per team and for the company, although two processes wrote it concurrently.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

sys.path.insert(0, str(Path(__file__).parents[1] / "budget"))
sys.path.insert(0, str(Path(__file__).parents[1] / "gateway"))
from budget_support import RedisServer, free_port, redis_server
from gateway_support import genai_attributes

from genai_cost import attributes as attr
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import open_ledger, to_micros
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.testing.otlp_receiver import OtlpReceiver

__all__ = ["redis_server"]

COLLECTOR = Path(__file__).resolve().parents[2] / "collector"
TRACES = 24
MODELS = [("gpt-4o", "openai"), ("gpt-4o-mini", "openai"), ("claude-sonnet-4-20250514", "anthropic")]
TEAMS = ("search", "ads")


class TraceIdRouter(SpanExporter):
    """What the loadbalancing exporter does with routing_key traceID: every span of a trace to the
    same backend, chosen by a hash of the trace id."""

    def __init__(self, backends: Sequence[SpanExporter], key: str = "trace") -> None:
        self.backends = backends
        self.key = key  # "span": the negative control, spans of one trace scattered
        self.routed: dict[int, int] = {}  # trace id -> backend index

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        groups: dict[int, list[ReadableSpan]] = {}
        for span in spans:
            trace_id = span.context.trace_id
            routed_by = trace_id if self.key == "trace" else span.context.span_id
            index = hashlib.sha256(routed_by.to_bytes(16, "big")).digest()[0] % len(self.backends)
            self.routed[trace_id] = index
            groups.setdefault(index, []).append(span)
        results = [self.backends[i].export(group) for i, group in groups.items()]
        ok = all(r is SpanExportResult.SUCCESS for r in results)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        for backend in self.backends:
            backend.shutdown()


def write_config(tmp_path: Path, ledger: str) -> Path:
    config = {
        "budgets": {
            "ledger": ledger,
            "policies": [
                {"name": "company", "limit": 1000.0, "window": "month"},
                {"name": "teams", "per": "team", "limit": 500.0, "window": "month"},
            ],
        }
    }
    path = tmp_path / "genai-cost.yaml"
    path.write_text(json.dumps(config), encoding="utf-8")
    return path


def start_gateway(config: Path, downstream: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "genai_cost.cli", "--config", str(config), "gateway", "--downstream", downstream,
         "--http-port", str(port), "--grpc-port", "off"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GENAI_COST_LEDGER": ""},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the gateway exited: {process.stderr.read() if process.stderr else ''}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return process, port
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise AssertionError("the gateway did not answer /healthz")


def send_traces(router: TraceIdRouter) -> None:
    rng = random.Random(11)
    provider = TracerProvider(resource=Resource.create({"service.name": "scaled-out"}))
    provider.add_span_processor(BatchSpanProcessor(router, max_export_batch_size=7, schedule_delay_millis=50))
    tracer = provider.get_tracer("some.genai.instrumentation")
    for n in range(TRACES):
        with tracer.start_as_current_span(f"POST /ask {n}"):
            for k in range(3):
                model, provider_name = rng.choice(MODELS)
                extra = {attr.TEAM: rng.choice(TEAMS), attr.RESPONSE_ID: f"resp-{n}-{k}"}
                attributes = genai_attributes(
                    model, provider_name, rng.randint(10, 5000), rng.randint(1, 2000), **extra
                )
                with tracer.start_as_current_span(f"chat {model}", attributes=attributes):
                    pass
    provider.shutdown()


@pytest.mark.parametrize("routing", ["trace", "span"])
def test_two_gateways_keep_roll_ups_whole_and_share_one_budget(
    tmp_path: Path, redis_server: RedisServer, routing: str
) -> None:
    redis_server.flush()
    config = write_config(tmp_path, redis_server.url)
    gateways = []
    with OtlpReceiver() as downstream:
        try:
            for _ in range(2):
                gateways.append(start_gateway(config, downstream.endpoint))
            router = TraceIdRouter(
                [OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces") for _, port in gateways], routing
            )
            send_traces(router)
            spans = downstream.wait_for_spans(lambda s: len(s) >= TRACES * 4, timeout=60)
        finally:
            for process, _ in gateways:
                process.terminate()
            for process, _ in gateways:
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    process.kill()
    assert len(spans) == TRACES * 4
    assert set(router.routed.values()) == {0, 1}  # both gateways had traces to price
    calls = [s for s in spans if s.name.startswith("chat ")]
    assert all(s.attributes[attr.COST_STATUS] == "priced" for s in calls)
    roots = [s for s in spans if s.name.startswith("POST /ask")]
    whole = [
        root.attributes.get(attr.TRACE_CALLS) == 3
        and root.attributes[attr.TRACE_AMOUNT]
        == pytest.approx(sum(s.attributes[attr.COST_AMOUNT] for s in calls if s.trace_id == root.trace_id), abs=1e-12)
        for root in roots
    ]
    if routing == "trace":
        assert all(whole)
    else:  # the control: scattered spans give partial totals, so the check above can fail
        assert not all(whole)
    guard = BudgetGuard(
        [BudgetPolicy("company", limit=1000.0), BudgetPolicy("teams", limit=500.0, per="team")],
        open_ledger(redis_server.url, timeout=5.0),
    )
    try:
        ledger = {f"{row.name}/{row.scope}": to_micros(row.spent) for row in guard.status()}
    finally:
        guard.close()
    assert ledger["company/"] == sum(to_micros(s.attributes[attr.COST_AMOUNT]) for s in calls)
    for team in TEAMS:
        mine = [s for s in calls if s.attributes[attr.TEAM] == team]
        assert ledger[f"teams/{team}"] == sum(to_micros(s.attributes[attr.COST_AMOUNT]) for s in mine)


def test_the_collector_config_routes_by_trace_id_to_several_gateways() -> None:
    config = yaml.safe_load((COLLECTOR / "otelcol-gateway-scaleout.yaml").read_text())
    [(name, exporter)] = [(k, v) for k, v in config["exporters"].items() if k.split("/")[0] == "loadbalancing"]
    assert exporter["routing_key"] == "traceID"
    assert len(exporter["resolver"]["static"]["hostnames"]) >= 2
    assert name in config["service"]["pipelines"]["traces/in"]["exporters"]
