"""Shared fixtures and oracles for the Cohere instrumentation tests (not a conftest: it would
shadow the root one). The SDK talks HTTP to the stub's Cohere wire, served under ``/cohere``."""

from __future__ import annotations

from typing import Any

import cohere
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

from genai_cost.instrumentation.cohere import CohereInstrumentor
from genai_cost.testing import StubProvider
from genai_cost.testing.cohere_wire import PREFIX

MODEL = "command-a"  # priced by genai-prices, by the request's name (v2 chat answers with none)
V1_MODEL = "command-r"
MESSAGES = [{"role": "user", "content": "Say this is a test"}]
API_KEY = "cohere-test-secret-key-do-not-record"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]

instrument, uninstrumented, instrumented, no_content_capture = instrumentation_fixtures(CohereInstrumentor)


def base_url(stub: StubProvider) -> str:
    return f"{stub.url}{PREFIX}"


def make(client_type: type, stub: StubProvider) -> Any:
    """A client that never retries (a retry would consume a scripted error); SDKs before
    max_retries= take it per request only, and the stub then scripts the error for each attempt."""
    try:
        return client_type(api_key=API_KEY, base_url=base_url(stub), max_retries=0)
    except TypeError:
        return client_type(api_key=API_KEY, base_url=base_url(stub))


@pytest.fixture
def v2(stub: StubProvider) -> Any:
    return make(cohere.ClientV2, stub)


@pytest.fixture
def av2(stub: StubProvider) -> Any:
    return make(cohere.AsyncClientV2, stub)


@pytest.fixture
def v1(stub: StubProvider) -> Any:
    return make(cohere.Client, stub)


@pytest.fixture
def av1(stub: StubProvider) -> Any:
    return make(cohere.AsyncClient, stub)


def billed_units(stub: StubProvider) -> dict[str, Any]:
    """What the server billed for the last call: a JSON body's, or a stream's last event's."""
    body = stub.last_request.response_body
    if isinstance(body, list):
        body = body[-1]
        body = body.get("response") or body.get("delta") or body
    return dict((body.get("usage") or body.get("meta"))["billed_units"])


def usage_of(billed: dict[str, Any]) -> dict[str, int]:
    return {"input_tokens": billed.get("input_tokens") or 0, "output_tokens": billed.get("output_tokens") or 0}


def assert_priced(
    span_attributes: dict[str, Any], model: str, usage: dict[str, int], *, status: str = "priced"
) -> None:
    assert_priced_at(span_attributes, genai_prices_cost(model, usage, "cohere"), status)
