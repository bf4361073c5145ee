"""Shared fixtures and oracles for the Mistral instrumentation tests.

Not a conftest.py (it would shadow the root one, whose session pipeline these tests use): test
modules import what they need from here. The SDK talks HTTP to the stub's Mistral wire
(``genai_cost.testing.mistral_wire``), served under ``/mistral``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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

from genai_cost.instrumentation.mistral import MistralInstrumentor
from genai_cost.testing import StubProvider
from genai_cost.testing.mistral_wire import PREFIX

try:  # mistralai 2.0 and later
    from mistralai.client import Mistral
    from mistralai.client.utils import eventstreaming
except ImportError:  # 1.x
    from mistralai import Mistral  # type: ignore[attr-defined,no-redef]
    from mistralai.utils import eventstreaming  # type: ignore[no-redef]

# Streams are generators (which close()) before 1.2, EventStream objects since, which gained close()
# beside their context manager in later releases: a test of close() needs it.
_stream_type = getattr(eventstreaming, "EventStream", None)
needs_stream_close = pytest.mark.skipif(
    _stream_type is not None and not hasattr(_stream_type, "close"), reason="this mistralai's streams have no close()"
)

MODEL = "mistral-small-latest"
MESSAGES = [{"role": "user", "content": "Say this is a test"}]
API_KEY = "mistral-test-secret-key-do-not-record"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]

instrument, uninstrumented, instrumented, no_content_capture = instrumentation_fixtures(MistralInstrumentor)


def server_url(stub: StubProvider) -> str:
    return f"{stub.url}{PREFIX}"


@pytest.fixture
def client(stub: StubProvider) -> Iterator[Any]:
    yield Mistral(api_key=API_KEY, server_url=server_url(stub))


def usage_of(wire: dict[str, Any]) -> dict[str, int]:
    """genai-prices usage from a Mistral ``usage`` object as sent (prompt includes cached)."""
    usage = {
        "input_tokens": wire.get("prompt_tokens") or 0,
        "output_tokens": wire.get("completion_tokens") or 0,
        "cache_read_tokens": (wire.get("prompt_tokens_details") or {}).get("cached_tokens") or 0,
    }
    return {k: v for k, v in usage.items() if v or k == "input_tokens"}


def wire_usage(stub: StubProvider) -> dict[str, Any]:
    """The usage the server sent for the last call: a JSON body's, or a stream's last chunk's."""
    body = stub.last_request.response_body
    if isinstance(body, dict):
        return dict(body["usage"])
    return dict(next(chunk["usage"] for chunk in reversed(body) if chunk.get("usage")))


def assert_priced(
    span_attributes: dict[str, Any], model: str, usage: dict[str, int], *, status: str = "priced"
) -> None:
    """The span carries genai-prices' own price for this usage (never our catalog's)."""
    assert_priced_at(span_attributes, genai_prices_cost(model, usage, "mistral"), status)
