"""What an anthropic SDK call asks for: who serves it, and the request attributes of its span.

Read from the caller's keyword arguments (every ``messages`` method takes keyword arguments only),
never from the HTTP request the SDK builds: the Bedrock and Vertex clients move ``model`` from the
body into the URL, and the caller's own spelling (an inference-profile id, a ``@`` version) is what
the price depends on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from genai_cost import attributes as attr
from genai_cost.budget.estimate import count_input_tokens
from genai_cost.instrumentation._content import to_json
from genai_cost.instrumentation._read import given

ANTHROPIC = "anthropic"
AWS_BEDROCK = "aws.bedrock"
GCP_VERTEX_AI = "gcp.vertex_ai"

# Client classes live in these SDK packages; matching on the module keeps this file free of
# anthropic imports (the Bedrock and Vertex extras may be absent) and covers the Mantle client.
_CLIENT_PACKAGES = (
    ("anthropic.lib.bedrock", AWS_BEDROCK),
    ("anthropic.lib.vertex", GCP_VERTEX_AI),
)


@dataclass(frozen=True, slots=True)
class Server:
    provider_name: str
    address: str | None
    port: int | None

    @property
    def prices_by_request_model(self) -> bool:
        """Bedrock and Vertex answer with the bare model name; the request's inference profile or
        ``@`` version is what selects the price."""
        return self.provider_name != ANTHROPIC


@lru_cache(maxsize=256)
def _server(client_type: type, host: str | None, port: int | None, scheme: str) -> Server:
    module = client_type.__module__
    provider = next((name for package, name in _CLIENT_PACKAGES if module.startswith(package)), ANTHROPIC)
    if port is None:
        port = 443 if scheme == "https" else 80 if scheme == "http" else None
    return Server(provider, host, port)


def server_of(resource: Any) -> Server:
    """The provider and endpoint behind an SDK resource (``client.messages``, ``client.beta.messages``)."""
    client = getattr(resource, "_client", None)
    base_url = getattr(client, "base_url", None)
    if base_url is None:
        return Server(ANTHROPIC, None, None)
    host = getattr(base_url, "host", None) or None
    client_type: type = type(client)
    return _server(client_type, host, getattr(base_url, "port", None), str(getattr(base_url, "scheme", "") or ""))


@dataclass(slots=True)
class Request:
    """One call as the caller made it: what the span starts with, and what streams need later."""

    operation: str
    model: str | None
    kwargs: Mapping[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    capture_content: bool = False


def _put(attributes: dict[str, Any], key: str, value: Any, kinds: type | tuple[type, ...]) -> None:
    value = given(value)
    if isinstance(value, kinds) and not isinstance(value, bool):
        attributes[key] = value


def messages_request(kwargs: Mapping[str, Any], capture: bool, *, stream: bool | None = None) -> Request:
    """``messages.create`` / ``parse`` / ``stream`` (and their beta twins); ``stream`` forces
    streaming for the ``.stream()`` helper, which takes no ``stream`` argument."""
    model = given(kwargs.get("model"))
    streaming = stream if stream is not None else given(kwargs.get("stream")) is True
    request = Request(
        "chat", str(model) if model is not None else None, kwargs, stream=streaming, capture_content=capture
    )
    attributes = request.attributes
    if streaming:
        attributes[attr.REQUEST_STREAM] = True
    _put(attributes, attr.REQUEST_MAX_TOKENS, kwargs.get("max_tokens"), int)
    _put(attributes, attr.REQUEST_TEMPERATURE, kwargs.get("temperature"), (int, float))
    _put(attributes, attr.REQUEST_TOP_P, kwargs.get("top_p"), (int, float))
    _put(attributes, attr.REQUEST_TOP_K, kwargs.get("top_k"), int)
    stop = given(kwargs.get("stop_sequences"))
    if isinstance(stop, list | tuple) and stop and all(isinstance(s, str) for s in stop):
        attributes[attr.REQUEST_STOP_SEQUENCES] = list(stop)
    if given(kwargs.get("output_format")) is not None:
        attributes[attr.OUTPUT_TYPE] = "json"
    if capture:
        attributes[attr.INPUT_MESSAGES] = to_json(given(kwargs.get("messages")) or [])
        system = given(kwargs.get("system"))
        if system:
            attributes[attr.SYSTEM_INSTRUCTIONS] = system if isinstance(system, str) else to_json(system)
    return request


def count_tokens_request(kwargs: Mapping[str, Any], capture: bool) -> Request:
    model = given(kwargs.get("model"))
    return Request("count_tokens", str(model) if model is not None else None, kwargs, capture_content=capture)


def budget_input_tokens(kwargs: Mapping[str, Any]) -> int:
    """The request's input tokens, counted offline and conservatively (``budget.estimate``): the
    messages, and the system prompt and tool definitions the model also reads."""
    parts = (given(kwargs.get(name)) for name in ("messages", "system", "tools"))
    return sum(count_input_tokens(part) for part in parts if part is not None)
