"""What a mistralai SDK call asks for: who serves it, and the request attributes of its span.

Read from the caller's keyword arguments (every ``mistralai`` method takes keyword arguments only),
never from the HTTP request the SDK builds. The endpoint is the client's ``server_url`` (or the
method's own ``server_url=`` override), else the SDK's default server.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from genai_cost import attributes as attr
from genai_cost.budget.estimate import count_input_tokens
from genai_cost.instrumentation._read import given, put_given
from genai_cost.instrumentation._server import Server, server_from_url
from genai_cost.instrumentation.mistral import content

MISTRAL_AI = "mistral_ai"  # semconv's well-known gen_ai.provider.name
DEFAULT_SERVER_URL = "https://api.mistral.ai"

CHAT = "chat"
TEXT_COMPLETION = "text_completion"  # fill-in-the-middle
EMBEDDINGS = "embeddings"
INVOKE_AGENT = "invoke_agent"  # agents.complete: the agent picks the model (Mistral's own tracing says so too)


def server_of(resource: Any, kwargs: Mapping[str, Any]) -> Server:
    """The endpoint behind an SDK resource (``client.chat``, ``client.fim`` ...) for this call."""
    url = given(kwargs.get("server_url"))
    if not isinstance(url, str) or not url:
        try:
            url = resource.sdk_configuration.get_server_details()[0]
        except Exception:  # an SDK whose configuration we do not know: the default server
            url = DEFAULT_SERVER_URL
    return server_from_url(MISTRAL_AI, str(url))


@dataclass(slots=True)
class Request:
    """One call as the caller made it: what the span starts with, and what streams need later."""

    operation: str
    model: str | None
    kwargs: Mapping[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    capture_content: bool = False


def describe(operation: str, kwargs: Mapping[str, Any], capture: bool, *, stream: bool = False) -> Request:
    """Any wrapped method: ``chat.*``, ``fim.*``, ``embeddings.create``, ``agents.*``."""
    model = given(kwargs.get("model"))
    request = Request(
        operation,
        model if isinstance(model, str) and model else None,
        kwargs,
        stream=stream,
        capture_content=capture,
    )
    attributes = request.attributes
    if stream:
        attributes[attr.REQUEST_STREAM] = True
    agent_id = given(kwargs.get("agent_id"))
    if isinstance(agent_id, str):
        attributes[attr.AGENT_ID] = agent_id
    put_given(attributes, attr.REQUEST_MAX_TOKENS, kwargs.get("max_tokens"), int)
    put_given(attributes, attr.REQUEST_TEMPERATURE, kwargs.get("temperature"), (int, float))
    put_given(attributes, attr.REQUEST_TOP_P, kwargs.get("top_p"), (int, float))
    put_given(attributes, attr.REQUEST_SEED, kwargs.get("random_seed"), int)
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
    if capture and operation != EMBEDDINGS:
        content.request_content(kwargs, attributes)
    return request


def budget_input_tokens(kwargs: Mapping[str, Any]) -> int:
    """The request's input, counted offline and conservatively (``budget.estimate``): messages and
    tool definitions, a fill-in-the-middle prompt and suffix, or the texts to embed."""
    parts = (given(kwargs.get(name)) for name in ("messages", "tools", "prompt", "suffix", "inputs", "input"))
    return sum(count_input_tokens(part) for part in parts if isinstance(part, str | list | tuple | dict))
