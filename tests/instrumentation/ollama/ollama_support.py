"""Shared fixtures for the Ollama instrumentation tests (imported, not a conftest: see the
Anthropic support module). Local models have no list price, so most tests price them through a
per-token custom price installed for the test (``priced``); the oracle is that price itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import ollama
import pytest
from conftest import (  # noqa: F401 - re-exported to the test modules
    PRICE_TOLERANCE,
    attrs,
    genai_spans,
    instrumentation_fixtures,
    only_span,
)

from genai_cost.instrumentation.ollama import OllamaInstrumentor
from genai_cost.pricing import CustomPrice, PriceCatalog, PriceOverrides, catalog, set_catalog
from genai_cost.testing import StubProvider

MODEL = "llama3.2"
CHEAP = "llama3.2:1b"
EMBEDDER = "nomic-embed-text"
MESSAGES = [{"role": "user", "content": "Say this is a test"}]
# USD per million tokens, as a team would state its own cost for a local model.
PRICES = {MODEL: (0.20, 0.60), CHEAP: (0.05, 0.10), EMBEDDER: (0.01, 0.0)}

instrument, uninstrumented, instrumented, no_content_capture = instrumentation_fixtures(OllamaInstrumentor)


def custom_prices() -> tuple[CustomPrice, ...]:
    return tuple(
        CustomPrice(model=model, provider="ollama", input_per_mtok=i, output_per_mtok=o)
        for model, (i, o) in PRICES.items()
    )


@pytest.fixture
def priced() -> Iterator[PriceCatalog]:
    """The process catalog with per-token prices for the local models, for one test."""
    previous = catalog()
    installed = PriceCatalog(PriceOverrides(custom_models=custom_prices()))
    set_catalog(installed)
    yield installed
    set_catalog(previous)


# Not `with Client(...)`: ollama 0.6.0's clients are no context managers (0.6.x later added it).
@pytest.fixture
def client(stub: StubProvider) -> ollama.Client:
    return ollama.Client(host=stub.url)


@pytest.fixture
def aclient(stub: StubProvider) -> ollama.AsyncClient:
    return ollama.AsyncClient(host=stub.url)


def wire_counts(stub: StubProvider) -> tuple[int, int]:
    """(prompt_eval_count, eval_count) of the last response, or of a stream's final line."""
    body = stub.last_request.response_body
    final = body[-1] if isinstance(body, list) else body
    return final.get("prompt_eval_count", 0), final.get("eval_count", 0)


def expected_cost(model: str, counts: tuple[int, int]) -> float:
    rate_in, rate_out = PRICES[model]
    return counts[0] * rate_in / 1e6 + counts[1] * rate_out / 1e6


def assert_priced(span_attributes: dict[str, Any], model: str, counts: tuple[int, int]) -> None:
    assert span_attributes["genai_cost.status"] == "priced", span_attributes.get("genai_cost.status.detail")
    assert span_attributes["gen_ai.usage.input_tokens"] == counts[0]
    assert span_attributes["gen_ai.usage.output_tokens"] == counts[1]
    assert span_attributes["genai_cost.amount"] == pytest.approx(expected_cost(model, counts), abs=PRICE_TOLERANCE)
    assert span_attributes["genai_cost.price.source"] == "override"
