"""Self-hosted models priced per GPU-hour: each call is charged its share of its endpoint's busy
time, so however calls overlap their costs sum to rate x GPUs x the time the endpoint was busy --
checked on the clock alone, and on overlapping calls over real HTTP (ollama SDK, and the openai SDK
against an OpenAI-compatible server as vLLM or TGI would be)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import ollama
import openai
import pytest
from conftest import PRICE_TOLERANCE, attrs, genai_spans

from genai_cost.instrumentation.ollama import OllamaInstrumentor
from genai_cost.instrumentation.openai import OpenAIInstrumentor
from genai_cost.pricing import CustomPrice, PriceCatalog, PriceOverrides, catalog, set_catalog
from genai_cost.pricing.busy_time import BusyClock
from genai_cost.testing import StubProvider
from genai_cost.usage import TokenUsage

RATE, GPUS = 3.6, 2  # USD per GPU-hour, GPUs behind the endpoint


def test_shares_of_overlapping_calls_sum_to_the_busy_time() -> None:
    clock = BusyClock()
    # A: [0, 4]; B: [1, 3] overlaps it; C: [5, 6] after an idle second.
    a = clock.start(0.0)
    b = clock.start(1.0)
    share_b = clock.end(b, 3.0)
    share_a = clock.end(a, 4.0)
    c = clock.start(5.0)
    share_c = clock.end(c, 6.0)
    assert (share_a, share_b, share_c) == (3.0, 1.0, 1.0)  # A alone 2 s, shared 2 s; B shared 2 s
    assert share_a + share_b + share_c == clock.busy_seconds == 5.0  # the idle second is nobody's
    assert clock.in_flight == 0


def test_a_gpu_hour_price_without_a_busy_time_says_why_instead_of_zero() -> None:
    prices = PriceCatalog(PriceOverrides(custom_models=(CustomPrice(model="llama3.2", per_gpu_hour=RATE, gpus=GPUS),)))
    cost = prices.price("llama3.2", TokenUsage(input_tokens=100, output_tokens=10))
    assert cost.amount is None and cost.status == "no_usage"
    assert "per GPU-hour" in cost.detail
    timed = prices.price("llama3.2", TokenUsage(input_tokens=100), duration_s=2.0)
    assert timed.status == "estimated" and timed.amount == pytest.approx(RATE * GPUS * 2.0 / 3600, abs=1e-15)


@pytest.fixture
def gpu_priced() -> Iterator[PriceCatalog]:
    previous = catalog()
    installed = PriceCatalog(
        PriceOverrides(
            custom_models=(
                CustomPrice(model="llama3.2", provider="ollama", per_gpu_hour=RATE, gpus=GPUS),
                # A vLLM / TGI server behind the openai SDK: the provider is "openai", the host local.
                CustomPrice(model="meta-llama/Llama-3.1-8B-Instruct", per_gpu_hour=RATE, gpus=GPUS),
            )
        )
    )
    set_catalog(installed)
    OllamaInstrumentor().instrument()
    OpenAIInstrumentor().instrument()
    yield installed
    OllamaInstrumentor().uninstrument()
    OpenAIInstrumentor().uninstrument()
    set_catalog(previous)


def _busy_union(spans: list[Any]) -> float:
    """Seconds during which at least one of the spans was open."""
    total, end = 0.0, None
    for start, stop in sorted((s.start_time, s.end_time) for s in spans):
        if end is None or start > end:
            total += stop - start
            end = stop
        elif stop > end:
            total += stop - end
            end = stop
    return total / 1e9


def _overlapping(calls: list[tuple[float, Any]]) -> None:
    """Run each call on its own thread, ``delay`` seconds after the first starts."""
    threads = []
    for delay, call in calls:
        thread = threading.Thread(target=call)
        thread.start()
        threads.append(thread)
        time.sleep(delay)
    for thread in threads:
        thread.join()


@pytest.mark.parametrize("sdk", ["ollama", "openai"])
def test_overlapping_calls_cost_rate_x_gpus_x_busy_time(
    sdk: str, gpu_priced: PriceCatalog, stub: StubProvider, span_exporter: Any
) -> None:
    if sdk == "ollama":
        model, path, provider = "llama3.2", "/api/chat", "ollama"
        client = ollama.Client(host=stub.url)

        def call() -> None:
            client.chat(model, [{"role": "user", "content": "hello"}])
    else:
        model, path, provider = "meta-llama/Llama-3.1-8B-Instruct", "/v1/chat/completions", "openai"
        oai = openai.OpenAI(base_url=stub.base_url, api_key="none", max_retries=0)

        def call() -> None:
            oai.chat.completions.create(model=model, messages=[{"role": "user", "content": "hello"}])

    clock = gpu_priced.busy_clock(model, provider, "127.0.0.1", stub.port)
    assert clock is not None
    busy_before = clock.busy_seconds
    for delay in (0.40, 0.40, 0.40, 0.15):
        stub.enqueue(path, delay_s=delay)
    # Two calls overlap, a third overlaps the second, then an idle gap, then one alone.
    _overlapping([(0.1, call), (0.2, call), (0.8, call), (0.0, call)])

    spans = genai_spans(span_exporter)
    assert len(spans) == 4
    amounts = [attrs(s)["genai_cost.amount"] for s in spans]
    assert all(attrs(s)["genai_cost.status"] == "estimated" for s in spans)
    assert "GPU-hour" in attrs(spans[0])["genai_cost.status.detail"]
    busy = clock.busy_seconds - busy_before
    assert sum(amounts) == pytest.approx(RATE * GPUS * busy / 3600, abs=PRICE_TOLERANCE)
    # The clock's busy time is the spans' union (to the few ms between a span's start and the call's).
    assert busy == pytest.approx(_busy_union(spans), abs=0.03)
    # Not each call's own duration: that would bill the overlap twice.
    own = sum((s.end_time - s.start_time) / 1e9 for s in spans)
    assert sum(amounts) < RATE * GPUS * own / 3600 * 0.95
