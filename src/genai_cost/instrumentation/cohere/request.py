"""What a cohere SDK call asks for: who serves it, and the request attributes of its span.

Read from the caller's keyword arguments (every wrapped method takes keyword arguments only). The
v2 API takes OpenAI-shaped ``messages``; the v1 API a ``message`` with ``preamble`` and
``chat_history`` (chat) or a ``prompt`` (generate).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from genai_cost import attributes as attr
from genai_cost.budget.estimate import count_input_tokens
from genai_cost.instrumentation._chat_shape import request_messages
from genai_cost.instrumentation._content import to_json
from genai_cost.instrumentation._read import get, given, put_given
from genai_cost.instrumentation._server import Server, server_from_url

COHERE = "cohere"  # semconv's well-known gen_ai.provider.name
CHAT = "chat"
TEXT_COMPLETION = "text_completion"  # v1 generate
EMBEDDINGS = "embeddings"
RERANK = "rerank"


def server_of(client: Any) -> Server:
    """The endpoint behind a client (``Client``, ``ClientV2``, ``AsyncClient`` ...)."""
    try:
        url = str(client._client_wrapper.get_base_url())
    except Exception:  # a client whose wrapper we do not know
        return Server(COHERE, None, None)
    return server_from_url(COHERE, url)


@dataclass(slots=True)
class Request:
    """One call as the caller made it: what the span starts with, and what streams need later."""

    operation: str
    model: str | None
    kwargs: Mapping[str, Any]
    v2: bool
    attributes: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    capture_content: bool = False


def describe(operation: str, v2: bool, stream: bool, kwargs: Mapping[str, Any], capture: bool) -> Request:
    model = given(kwargs.get("model"))
    request = Request(
        operation,
        model if isinstance(model, str) and model else None,
        kwargs,
        v2,
        stream=stream,
        capture_content=capture and operation in (CHAT, TEXT_COMPLETION),
    )
    attributes = request.attributes
    if stream:
        attributes[attr.REQUEST_STREAM] = True
    put_given(attributes, attr.REQUEST_MAX_TOKENS, kwargs.get("max_tokens"), int)
    put_given(attributes, attr.REQUEST_TEMPERATURE, kwargs.get("temperature"), (int, float))
    put_given(attributes, attr.REQUEST_TOP_P, kwargs.get("p"), (int, float))
    put_given(attributes, attr.REQUEST_TOP_K, kwargs.get("k"), int)
    put_given(attributes, attr.REQUEST_SEED, kwargs.get("seed"), int)
    put_given(attributes, attr.REQUEST_PRESENCE_PENALTY, kwargs.get("presence_penalty"), (int, float))
    put_given(attributes, attr.REQUEST_FREQUENCY_PENALTY, kwargs.get("frequency_penalty"), (int, float))
    generations = given(kwargs.get("num_generations"))
    if isinstance(generations, int) and not isinstance(generations, bool) and generations != 1:
        attributes[attr.REQUEST_CHOICE_COUNT] = generations
    stop = given(kwargs.get("stop_sequences"))
    if isinstance(stop, list | tuple) and stop and all(isinstance(s, str) for s in stop):
        attributes[attr.REQUEST_STOP_SEQUENCES] = list(stop)
    kinds = given(kwargs.get("embedding_types"))
    if operation == EMBEDDINGS and isinstance(kinds, list | tuple) and all(isinstance(k, str) for k in kinds):
        attributes[attr.REQUEST_ENCODING_FORMATS] = list(kinds)
    if request.capture_content:
        _request_content(request, kwargs, attributes)
    return request


def _request_content(request: Request, kwargs: Mapping[str, Any], attributes: dict[str, Any]) -> None:
    if request.v2:
        request_messages(given(kwargs.get("messages")), attributes)
        return
    # v1: the history (USER / CHATBOT / SYSTEM turns), then the message or the prompt.
    turns = []
    for turn in given(kwargs.get("chat_history")) or ():
        role = str(get(turn, "role") or "").lower()
        turns.append({"role": {"chatbot": "assistant"}.get(role, role), "parts": _text(get(turn, "message"))})
    text = given(kwargs.get("message")) if request.operation == CHAT else given(kwargs.get("prompt"))
    turns.append({"role": "user", "parts": _text(text)})
    attributes[attr.INPUT_MESSAGES] = to_json(turns)
    preamble = given(kwargs.get("preamble"))
    if isinstance(preamble, str) and preamble:
        attributes[attr.SYSTEM_INSTRUCTIONS] = to_json(_text(preamble))


def _text(value: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "content": value}] if isinstance(value, str) and value else []


def budget_input_tokens(kwargs: Mapping[str, Any]) -> int:
    """The request's input, counted offline and conservatively (``budget.estimate``)."""
    names = ("messages", "tools", "message", "preamble", "chat_history", "prompt", "texts", "query", "documents")
    return sum(count_input_tokens(part) for part in (given(kwargs.get(n)) for n in names) if part is not None)
