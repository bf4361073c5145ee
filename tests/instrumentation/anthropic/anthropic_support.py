"""Shared fixtures and oracles for the Anthropic instrumentation tests.

Not a conftest.py (it would shadow the root one, whose session pipeline these tests use): test
modules import what they need from here. The instrumentation is switched on per test module and
off after it, since it patches SDK classes process-wide.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
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

from genai_cost.instrumentation.anthropic import AnthropicInstrumentor
from genai_cost.testing import StubProvider

MODEL = "claude-haiku-4-5"
SNAPSHOT = "claude-haiku-4-5-20251001"
MESSAGES = [{"role": "user", "content": "Say this is a test"}]
API_KEY = "sk-ant-test-secret-key-do-not-record"
SDK_SCOPE = "com.anthropic.sdk.python"

# Every cost-relevant part of Anthropic usage at once: cache reads, 5-minute and 1-hour writes,
# and web searches (web fetches are free beyond their tokens).
RICH_USAGE: dict[str, Any] = {
    "input_tokens": 1200,
    "cache_read_input_tokens": 4000,
    "cache_creation_input_tokens": 3000,
    "cache_creation": {"ephemeral_5m_input_tokens": 1000, "ephemeral_1h_input_tokens": 2000},
    "server_tool_use": {"web_search_requests": 2, "web_fetch_requests": 3},
}


instrument, uninstrumented, instrumented, no_content_capture = instrumentation_fixtures(AnthropicInstrumentor)


@pytest.fixture
def client(stub: StubProvider) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=stub.url, api_key=API_KEY, max_retries=0) as claude:
        yield claude


@pytest.fixture
async def aclient(stub: StubProvider) -> Any:
    async with anthropic.AsyncAnthropic(base_url=stub.url, api_key=API_KEY, max_retries=0) as claude:
        yield claude


# --- oracles: genai-prices itself, and the usage exactly as the server sent it ---------------


def usage_of(wire: dict[str, Any]) -> dict[str, int]:
    """genai-prices usage from an Anthropic ``usage`` object as sent (input there excludes cache)."""
    creation = wire.get("cache_creation") or {}
    cache_read = wire.get("cache_read_input_tokens") or 0
    cache_write = wire.get("cache_creation_input_tokens") or 0
    usage = {
        "input_tokens": wire["input_tokens"] + cache_read + cache_write,
        "output_tokens": wire.get("output_tokens") or 0,
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
        "cache_write_5m_tokens": creation.get("ephemeral_5m_input_tokens") or 0,
        "cache_write_1h_tokens": creation.get("ephemeral_1h_input_tokens") or 0,
        "output_reasoning_tokens": (wire.get("output_tokens_details") or {}).get("thinking_tokens") or 0,
        "web_searches": (wire.get("server_tool_use") or {}).get("web_search_requests") or 0,
    }
    return {k: v for k, v in usage.items() if v}


def response_usage(body: Any) -> dict[str, Any]:
    """The usage a recorded response carried: a JSON body's, or a stream's merged in event order
    (``message_delta``'s cumulative counts over ``message_start``'s). Bedrock's eventstream wraps
    each event in ``{"chunk": ...}``."""
    if isinstance(body, dict):
        return dict(body["usage"])
    merged: dict[str, Any] = {}
    for item in body:
        event = item.get("chunk", item)
        if event.get("type") == "message_start":
            merged.update(event["message"]["usage"])
        elif event.get("type") == "message_delta":
            merged.update(event["usage"])
    return merged


def wire_usage(stub: StubProvider) -> dict[str, Any]:
    """The usage the server sent for the last call."""
    return response_usage(stub.last_request.response_body)


def oracle(model: str, usage: dict[str, int], *, provider: str = "anthropic") -> float:
    """genai-prices' own price for this usage (never our catalog)."""
    return genai_prices_cost(model, usage, provider)


def assert_priced(
    span_attributes: dict[str, Any], model: str, usage: dict[str, int], *, status: str = "priced", **kwargs: Any
) -> None:
    assert_priced_at(span_attributes, oracle(model, usage, **kwargs), status)
