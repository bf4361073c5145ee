"""Pricing and processor overhead, plus import/setup time. Prints a Markdown table.

    python bench/pricing_bench.py            # ~1 minute on a 2-core machine

Each figure is the median over repeated batches (a batch's per-call mean), so a GC pause or
scheduler hiccup moves one batch, not the result. Start-up figures come from fresh processes,
interleaved (ours, baseline, ours, ...), median of the runs.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

BATCH = 2000
BATCHES = 25
STARTUP_RUNS = 15

MODELS = [
    ("openai", "gpt-4o-mini-2024-07-18"),
    ("openai", "gpt-4.1"),
    ("anthropic", "claude-sonnet-4-5-20250929"),
    ("aws.bedrock", "us.anthropic.claude-3-5-sonnet-20240620-v1:0"),
    ("gcp.gemini", "gemini-2.5-pro"),  # long-context tiers
]


def per_call_us(fn: Callable[[int], object], batch: int = BATCH, batches: int = BATCHES) -> float:
    samples = []
    for b in range(batches):
        start = time.perf_counter_ns()
        for i in range(batch):
            fn(i)
        samples.append((time.perf_counter_ns() - start) / batch / 1000)
    return statistics.median(samples)


def usages():
    from genai_cost.usage import TokenUsage

    # 997 distinct shapes (prime, so the cycle never lines up with the model rotation).
    out = []
    for i in range(997):
        inp = 200 + (i * 7919) % 300_000
        out.append(
            TokenUsage(
                input_tokens=inp,
                output_tokens=50 + (i * 104729) % 4000,
                cache_read_tokens=(inp // 3) if i % 3 == 0 else 0,
                reasoning_tokens=(i % 5) * 10,
            )
        )
    return out


def bench_pricing() -> dict[str, float]:
    from genai_prices import Usage, calc_price

    from genai_cost.pricing import PriceCatalog

    catalog = PriceCatalog()
    catalog.warm_up()
    shapes = usages()
    for provider, model in MODELS:
        catalog.price(model, shapes[0], provider_name=provider)  # resolve once, as any long-running app
    n_models, n_shapes = len(MODELS), len(shapes)

    def ours(i: int) -> object:
        provider, model = MODELS[i % n_models]
        return catalog.price(model, shapes[i % n_shapes], provider_name=provider)

    raw = [Usage(**u.genai_prices_values()) for u in shapes]
    ids = {"openai": "openai", "anthropic": "anthropic", "aws.bedrock": "aws", "gcp.gemini": "google"}

    def reference(i: int) -> object:
        provider, model = MODELS[i % n_models]
        return calc_price(raw[i % n_shapes], model, provider_id=ids[provider])

    return {
        "ours_us": per_call_us(ours),
        "calc_price_us": per_call_us(reference, batch=200, batches=15),
    }


def bench_processor() -> dict[str, float]:
    from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

    from genai_cost.processor import CostSpanProcessor

    class Sink(SpanProcessor):
        def on_end(self, span):  # noqa: ANN001
            pass

    plain_provider, cost_provider = TracerProvider(), TracerProvider()
    plain_provider.add_span_processor(Sink())
    cost_provider.add_span_processor(CostSpanProcessor(Sink()))
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.usage.output_tokens": 321,
        "gen_ai.usage.cache_read.input_tokens": 512,
    }
    results = {}
    for label, provider in (("plain", plain_provider), ("cost", cost_provider)):
        tracer = provider.get_tracer("foreign.instrumentation")
        root = tracer.start_span("root")  # never ended: roll-up memory stays bounded regardless

        def genai(i: int, tracer=tracer) -> None:
            span = tracer.start_span("chat gpt-4o-mini", attributes=attrs)
            span.set_attribute("gen_ai.usage.input_tokens", 1000 + i)
            span.set_attribute("gen_ai.response.id", f"chatcmpl-{label}-{i}")
            span.end()

        def other(i: int, tracer=tracer) -> None:
            span = tracer.start_span("GET /items", attributes={"http.request.method": "GET"})
            span.end()

        genai(0)
        results[f"{label}_genai_us"] = per_call_us(genai)
        results[f"{label}_other_us"] = per_call_us(other)
        root.end()
    return {
        "processor_genai_us": results["cost_genai_us"] - results["plain_genai_us"],
        "processor_other_us": results["cost_other_us"] - results["plain_other_us"],
        "span_genai_us": results["plain_genai_us"],
    }


BASELINE = """
import time; t = time.perf_counter()
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
p = TracerProvider(); p.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter())); trace.set_tracer_provider(p)
print(time.perf_counter() - t)
"""
OURS = """
import time; t = time.perf_counter()
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import genai_cost
genai_cost.configure(exporters=InMemorySpanExporter(), instrument=False)
print(time.perf_counter() - t)
"""
FIRST_PRICE = """
import time
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import genai_cost
from genai_cost.usage import TokenUsage
genai_cost.configure(exporters=InMemorySpanExporter(), instrument=False)
time.sleep(float(__import__("sys").argv[1]))  # the app's own start-up before its first LLM call
t = time.perf_counter(); genai_cost.price("gpt-4o", TokenUsage(input_tokens=10, output_tokens=5), provider="openai")
first = time.perf_counter() - t
t = time.perf_counter(); genai_cost.price("gpt-4o", TokenUsage(input_tokens=11, output_tokens=5), provider="openai")
print(json.dumps([first, time.perf_counter() - t]) if (json := __import__("json")) else "")
"""


def run(code: str, *args: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True
    ).stdout.strip()


def bench_startup() -> dict[str, float]:
    ours, base = [], []
    for _ in range(STARTUP_RUNS):
        ours.append(float(run(OURS)))
        base.append(float(run(BASELINE)))
    firsts_immediate = [json.loads(run(FIRST_PRICE, "0")) for _ in range(5)]
    firsts_later = [json.loads(run(FIRST_PRICE, "0.6")) for _ in range(5)]
    return {
        "setup_ms": statistics.median(ours) * 1000,
        "baseline_ms": statistics.median(base) * 1000,
        "added_ms": (statistics.median(ours) - statistics.median(base)) * 1000,
        "first_price_immediate_ms": statistics.median(f[0] for f in firsts_immediate) * 1000,
        "first_price_after_startup_ms": statistics.median(f[0] for f in firsts_later) * 1000,
        "second_price_ms": statistics.median(f[1] for f in firsts_immediate) * 1000,
    }


def main() -> None:
    results = {**bench_pricing(), **bench_processor(), **bench_startup()}
    print(json.dumps(results, indent=2), file=sys.stderr)
    print("| measure | median |")
    print("|---|---|")
    print(f"| price one call, `PriceCatalog.price` (5 models × 997 usage shapes) | {results['ours_us']:.2f} µs |")
    print(f"| the same through genai-prices `calc_price` | {results['calc_price_us']:.1f} µs |")
    print(
        f"| processor, foreign GenAI span (read usage, price, rebuild span) | +{results['processor_genai_us']:.2f} µs over a bare SDK span ({results['span_genai_us']:.1f} µs) |"
    )
    print(f"| processor, non-GenAI span | +{results['processor_other_us']:.2f} µs |")
    print(
        f"| `import genai_cost` + `configure()` | {results['setup_ms']:.0f} ms, of which the OTel SDK's own setup {results['baseline_ms']:.0f} ms: **+{results['added_ms']:.0f} ms** |"
    )
    print(
        f"| first price right after `configure()` (waits for the background data load) | {results['first_price_immediate_ms']:.0f} ms, once |"
    )
    print(
        f"| first price 0.6 s after `configure()` (load already done) | {results['first_price_after_startup_ms']:.2f} ms |"
    )
    print(f"| second price | {results['second_price_ms']:.3f} ms |")


if __name__ == "__main__":
    main()
