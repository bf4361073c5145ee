"""Shared fixtures for the LiteLLM tests (imported, not a conftest). LiteLLM routes to the stub's
OpenAI and Anthropic wire formats through ``api_base``; our openai and anthropic instrumentations
are on too, as in an application that uses both."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# LiteLLM fetches its price map from GitHub at import unless told not to (tests run offline).
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from conftest import (  # noqa: F401 - re-exported to the test modules
    PRICE_TOLERANCE,
    assert_priced_at,
    attrs,
    genai_prices_cost,
    genai_spans,
    only_span,
)

from genai_cost.instrumentation.anthropic import AnthropicInstrumentor
from genai_cost.instrumentation.litellm import LiteLLMInstrumentor
from genai_cost.instrumentation.openai import OpenAIInstrumentor

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"
MESSAGES = [{"role": "user", "content": "Say this is a test"}]
KEY = "sk-test-not-a-real-key"


@pytest.fixture(scope="module", autouse=True)
def instrumented() -> Iterator[None]:
    instrumentors = (LiteLLMInstrumentor(), OpenAIInstrumentor(), AnthropicInstrumentor())
    for instrumentor in instrumentors:
        instrumentor.instrument()
    yield
    for instrumentor in instrumentors:
        instrumentor.uninstrument()


@pytest.fixture(autouse=True)
def no_content_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", raising=False)


def openai_usage(wire: dict) -> dict[str, int]:
    """genai-prices usage from an OpenAI chat ``usage`` as sent."""
    usage = {
        "input_tokens": wire["prompt_tokens"],
        "output_tokens": wire.get("completion_tokens") or 0,
        "cache_read_tokens": (wire.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
        "output_reasoning_tokens": (wire.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0,
    }
    return {k: v for k, v in usage.items() if v}


def anthropic_usage(wire: dict) -> dict[str, int]:
    """genai-prices usage from an Anthropic ``usage`` as sent (input there excludes cache)."""
    read = wire.get("cache_read_input_tokens") or 0
    write = wire.get("cache_creation_input_tokens") or 0
    usage = {
        "input_tokens": wire["input_tokens"] + read + write,
        "output_tokens": wire.get("output_tokens") or 0,
        "cache_read_tokens": read,
        "cache_write_tokens": write,
    }
    return {k: v for k, v in usage.items() if v}


def stream_usage(body: list, provider: str) -> dict:
    """The usage a streamed response carried (OpenAI: the usage chunk; Anthropic: merged events)."""
    merged: dict = {}
    for event in body:
        if provider == "openai" and event.get("usage"):
            merged = dict(event["usage"])
        elif event.get("type") == "message_start":
            merged.update(event["message"]["usage"])
        elif event.get("type") == "message_delta":
            merged.update(event["usage"])
    return merged
