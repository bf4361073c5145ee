"""OpenLLMetry's Ollama instrumentation (opentelemetry-instrumentation-ollama), alone and beside
ours, with the real ollama SDK against the stand-in, in a fresh interpreter (instrumentations patch
process-wide): alone, its spans are priced by our processor; beside ours, each call is priced once
(ours) and its span is the duplicate. The local model is priced by a configured per-token price."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytest.importorskip("opentelemetry.instrumentation.ollama")
pytest.importorskip("ollama")

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from genai_cost.autoconfig import install_cost_processor
    from genai_cost.pricing import CustomPrice, PriceCatalog, PriceOverrides, set_catalog
    from genai_cost.testing import StubProvider

    local = CustomPrice(model="llama3.2", provider="ollama", input_per_mtok=0.2, output_per_mtok=0.6)
    set_catalog(PriceCatalog(PriceOverrides(custom_models=(local,))))
    exporter, provider = InMemorySpanExporter(), TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    install_cost_processor(provider)
    trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.ollama import OllamaInstrumentor as OpenLLMetry
    OpenLLMetry().instrument(tracer_provider=provider)
    if sys.argv[1] == "both":
        from genai_cost.instrumentation.ollama import OllamaInstrumentor
        OllamaInstrumentor().instrument(tracer_provider=provider)
    import ollama
    wire = []
    with StubProvider() as stub:
        client = ollama.Client(host=stub.url)
        client.chat("llama3.2", [{"role": "user", "content": "hello"}])
        wire.append(stub.last_request.response_body)
        for _ in client.chat("llama3.2", [{"role": "user", "content": "hello"}], stream=True):
            pass
        wire.append(stub.last_request.response_body[-1])
    spans = [
        {"scope": s.instrumentation_scope.name, "attributes": dict(s.attributes)}
        for s in exporter.get_finished_spans()
    ]
    print(json.dumps({"spans": spans, "wire": wire}))
    """
)


def run(setup: str) -> tuple[list[dict], list[dict]]:
    done = subprocess.run([sys.executable, "-c", SCRIPT, setup], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    return out["spans"], out["wire"]


def expected(wire: dict) -> float:
    return wire["prompt_eval_count"] * 0.2e-6 + wire["eval_count"] * 0.6e-6


def test_openllmetry_ollama_spans_alone_are_priced() -> None:
    spans, wire = run("alone")
    assert [s["scope"] for s in spans] == ["opentelemetry.instrumentation.ollama"] * 2
    for span, sent in zip(spans, wire, strict=True):
        assert span["attributes"]["genai_cost.status"] == "priced"
        assert span["attributes"]["genai_cost.amount"] == pytest.approx(expected(sent), abs=1e-12)


def test_beside_ours_each_ollama_call_is_priced_once() -> None:
    spans, wire = run("both")
    ours = [s for s in spans if s["scope"] == "genai_cost"]
    theirs = [s for s in spans if s["scope"] == "opentelemetry.instrumentation.ollama"]
    assert len(ours) == len(theirs) == 2
    assert [s["attributes"]["genai_cost.status"] for s in theirs] == ["duplicate", "duplicate"]
    for span, sent in zip(ours, wire, strict=True):
        assert span["attributes"]["genai_cost.status"] == "priced"
        assert span["attributes"]["genai_cost.amount"] == pytest.approx(expected(sent), abs=1e-12)
