"""Shared fixtures and oracles for the Groq instrumentation tests (not a conftest: it would shadow
the root one). The SDK talks HTTP to the stub's Groq wire (``genai_cost.testing.groq_wire``)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import groq
import pytest
from conftest import (  # noqa: F401 - re-exported to the test modules
    assert_priced_at,
    assert_usage,
    attrs,
    genai_prices_cost,
    genai_spans,
    instrumentation_fixtures,
    only_span,
)

from genai_cost.instrumentation.groq import GroqInstrumentor
from genai_cost.testing import StubProvider

MODEL = "llama-3.3-70b-versatile"
CACHING_MODEL = "openai/gpt-oss-120b"  # priced with a cache-read rate
MESSAGES = [{"role": "user", "content": "Say this is a test"}]
API_KEY = "gsk-test-secret-key-do-not-record"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]

instrument, uninstrumented, instrumented, no_content_capture = instrumentation_fixtures(GroqInstrumentor)


@pytest.fixture
def client(stub: StubProvider) -> Iterator[groq.Groq]:
    with groq.Groq(api_key=API_KEY, base_url=stub.url, max_retries=0) as sdk:
        yield sdk


@pytest.fixture
async def aclient(stub: StubProvider) -> Any:
    async with groq.AsyncGroq(api_key=API_KEY, base_url=stub.url, max_retries=0) as sdk:
        yield sdk


def usage_of(wire: dict[str, Any]) -> dict[str, int]:
    """genai-prices usage from a Groq ``usage`` object as sent (prompt includes cached, completion reasoning)."""
    usage = {
        "input_tokens": wire.get("prompt_tokens") or 0,
        "output_tokens": wire.get("completion_tokens") or 0,
        "cache_read_tokens": (wire.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
        "output_reasoning_tokens": (wire.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0,
    }
    return {k: v for k, v in usage.items() if v or k == "input_tokens"}


def wire_usage(stub: StubProvider) -> dict[str, Any]:
    """The usage the server sent for the last call: a JSON body's, or a stream's ``x_groq.usage``."""
    body = stub.last_request.response_body
    if isinstance(body, dict):
        return dict(body["usage"])
    return dict(next(c["x_groq"]["usage"] for c in reversed(body) if (c.get("x_groq") or {}).get("usage")))


def assert_priced(
    span_attributes: dict[str, Any], model: str, usage: dict[str, int], *, status: str = "priced"
) -> None:
    assert_priced_at(span_attributes, genai_prices_cost(model, usage, "groq"), status)
