"""Reports from a spend store filled the production way: six weeks of GenAI calls from three
services, exported over real OTLP to a real genai-cost gateway that prices them and writes
`--store`, then `genai-cost report` and `genai-cost export focus` over that store.

    python examples/reports/spend_report.py            # writes ./spend-demo.duckdb and ./focus-demo.csv
"""

from __future__ import annotations

import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from genai_cost.gateway import Gateway, GatewayConfig
from genai_cost.store import open_store
from genai_cost.store.rows import calls_from_otlp
from genai_cost.store.writer import StoreWriter
from genai_cost.testing.otlp_receiver import OtlpReceiver

STORE = Path("spend-demo.duckdb")
# service -> (team, feature, [(provider, model, typical input, typical output)])
SERVICES = {
    "search-api": ("search", "answers", [("openai", "gpt-4o", 3000, 400), ("openai", "gpt-4o-mini", 6000, 300)]),
    "support-bot": ("support", "chat", [("anthropic", "claude-sonnet-4-20250514", 5000, 700)]),
    "ads-writer": ("ads", "copy", [("openai", "gpt-4.1", 1500, 900), ("acme", "acme-llm-2", 800, 200)]),
}


def send_traffic(endpoint: str, now: datetime) -> int:
    rng = random.Random(13)
    calls = 0
    for service, (team, feature, models) in SERVICES.items():
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint}/v1/traces")))
        tracer = provider.get_tracer("opentelemetry.instrumentation.genai")  # any instrumentation
        for day in range(42):
            growth = 1 + day / 30 if team == "support" else 1.0  # support's bot is taking off
            for _ in range(int(rng.randint(15, 25) * growth)):
                vendor, model, inp, out = rng.choice(models)
                start = now - timedelta(days=42 - day, seconds=rng.randint(0, 86_000))
                attributes = {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": vendor,
                    "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": rng.randint(inp // 2, inp * 2),
                    "gen_ai.usage.output_tokens": rng.randint(out // 2, out * 2),
                    "genai_cost.team": team,
                    "genai_cost.feature": feature,
                    "user.id": f"user-{rng.randint(1, 40)}",
                }
                nanos = int(start.timestamp() * 1e9)
                tracer.start_span(f"chat {model}", attributes=attributes, start_time=nanos).end(nanos + 2 * 10**9)
                calls += 1
        provider.shutdown()
    return calls


def main() -> int:
    STORE.unlink(missing_ok=True)
    writer = StoreWriter(open_store(str(STORE)), calls_from_otlp)
    with OtlpReceiver() as downstream:
        config = GatewayConfig(http_port=0, grpc_port=None, downstream=downstream.endpoint)
        gateway = Gateway(config, store_writer=writer).start()
        try:
            calls = send_traffic(gateway.http_endpoint, datetime.now(UTC))
        finally:
            gateway.shutdown()  # drains the forwarder and the store writer
    print(f"{calls} calls priced by the gateway and stored in {STORE}\n")
    for args in (
        ["report", "--since", "7d", "--by", "team"],
        ["report", "--since", "28d", "--by", "model", "--top", "3"],
        ["report", "--since", "21d", "--by", "team,week"],
        ["report", "--since", "7d", "--by", "team", "--format", "json", "--where", "team=support"],
        ["export", "focus", "--since", "30d", "--output", "focus-demo.csv"],
    ):
        command = ["genai-cost", *args[:1], *(["focus"] if args[0] == "export" else []), "--store", str(STORE)]
        command += args[2:] if args[0] == "export" else args[1:]
        print("$ " + " ".join(command))
        done = subprocess.run(
            [sys.executable, "-m", "genai_cost.cli", *command[1:]], capture_output=True, text=True, check=False
        )
        print(done.stdout + done.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
