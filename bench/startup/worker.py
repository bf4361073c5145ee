"""One fresh process of the start-up benchmark: runs one variant, prints one JSON line.

    python bench/startup/worker.py VARIANT

Times are ``perf_counter`` around each step; RSS is the process's current VmRSS after it.
"""

from __future__ import annotations

import json
import sys
import time


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def sdk_provider():  # what any OTel setup pays: the SDK and a TracerProvider
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    trace.set_tracer_provider(provider)
    return provider


def official() -> None:
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument(tracer_provider=sdk_provider())


def openllmetry() -> None:
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument(tracer_provider=sdk_provider())


def genai_cost_configure() -> None:
    import genai_cost

    genai_cost.configure(exporters=[])


def price_data() -> None:  # the price data alone, in a fresh catalog, waited for
    from genai_cost.pricing import PriceCatalog

    PriceCatalog().snapshot()


STEPS = {"bare": None, "otel-sdk": sdk_provider, "official": official, "openllmetry": openllmetry}
STEPS["genai-cost"] = genai_cost_configure
STEPS["prices"] = price_data


def main(variant: str) -> None:
    out: dict[str, float | list[str]] = {"rss_start": rss_mb()}
    if variant == "prices-no-openai":  # the price data in a process that has no pydantic/httpx yet
        t0 = time.perf_counter()
        price_data()
        out["step_ms"] = (time.perf_counter() - t0) * 1000
        out["rss_step"] = rss_mb()
        print(json.dumps(out))
        return
    step = STEPS.get(variant.removesuffix("-first"))
    if variant.endswith("-first") and step is not None:  # set up first, then the app imports openai
        t0 = time.perf_counter()
        step()
        out["step_ms"] = (time.perf_counter() - t0) * 1000
    t0 = time.perf_counter()
    import openai  # noqa: F401

    out["import_ms"] = (time.perf_counter() - t0) * 1000
    out["rss_import"] = rss_mb()
    if not variant.endswith("-first") and step is not None:
        t0 = time.perf_counter()
        step()
        out["step_ms"] = (time.perf_counter() - t0) * 1000
    out["rss_step"] = rss_mb()
    if variant.startswith("genai-cost"):
        from genai_cost.pricing import catalog

        t0 = time.perf_counter()
        catalog().snapshot()  # waits for the background load if it is still running
        out["prices_wait_ms"] = (time.perf_counter() - t0) * 1000
        out["rss_prices"] = rss_mb()
    out["sdks"] = [m for m in ("openai", "anthropic", "google.genai", "botocore") if m in sys.modules]
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
