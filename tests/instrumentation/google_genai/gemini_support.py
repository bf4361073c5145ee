"""Shared fixtures and oracles for the google-genai instrumentation tests (see openai_support.py
for why this is not a conftest.py). The instrumentation is on for each test module and off after.

The oracle is genai-prices itself, twice over: its own Google usage extractor reads the
``usageMetadata`` exactly as the stub sent it, and its ``calc_price`` prices that usage.
"""

from __future__ import annotations

from typing import Any

import pytest
from genai_prices import calc_price, extract_usage
from google import genai
from google.genai import types
from google.oauth2.credentials import Credentials
from opentelemetry.sdk.trace import ReadableSpan

from conftest import (  # noqa: F401 - re-exported for the test modules
    PRICE_TOLERANCE as TOLERANCE,
    assert_priced_at,
    attrs,
    genai_spans,
    instrumentation_fixtures,
    only_span,
)
from genai_cost.instrumentation.google_genai import GoogleGenAIInstrumentor
from genai_cost.testing import StubProvider

API_KEY = "gemini-test-secret-key-do-not-record"
PROJECT, LOCATION = "fake-project", "us-central1"
PROMPT = "Say this is a test"
NO_RETRIES = types.HttpRetryOptions(attempts=1)


instrument, _, instrumented, no_content_capture = instrumentation_fixtures(GoogleGenAIInstrumentor)


def gemini_client(stub: StubProvider) -> genai.Client:
    """The Gemini API (``gcp.gemini``), at the stub. Hold the client in a variable while using
    it: a ``genai.Client`` closes its HTTP client when it is collected."""
    options = types.HttpOptions(base_url=stub.url, api_version="v1beta", retry_options=NO_RETRIES)
    return genai.Client(api_key=API_KEY, http_options=options)


def vertex_client(stub: StubProvider, api_version: str = "v1") -> genai.Client:
    """Vertex AI (``gcp.vertex_ai``), at the stub: a ready OAuth token, so nothing refreshes."""
    options = types.HttpOptions(base_url=stub.url, api_version=api_version, retry_options=NO_RETRIES)
    return genai.Client(
        vertexai=True,
        project=PROJECT,
        location=LOCATION,
        credentials=Credentials(token="test-oauth-token"),  # a dummy: nothing checks it
        http_options=options,
    )


@pytest.fixture(params=["gemini", "vertex"])
def client(request: pytest.FixtureRequest, stub: StubProvider) -> genai.Client:
    return gemini_client(stub) if request.param == "gemini" else vertex_client(stub)


def model_path(client: genai.Client, model: str, method: str) -> str:
    """The path google-genai posts to for ``model``'s ``method`` on this client."""
    if client.vertexai:
        return f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/{model}:{method}"
    return f"/v1beta/models/{model}:{method}"


def provider_of(client: genai.Client) -> str:
    return "gcp.vertex_ai" if client.vertexai else "gcp.gemini"


# --- oracles ---------------------------------------------------------------------------------


def oracle(document: dict[str, Any], model: str) -> float:
    """genai-prices' price for a response document as sent on the wire."""
    usage = extract_usage(document, provider_id="google").usage
    return float(calc_price(usage, model, provider_id="google").total_price)


def assert_priced(span: ReadableSpan, document: dict[str, Any], model: str) -> None:
    """Priced, and to the oracle's amount; the parts sum to the amount."""
    a = attrs(span)
    assert_priced_at(a, oracle(document, model))
    parts = sum(a.get(f"genai_cost.{p}", 0.0) for p in ("input", "output", "cache_read", "cache_write", "tools"))
    assert parts == pytest.approx(a["genai_cost.amount"], abs=TOLERANCE)


def assert_usage(span: ReadableSpan, metadata: dict[str, Any]) -> None:
    """Span usage in semconv terms, from ``usageMetadata`` as sent: input = prompt (cache
    included) + tool-use prompt, output = candidates + thoughts."""
    a = attrs(span)
    thoughts = metadata.get("thoughtsTokenCount", 0)
    assert a["gen_ai.usage.input_tokens"] == metadata["promptTokenCount"] + metadata.get("toolUsePromptTokenCount", 0)
    assert a["gen_ai.usage.output_tokens"] == metadata.get("candidatesTokenCount", 0) + thoughts
    assert a.get("gen_ai.usage.reasoning.output_tokens", 0) == thoughts
    assert a.get("gen_ai.usage.cache_read.input_tokens", 0) == metadata.get("cachedContentTokenCount", 0)
