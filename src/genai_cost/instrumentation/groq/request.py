"""What a groq SDK call asks for: who serves it, and the request attributes of its span.

Read from the caller's keyword arguments (``chat.completions.create`` and ``embeddings.create``
take keyword arguments only), never from the HTTP request the SDK builds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from genai_cost import attributes as attr
from genai_cost.budget.estimate import count_input_tokens
from genai_cost.instrumentation._chat_shape import request_messages
from genai_cost.instrumentation._read import given, put_given

GROQ = "groq"  # semconv's well-known gen_ai.provider.name
CHAT = "chat"
EMBEDDINGS = "embeddings"
RAW_RESPONSE_HEADER = "x-stainless-raw-response"


@dataclass(frozen=True, slots=True)
class Server:
    provider_name: str
    address: str | None
    port: int | None


@lru_cache(maxsize=256)
def _server(host: str | None, port: int | None, scheme: str) -> Server:
    if port is None:
        port = 443 if scheme == "https" else 80 if scheme == "http" else None
    return Server(GROQ, host, port)


def server_of(resource: Any) -> Server:
    """The endpoint behind an SDK resource (``client.chat.completions``, ``client.embeddings``)."""
    base_url = getattr(getattr(resource, "_client", None), "base_url", None)
    if base_url is None:
        return Server(GROQ, None, None)
    host = getattr(base_url, "host", None) or None
    return _server(host, getattr(base_url, "port", None), str(getattr(base_url, "scheme", "") or ""))


@dataclass(slots=True)
class Request:
    """One call as the caller made it: what the span starts with, and what streams need later."""

    operation: str
    model: str | None
    kwargs: Mapping[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    # with_raw_response / with_streaming_response: the caller reads the body itself.
    raw: bool = False
    capture_content: bool = False


def _raw(kwargs: Mapping[str, Any]) -> bool:
    headers = given(kwargs.get("extra_headers"))
    return isinstance(headers, Mapping) and any(
        isinstance(key, str) and key.lower() == RAW_RESPONSE_HEADER for key in headers
    )


def chat_request(kwargs: Mapping[str, Any], capture: bool) -> Request:
    model = given(kwargs.get("model"))
    stream = given(kwargs.get("stream")) is True
    request = Request(
        CHAT,
        model if isinstance(model, str) else None,
        kwargs,
        stream=stream,
        raw=_raw(kwargs),
        capture_content=capture,
    )
    attributes = request.attributes
    if stream:
        attributes[attr.REQUEST_STREAM] = True
    max_tokens = given(kwargs.get("max_completion_tokens"))
    put_given(
        attributes, attr.REQUEST_MAX_TOKENS, max_tokens if max_tokens is not None else kwargs.get("max_tokens"), int
    )
    put_given(attributes, attr.REQUEST_TEMPERATURE, kwargs.get("temperature"), (int, float))
    put_given(attributes, attr.REQUEST_TOP_P, kwargs.get("top_p"), (int, float))
    put_given(attributes, attr.REQUEST_SEED, kwargs.get("seed"), int)
    put_given(attributes, attr.REQUEST_PRESENCE_PENALTY, kwargs.get("presence_penalty"), (int, float))
    put_given(attributes, attr.REQUEST_FREQUENCY_PENALTY, kwargs.get("frequency_penalty"), (int, float))
    n = given(kwargs.get("n"))
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:
        attributes[attr.REQUEST_CHOICE_COUNT] = n
    stop = given(kwargs.get("stop"))
    if isinstance(stop, str):
        attributes[attr.REQUEST_STOP_SEQUENCES] = [stop]
    elif isinstance(stop, list | tuple) and stop and all(isinstance(s, str) for s in stop):
        attributes[attr.REQUEST_STOP_SEQUENCES] = list(stop)
    if capture:
        request_messages(given(kwargs.get("messages")), attributes)
    return request


def embeddings_request(kwargs: Mapping[str, Any], capture: bool) -> Request:
    model = given(kwargs.get("model"))
    request = Request(EMBEDDINGS, model if isinstance(model, str) else None, kwargs, raw=_raw(kwargs))
    encoding = given(kwargs.get("encoding_format"))
    if isinstance(encoding, str):
        request.attributes[attr.REQUEST_ENCODING_FORMATS] = [encoding]
    return request


def budget_input_tokens(kwargs: Mapping[str, Any]) -> int:
    """The request's input, counted offline and conservatively (``budget.estimate``): messages and
    tool definitions, or the texts to embed."""
    parts = (given(kwargs.get(name)) for name in ("messages", "tools", "input"))
    return sum(count_input_tokens(part) for part in parts if part is not None)
