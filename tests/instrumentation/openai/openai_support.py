"""Shared fixtures and oracles for the OpenAI instrumentation tests.

Not a conftest.py: a second module named ``conftest`` would shadow the root one, whose session
pipeline (tracer provider -> cost processor -> in-memory exporter) these tests use. Test modules
import the fixtures they need from here.

The instrumentation is switched on for each test module and off again after it: it patches SDK
classes process-wide, and other suites use the bare SDK (the stub server's own tests assert on
the exact request bodies the SDK sends).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import openai
import pytest
from conftest import (  # noqa: F401 - re-exported to the test modules
    PRICE_TOLERANCE as TOLERANCE,
    assert_priced_at,
    assert_usage,
    attrs,
    genai_prices_cost,
    genai_spans,
    instrumentation_fixtures,
    only_span,
)

from genai_cost.instrumentation.openai import OpenAIInstrumentor
from genai_cost.testing import StubProvider

MESSAGES = [{"role": "user", "content": "Say this is a test"}]
API_KEY = "sk-test-secret-key-do-not-record"


instrument, uninstrumented, instrumented, no_content_capture = instrumentation_fixtures(OpenAIInstrumentor)


@pytest.fixture
def client(stub: StubProvider) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=stub.base_url, api_key=API_KEY, max_retries=0) as oai:
        yield oai


@pytest.fixture
async def aclient(stub: StubProvider) -> Any:
    async with openai.AsyncOpenAI(base_url=stub.base_url, api_key=API_KEY, max_retries=0) as oai:
        yield oai


# --- reading spans ---------------------------------------------------------------------------


# --- oracles: genai-prices itself, and the usage exactly as the server sent it ---------------


def oracle(model: str, usage: dict[str, int], *, provider: str = "openai", tier: str | None = None) -> float:
    """genai-prices' own price for this usage (never our catalog)."""
    return genai_prices_cost(model, usage, provider, {"service_tier": tier} if tier else None)


def chat_usage_of(wire: dict[str, Any]) -> dict[str, int]:
    """genai-prices usage from a chat/completions ``usage`` JSON object as sent on the wire."""
    prompt = wire.get("prompt_tokens_details") or {}
    completion = wire.get("completion_tokens_details") or {}
    usage = {
        "input_tokens": wire["prompt_tokens"],
        "output_tokens": wire.get("completion_tokens") or 0,
        "cache_read_tokens": prompt.get("cached_tokens") or 0,
        "cache_write_tokens": prompt.get("cache_write_tokens") or 0,
        "output_reasoning_tokens": completion.get("reasoning_tokens") or 0,
        "input_audio_tokens": prompt.get("audio_tokens") or 0,
        "output_audio_tokens": completion.get("audio_tokens") or 0,
    }
    return {k: v for k, v in usage.items() if v}


def responses_usage_of(wire: dict[str, Any], web_searches: int = 0) -> dict[str, int]:
    details = wire.get("input_tokens_details") or {}
    usage = {
        "input_tokens": wire["input_tokens"],
        "output_tokens": wire["output_tokens"],
        "cache_read_tokens": details.get("cached_tokens") or 0,
        "cache_write_tokens": details.get("cache_write_tokens") or 0,
        "output_reasoning_tokens": (wire.get("output_tokens_details") or {}).get("reasoning_tokens") or 0,
        "web_searches": web_searches,
    }
    return {k: v for k, v in usage.items() if v}


def assert_priced(span_attributes: dict[str, Any], model: str, usage: dict[str, int], **kwargs: Any) -> None:
    assert_priced_at(span_attributes, oracle(model, usage, **kwargs))
