"""Arize Phoenix shows the money genai-cost computed, for one app run sent through the gateway.

A real Phoenix (pip ``arize-phoenix``, in its own venv: scripts/ci-backends.sh phoenix) takes the
app's spans over OTLP/HTTP via a real gateway. Phoenix reads no cost attribute (its feature request
#15240) and prices usage itself, so what we control is what it prices from: the cache write under
the name it reads, a duplicate's usage out of its sight, embeddings under a model name it prices,
the project on the resource. Its price table is its own: the discount and the embedding price are
entered in Phoenix as a user would (docs/backends.md), and then every trace total is ours.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backends_support import AppRun, Server, backend_python, free_port, post_json, wait_until
from genai_prices import Usage, calc_price
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from genai_cost import attributes as attr
from genai_cost.gateway import Gateway, GatewayConfig

PROJECT = "interop"  # the app's attribution project, which configure() puts on the resource


def per_million(model: str, provider: str, kind: str, discount: float = 0.0) -> float:
    usage = Usage(input_tokens=1_000_000) if kind == "input" else Usage(output_tokens=1_000_000)
    return float(calc_price(usage, model_ref=model, provider_id=provider).total_price) * (1 - discount)


class Phoenix:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        python = backend_python("phoenix")
        env = {
            "PHOENIX_HOST": "127.0.0.1",
            "PHOENIX_PORT": str(self.port),
            "PHOENIX_GRPC_PORT": str(free_port()),
            "PHOENIX_WORKING_DIR": str(workdir),
            "PHOENIX_TELEMETRY_ENABLED": "false",
        }
        self.server = Server(
            [str(python), "-m", "phoenix.server.main", "serve"], workdir, env, f"{self.url}/healthz", 240
        )

    def graphql(self, query: str) -> Any:
        answer = post_json(f"{self.url}/graphql", {"query": query})
        assert not answer.get("errors"), answer["errors"]
        return answer["data"]

    def add_model(self, name: str, input_per_m: float, output_per_m: float) -> None:
        costs = (
            f'{{tokenType: "input", kind: PROMPT, costPerMillionTokens: {input_per_m!r}}}, '
            f'{{tokenType: "output", kind: COMPLETION, costPerMillionTokens: {output_per_m!r}}}'
        )
        self.graphql(
            f'mutation {{ createModel(input: {{name: "{name}", namePattern: "^{name}$", costs: [{costs}]}}) '
            "{ model { id } } }"
        )

    def project(self, name: str, fields: str) -> dict[str, Any] | None:
        data = self.graphql(f"{{ projects {{ edges {{ node {{ name {fields} }} }} }} }}")
        found = [edge["node"] for edge in data["projects"]["edges"] if edge["node"]["name"] == name]
        return found[0] if found else None

    def trace_cost(self, trace_id: str) -> float | None:
        """Phoenix's cost of one trace (what its trace view shows)."""
        node = self.project(PROJECT, f'trace(traceId: "{trace_id}") {{ costSummary {{ total {{ cost }} }} }}')
        trace = node and node["trace"]
        return trace["costSummary"]["total"]["cost"] if trace else None

    def span_costs(self) -> list[tuple[str, float | None]]:
        """(span name, Phoenix's cost) for every span of the project."""
        node = self.project(PROJECT, "spans(first: 100) { edges { node { name costSummary { total { cost } } } } }")
        if node is None:
            return []
        return [
            (e["node"]["name"], (e["node"]["costSummary"] or {}).get("total", {}).get("cost"))
            for e in node["spans"]["edges"]
        ]


@pytest.fixture(scope="module")
def phoenix_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Phoenix, Gateway, AppRun]]:
    phoenix = Phoenix(tmp_path_factory.mktemp("phoenix"))
    gateway = None
    run = None
    try:
        # What a user enters in Phoenix so its price table matches the configured one.
        phoenix.add_model(
            "gpt-4o", per_million("gpt-4o", "openai", "input", 0.15), per_million("gpt-4o", "openai", "output", 0.15)
        )
        phoenix.add_model("text-embedding-3-small", per_million("text-embedding-3-small", "openai", "input"), 0.0)
        # Phoenix prices spans from an in-memory model store that reloads custom models every 5 s
        # (phoenix/server/daemons/generative_model_store.py, refresh_interval_seconds=5): spans that
        # arrive before its next reload are priced with the built-in table instead.
        time.sleep(11)
        gateway = Gateway(GatewayConfig(http_port=0, grpc_port=None, downstream=phoenix.url)).start()
        run = AppRun(APP_OTLP_ENDPOINT=f"{gateway.http_endpoint}/v1/traces").go()
        wait_until(lambda: gateway.stats.get("spans_out") >= len(run.spans), 30, "the gateway to deliver")
        wait_until(lambda: len(phoenix.span_costs()) >= len(run.spans), 60, "Phoenix to store every span")
        yield phoenix, gateway, run
    finally:
        if run is not None:
            run.close()
        if gateway is not None:
            gateway.shutdown()
        phoenix.server.stop()


def test_every_trace_total_in_phoenix_is_the_trace_amount(phoenix_run: tuple[Phoenix, Gateway, AppRun]) -> None:
    phoenix, _, run = phoenix_run
    totals = run.trace_totals()
    assert len(totals) == 2
    for trace_id, amount in totals.items():
        # Phoenix totals a trace as its spans are inserted (in batches): wait for the last one.
        wait_until(
            lambda trace_id=trace_id, amount=amount: phoenix.trace_cost(trace_id) == pytest.approx(amount, rel=1e-9),
            30,
            f"Phoenix's total of trace {trace_id} to be {amount}",
        )


def test_phoenix_prices_the_cache_write_and_not_the_duplicate(phoenix_run: tuple[Phoenix, Gateway, AppRun]) -> None:
    phoenix, _, run = phoenix_run
    costs = dict(phoenix.span_costs())  # the names below are unique in the run
    (claude,) = [s for s in run.spans if s["name"] == "chat claude-haiku-4-5"]
    assert claude["attributes"][attr.COST_CACHE_WRITE] > 0
    assert costs["chat claude-haiku-4-5"] == pytest.approx(claude["attributes"][attr.COST_AMOUNT], rel=1e-9)
    assert costs["anthropic.messages.create"] is None  # the Anthropic SDK's own span of the same call
    assert costs["chat acme-house-model-7"] is None  # unknown to both: not a price of 0


def test_phoenix_files_the_run_under_the_attribution_project(phoenix_run: tuple[Phoenix, Gateway, AppRun]) -> None:
    phoenix, _, run = phoenix_run
    assert phoenix.project(PROJECT, "traceCount")["traceCount"] == len(run.trace_totals())  # type: ignore[index]
    default = phoenix.project("default", "traceCount")
    assert default is None or default["traceCount"] == 0


def test_the_gateway_reconnects_after_phoenix_closes_an_idle_connection(
    phoenix_run: tuple[Phoenix, Gateway, AppRun],
) -> None:
    """uvicorn closes an idle keep-alive connection after ~5 s: the next export is sent again at once
    on a new connection, not counted as a failed attempt and delayed by a backoff."""
    phoenix, gateway, _ = phoenix_run
    time.sleep(6)
    retries = gateway.stats.get("retries")
    provider = TracerProvider(resource=Resource.create({"openinference.project.name": "keep-alive"}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{gateway.http_endpoint}/v1/traces")))
    delivered = gateway.stats.get("spans_out")
    started = time.monotonic()
    provider.get_tracer("probe").start_span("after idle").end()
    wait_until(lambda: gateway.stats.get("spans_out") > delivered, 10, "the export after the idle pause", 0.02)
    assert time.monotonic() - started < 0.45  # no 0.5 s backoff was waited
    assert gateway.stats.get("retries") == retries
    provider.shutdown()
    wait_until(lambda: phoenix.project("keep-alive", "traceCount"), 30, "Phoenix to have the span")
