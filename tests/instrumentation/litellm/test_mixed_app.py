"""A mixed application: LiteLLM routing to OpenAI and to Anthropic, a direct Mistral call, and a
direct Ollama call to a local model priced by the team's own per-token price, all in one request's
trace. The trace's
total on its root span equals the sum of each call's true price -- genai-prices' calc_price for
the hosted models, the configured price for the local one -- with every call counted once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import litellm
import ollama
import pytest
from litellm_support import (
    ANTHROPIC_MODEL,
    KEY,
    MESSAGES,
    OPENAI_MODEL,
    anthropic_usage,
    attrs,
    genai_prices_cost,
    genai_spans,
    instrumented,
    no_content_capture,
    openai_usage,
    stream_usage,
)
from opentelemetry import trace

from genai_cost.instrumentation.mistral import MistralInstrumentor
from genai_cost.instrumentation.ollama import OllamaInstrumentor
from genai_cost.pricing import CustomPrice, PriceCatalog, PriceOverrides, catalog, set_catalog
from genai_cost.testing import StubProvider
from genai_cost.testing.mistral_wire import PREFIX as MISTRAL_PREFIX

try:  # mistralai 2.0 and later
    from mistralai.client import Mistral
except ImportError:  # 1.x
    from mistralai import Mistral  # type: ignore[attr-defined,no-redef]

__all__ = ["instrumented", "no_content_capture"]

LOCAL_MODEL, LOCAL_IN, LOCAL_OUT = "llama3.2", 0.20, 0.60  # USD per million tokens, stated by the team
MISTRAL_MODEL = "mistral-small-latest"


@pytest.fixture
def local_priced() -> Iterator[None]:
    previous = catalog()
    local = CustomPrice(model=LOCAL_MODEL, provider="ollama", input_per_mtok=LOCAL_IN, output_per_mtok=LOCAL_OUT)
    set_catalog(PriceCatalog(PriceOverrides(custom_models=(local,))))
    OllamaInstrumentor().instrument()
    MistralInstrumentor().instrument()
    yield
    MistralInstrumentor().uninstrument()
    OllamaInstrumentor().uninstrument()
    set_catalog(previous)


def test_a_mixed_apps_trace_total_is_the_sum_of_true_prices(
    local_priced: None, stub: StubProvider, span_exporter: Any
) -> None:
    expected: list[float] = []
    with trace.get_tracer("app").start_as_current_span("handle request"):
        stub.enqueue(
            "/v1/chat/completions", usage={"prompt_tokens": 3000, "prompt_tokens_details": {"cached_tokens": 1024}}
        )
        reply = litellm.completion(f"openai/{OPENAI_MODEL}", MESSAGES, api_base=stub.base_url, api_key=KEY)
        expected.append(
            genai_prices_cost(reply.model, openai_usage(stub.last_request.response_body["usage"]), "openai")
        )

        stub.enqueue("/v1/messages", usage={"input_tokens": 900, "cache_read_input_tokens": 2000})
        litellm.completion(f"anthropic/{ANTHROPIC_MODEL}", MESSAGES, api_base=stub.url, api_key=KEY, max_tokens=64)
        usage = anthropic_usage(stub.last_request.response_body["usage"])
        expected.append(genai_prices_cost(ANTHROPIC_MODEL, usage, "anthropic"))

        for _ in litellm.completion(
            f"openai/{OPENAI_MODEL}", MESSAGES, api_base=stub.base_url, api_key=KEY, stream=True
        ):
            pass
        streamed = stream_usage(stub.last_request.response_body, "openai")
        expected.append(genai_prices_cost(OPENAI_MODEL, openai_usage(streamed), "openai"))

        stub.enqueue(
            f"{MISTRAL_PREFIX}/v1/chat/completions",
            usage={"prompt_tokens": 1500, "completion_tokens": 80, "prompt_tokens_details": {"cached_tokens": 512}},
        )
        mistral = Mistral(api_key=KEY, server_url=f"{stub.url}{MISTRAL_PREFIX}")
        mistral.chat.complete(model=MISTRAL_MODEL, messages=MESSAGES)
        wire = stub.last_request.response_body["usage"]
        usage = {"input_tokens": wire["prompt_tokens"], "output_tokens": wire["completion_tokens"]}
        usage["cache_read_tokens"] = wire["prompt_tokens_details"]["cached_tokens"]
        expected.append(genai_prices_cost(MISTRAL_MODEL, usage, "mistral"))

        local = ollama.Client(host=stub.url).chat(LOCAL_MODEL, MESSAGES)
        expected.append(local.prompt_eval_count * LOCAL_IN / 1e6 + local.eval_count * LOCAL_OUT / 1e6)

    calls = genai_spans(span_exporter)
    assert [attrs(s)["gen_ai.provider.name"] for s in calls] == [
        "openai",
        "anthropic",
        "openai",
        "mistral_ai",
        "ollama",
    ]
    assert all(attrs(s)["genai_cost.status"] == "priced" for s in calls)
    for span, price in zip(calls, expected, strict=True):
        assert attrs(span)["genai_cost.amount"] == pytest.approx(price, abs=1e-9)
    [root] = [s for s in span_exporter.get_finished_spans() if s.name == "handle request"]
    assert attrs(root)["genai_cost.trace.calls"] == 5
    assert attrs(root)["genai_cost.trace.amount"] == pytest.approx(sum(expected), abs=1e-9)
