"""Spans from real third-party instrumentations, priced by our processor.

anthropic 2.x's built-in tracing, the official opentelemetry-instrumentation-genai-openai and
OpenLLMetry's opentelemetry-instrumentation-openai each run in a fresh interpreter (capture.py)
with the real SDK against the local stand-in; the oracle is genai-prices' calc_price.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

CAPTURE = Path(__file__).with_name("capture.py")


def capture(setup: str, *calls: str) -> list[dict]:
    env = {**os.environ, "TRACELOOP_TRACE_CONTENT": "false", "OTEL_SEMCONV_STABILITY_OPT_IN": ""}
    done = subprocess.run(
        [sys.executable, str(CAPTURE), setup, *calls], capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def genai_spans(spans: list[dict]) -> list[dict]:
    return [s for s in spans if "genai_cost.status" in s["attributes"]]


def oracle(model: str, provider: str, **usage: int) -> float:
    return float(calc_price(Usage(**usage), model, provider_id=provider).total_price)


# What the stand-in was told to send (capture.py): OpenAI counts cached tokens inside prompt_tokens.
CHAT = {"input_tokens": 1200, "cache_read_tokens": 1024, "output_tokens": 300, "output_reasoning_tokens": 100}
# Anthropic's input_tokens=50 excludes 200 cache reads and 100 cache writes (60 for 5m, 40 for 1h).
MESSAGES = {
    "input_tokens": 350,
    "cache_read_tokens": 200,
    "cache_write_tokens": 100,
    "cache_write_5m_tokens": 60,
    "cache_write_1h_tokens": 40,
    "output_tokens": 20,
}


def test_anthropic_builtin_tracing_is_priced_with_cache_ttls() -> None:
    spans = genai_spans(capture("anthropic", "messages", "messages_stream"))
    assert [s["scope"] for s in spans] == ["com.anthropic.sdk.python"] * 2
    expected = oracle("claude-sonnet-4-5", "anthropic", **MESSAGES)
    for span in spans:
        attrs = span["attributes"]
        assert attrs["genai_cost.status"] == "priced"
        assert attrs["genai_cost.amount"] == pytest.approx(expected, abs=1e-12)
        assert attrs["genai_cost.trace.amount"] == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("setup", ["official", "openllmetry"])
def test_openai_instrumentation_spans_are_priced(setup: str) -> None:
    spans = genai_spans(capture(setup, "chat", "chat_stream", "embeddings", "async_chat", "responses"))
    assert len(spans) == 5, [s["name"] for s in spans]
    chat, stream, embeddings, async_chat, responses = (s["attributes"] for s in spans)
    expected_chat = oracle("gpt-4o-mini", "openai", **CHAT)
    for attrs in (chat, stream):
        assert attrs["genai_cost.status"] == "priced"
        assert attrs["genai_cost.amount"] == pytest.approx(expected_chat, abs=1e-12)
    assert async_chat["genai_cost.status"] == "priced"
    assert async_chat["genai_cost.amount"] == pytest.approx(
        oracle(
            "gpt-4o-mini",
            "openai",
            input_tokens=async_chat["gen_ai.usage.input_tokens"],
            output_tokens=async_chat["gen_ai.usage.output_tokens"],
            cache_read_tokens=async_chat.get("gen_ai.usage.cache_read.input_tokens", 0),
        ),
        abs=1e-12,
    )
    assert embeddings["genai_cost.amount"] == pytest.approx(
        oracle("text-embedding-3-small", "openai", input_tokens=embeddings["gen_ai.usage.input_tokens"]), abs=1e-15
    )
    assert embeddings["genai_cost.amount"] > 0
    assert responses["genai_cost.status"] == "priced"
    assert responses["genai_cost.amount"] == pytest.approx(
        oracle(
            responses["gen_ai.response.model"],
            "openai",
            input_tokens=responses["gen_ai.usage.input_tokens"],
            output_tokens=responses["gen_ai.usage.output_tokens"],
            cache_read_tokens=responses.get("gen_ai.usage.cache_read.input_tokens", 0),
        ),
        abs=1e-12,
    )


@pytest.mark.parametrize("call", ["chat", "embeddings", "responses"])
def test_official_and_openllmetry_together_price_each_call_once(call: str) -> None:
    spans = genai_spans(capture("both", call))
    statuses = sorted(s["attributes"]["genai_cost.status"] for s in spans)
    assert statuses == ["duplicate", "priced"], [(s["scope"], s["attributes"]) for s in spans]
    priced = next(s for s in spans if s["attributes"]["genai_cost.status"] == "priced")
    duplicate = next(s for s in spans if s["attributes"]["genai_cost.status"] == "duplicate")
    assert "genai_cost.amount" not in duplicate["attributes"]
    assert duplicate["attributes"]["genai_cost.duplicate_of"] == f"{priced['span_id']:016x}"
    # Summing genai_cost.amount over everything exported gives the true spend.
    total = sum(s["attributes"].get("genai_cost.amount", 0) for s in spans)
    assert total == priced["attributes"]["genai_cost.amount"]


@pytest.mark.parametrize("setup", ["official", "openllmetry", "ours+official"])
def test_an_azure_prompt_rejected_by_the_content_filter_is_no_usage(setup: str) -> None:
    """HTTP 400 with no usage: nothing was billed, whatever the deployment name -- not an
    unknown model (which would also count it among unpriced calls by model)."""
    spans = genai_spans(capture(setup, "azure_content_filter"))
    assert spans, "no GenAI span for the rejected call"
    for span in spans:
        attrs = span["attributes"]
        assert attrs.get("error.type"), attrs
        assert attrs["genai_cost.status"] in ("no_usage", "duplicate"), attrs
        assert "genai_cost.amount" not in attrs
    assert [s["attributes"]["genai_cost.status"] for s in spans].count("no_usage") == 1
