"""Shared fixtures and oracles for the Together instrumentation tests (not a conftest: it would
shadow the root one). The SDK talks HTTP to the stub's Together wire, served under ``/together``."""

from __future__ import annotations

from typing import Any

import pytest
import together
from conftest import (  # noqa: F401 - re-exported to the test modules
    assert_priced_at,
    assert_usage,
    attrs,
    genai_prices_cost,
    genai_spans,
    instrumentation_fixtures,
    only_span,
)

from genai_cost.instrumentation.together import TogetherInstrumentor
from genai_cost.testing import StubProvider
from genai_cost.testing.together_wire import PREFIX

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "user", "content": "Say this is a test"}]
API_KEY = "together-test-secret-key-do-not-record"

instrument, uninstrumented, instrumented, no_content_capture = instrumentation_fixtures(TogetherInstrumentor)


# together 2.x's base URL ends in /v1 and its paths do not start with it; 3.x the other way round.
_VERSIONED_BASE = str(together.Together(api_key="probe").base_url).rstrip("/").endswith("/v1")


def base_url(stub: StubProvider) -> str:
    return f"{stub.url}{PREFIX}" + ("/v1" if _VERSIONED_BASE else "")


@pytest.fixture
def client(stub: StubProvider) -> Any:
    return together.Together(api_key=API_KEY, base_url=base_url(stub), max_retries=0)


@pytest.fixture
def aclient(stub: StubProvider) -> Any:
    return together.AsyncTogether(api_key=API_KEY, base_url=base_url(stub), max_retries=0)


def usage_of(wire: dict[str, Any]) -> dict[str, int]:
    return {"input_tokens": wire.get("prompt_tokens") or 0, "output_tokens": wire.get("completion_tokens") or 0}


def wire_usage(stub: StubProvider) -> dict[str, Any]:
    body = stub.last_request.response_body
    if isinstance(body, dict):
        return dict(body["usage"])
    return dict(next(c["usage"] for c in reversed(body) if c.get("usage")))


def assert_priced(
    span_attributes: dict[str, Any], model: str, usage: dict[str, int], *, status: str = "priced"
) -> None:
    assert_priced_at(span_attributes, genai_prices_cost(model, usage, "together"), status)
