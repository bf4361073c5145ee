"""One app run for the backend tests: every kind of call a backend has to total right.

Run as its own process (``python tests/backends/app_run.py``): it configures genai-cost the way an
app does (``configure()`` with an OTLP exporter to ``APP_OTLP_ENDPOINT``, an optional in-process
Prometheus endpoint from ``GENAI_COST_PROMETHEUS_PORT``, a config file with a discount), makes its
calls with the real OpenAI and Anthropic SDKs against a local stand-in, and prints one JSON line:
what it sent (every span's cost attributes, grouped by trace) and its Prometheus port. It then
waits for a line on stdin before exiting, so a scraper can read its /metrics meanwhile. With
``APP_WAIT_TO_START`` set it first prints its port and waits for a line before calling anything.

The calls: a chat, a streamed chat, embeddings, an Anthropic cache write (whose SDK's own span is
the duplicate instrumentation), a discounted model, and a model nobody can price.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

import anthropic
import openai
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import genai_cost
from genai_cost import attributes as attr
from genai_cost import runtime
from genai_cost.metrics import cost_metrics
from genai_cost.testing import StubProvider

CONFIG = """
attribution: {project: interop, team: platform}
pricing:
  discounts: [{provider: openai, model: "gpt-4o", percent: 15}]
"""
CACHE_WRITE_USAGE = {"input_tokens": 100, "output_tokens": 40, "cache_creation_input_tokens": 500}
UNKNOWN_MODEL = "acme-house-model-7"


def main() -> int:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as config:
        config.write(CONFIG)
    memory = InMemorySpanExporter()
    exporters = [memory]
    if os.environ.get("APP_OTLP_ENDPOINT"):
        exporters.append(OTLPSpanExporter(endpoint=os.environ["APP_OTLP_ENDPOINT"]))
    provider = genai_cost.configure(service_name="interop-app", exporters=exporters, config_file=config.name)
    tracer = trace.get_tracer("interop-app")
    if os.environ.get("APP_WAIT_TO_START"):  # a scraper reads the empty state first
        print(json.dumps({"prometheus_port": runtime.prometheus_port}), flush=True)
        sys.stdin.readline()
    with StubProvider() as stub:
        oai = openai.OpenAI(base_url=stub.base_url, api_key="sk-test", max_retries=0)
        claude = anthropic.Anthropic(base_url=stub.url, api_key="sk-test", max_retries=0)
        messages = [{"role": "user", "content": "Say this is a test"}]
        with tracer.start_as_current_span("answer ticket"):
            oai.chat.completions.create(model="gpt-4o-mini", messages=messages)
            for _ in oai.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True):
                pass
            oai.embeddings.create(model="text-embedding-3-small", input="a ticket to file")
        with tracer.start_as_current_span("summarise thread"):
            stub.enqueue("/v1/messages", usage=CACHE_WRITE_USAGE)
            claude.messages.create(model="claude-haiku-4-5", max_tokens=64, messages=messages)
            oai.chat.completions.create(model="gpt-4o", messages=messages)  # discounted
            oai.chat.completions.create(model=UNKNOWN_MODEL, messages=messages)
    provider.force_flush()
    cost_metrics().flush()
    spans = [
        {
            "trace_id": f"{span.context.trace_id:032x}",
            "span_id": f"{span.context.span_id:016x}",
            "name": span.name,
            "attributes": {k: v for k, v in span.attributes.items() if not isinstance(v, tuple)},
        }
        for span in memory.get_finished_spans()
    ]
    amounts = [s["attributes"][attr.COST_AMOUNT] for s in spans if attr.COST_AMOUNT in s["attributes"]]
    print(json.dumps({"spans": spans, "total": sum(amounts), "prometheus_port": runtime.prometheus_port}), flush=True)
    sys.stdin.readline()  # the test says when it has read what it needs
    provider.shutdown()
    os.unlink(config.name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
