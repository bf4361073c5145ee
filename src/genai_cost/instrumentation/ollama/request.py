"""What an ``ollama`` SDK call asks for: which server answers it, and the request attributes of its span.

Every ``Client`` / ``AsyncClient`` method takes its model (and prompt or messages) positionally or by
keyword, and the module-level ``ollama.chat`` & co. are methods of one default client; the
arguments are read once into keyword form here (``bind``) so a budget downgrade can swap the model
whichever way the caller passed it. The server is the client's own httpx base URL (``OLLAMA_HOST``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from genai_cost import attributes as attr
from genai_cost.budget.estimate import count_input_tokens
from genai_cost.instrumentation._content import to_json
from genai_cost.instrumentation._read import get

# Not in the semantic conventions' list of well-known providers; the SDK's own name, lower-cased
# (OpenLLMetry reports gen_ai.system "Ollama").
OLLAMA = "ollama"

# Each method's positional parameters after ``self``, in the SDK's order.
POSITIONAL: dict[str, tuple[str, ...]] = {
    "chat": ("model", "messages"),
    "generate": ("model", "prompt", "suffix"),
    "embed": ("model", "input", "truncate", "options", "keep_alive", "dimensions"),
    "embeddings": ("model", "prompt", "options", "keep_alive"),
}
OPERATIONS = {"chat": "chat", "generate": "text_completion", "embed": "embeddings", "embeddings": "embeddings"}


@dataclass(frozen=True, slots=True)
class Server:
    provider_name: str
    address: str | None
    port: int | None


@lru_cache(maxsize=64)
def _server(host: str | None, port: int | None) -> Server:
    return Server(OLLAMA, host, port)


# id(httpx client) -> (its base URL object, the Server read from it): a client's URL is parsed
# once, not per call; an entry is reused only while the client still holds that same URL object.
_servers: dict[int, tuple[Any, Server]] = {}


def server_of(client: Any) -> Server:
    """The endpoint an ``ollama`` client talks to (its httpx client's base URL)."""
    http = getattr(client, "_client", None)
    base_url = getattr(http, "base_url", None)
    if base_url is None:
        return _NO_SERVER
    known = _servers.get(id(http))
    if known is not None and known[0] is base_url:
        return known[1]
    server = _server(getattr(base_url, "host", None) or None, getattr(base_url, "port", None))
    if len(_servers) >= 64:  # clients made per call: keep the memo bounded
        _servers.clear()
    _servers[id(http)] = (base_url, server)
    return server


_NO_SERVER = Server(OLLAMA, None, None)


def bind(method: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The call's arguments as keywords (extra positionals are left for the SDK to reject)."""
    names = POSITIONAL[method]
    if len(args) > len(names):
        raise TypeError(f"{method}() takes at most {len(names)} positional arguments")
    bound = dict(zip(names, args, strict=False))
    bound.update(kwargs)
    return bound


@dataclass(slots=True)
class Request:
    """One call as the caller made it."""

    method: str
    operation: str
    model: str | None
    kwargs: dict[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    capture_content: bool = False


def _options(value: Any) -> Mapping[str, Any]:
    if isinstance(value, Mapping):
        return value
    dump = getattr(value, "model_dump", None)  # ollama.Options
    return dump(exclude_none=True) if callable(dump) else {}


_OPTION_ATTRIBUTES = (
    ("num_predict", attr.REQUEST_MAX_TOKENS, int),
    ("temperature", attr.REQUEST_TEMPERATURE, (int, float)),
    ("top_p", attr.REQUEST_TOP_P, (int, float)),
    ("top_k", attr.REQUEST_TOP_K, int),
    ("seed", attr.REQUEST_SEED, int),
    ("frequency_penalty", attr.REQUEST_FREQUENCY_PENALTY, (int, float)),
    ("presence_penalty", attr.REQUEST_PRESENCE_PENALTY, (int, float)),
)


def describe(method: str, kwargs: dict[str, Any], capture: bool) -> Request:
    model = kwargs.get("model")
    streaming = method in ("chat", "generate") and kwargs.get("stream") is True
    request = Request(
        method,
        OPERATIONS[method],
        str(model) if model else None,
        kwargs,
        stream=streaming,
        capture_content=capture,
    )
    attributes = request.attributes
    if streaming:
        attributes[attr.REQUEST_STREAM] = True
    given = kwargs.get("options")
    if given:  # most calls pass none
        options = _options(given)
        for key, name, kinds in _OPTION_ATTRIBUTES:
            value = options.get(key)
            if isinstance(value, kinds) and not isinstance(value, bool):
                attributes[name] = value
        stop = options.get("stop")
        if isinstance(stop, list | tuple) and stop and all(isinstance(s, str) for s in stop):
            attributes[attr.REQUEST_STOP_SEQUENCES] = list(stop)
    if kwargs.get("format"):
        attributes[attr.OUTPUT_TYPE] = "json"
    if isinstance(kwargs.get("dimensions"), int):
        attributes[attr.EMBEDDINGS_DIMENSION_COUNT] = kwargs["dimensions"]
    if capture:
        _capture_input(request)
    return request


def _message(message: Any) -> dict[str, Any]:
    """A chat message (dict or ``ollama.Message``) in the semconv message shape."""
    parts: list[dict[str, Any]] = []
    content = get(message, "content")
    if content:
        parts.append({"type": "text", "content": content})
    for call in get(message, "tool_calls") or ():
        function = get(call, "function")
        parts.append({"type": "tool_call", "name": get(function, "name"), "arguments": get(function, "arguments")})
    return {"role": get(message, "role"), "parts": parts}


def _capture_input(request: Request) -> None:
    kwargs, attributes = request.kwargs, request.attributes
    if request.method == "chat":
        attributes[attr.INPUT_MESSAGES] = to_json([_message(m) for m in kwargs.get("messages") or ()])
    elif request.method == "generate":
        attributes[attr.INPUT_MESSAGES] = to_json(
            [{"role": "user", "parts": [{"type": "text", "content": kwargs.get("prompt") or ""}]}]
        )
        if kwargs.get("system"):
            attributes[attr.SYSTEM_INSTRUCTIONS] = str(kwargs["system"])


def budget_input_tokens(request: Request) -> int:
    """The request's input tokens, counted offline and conservatively (``budget.estimate``)."""
    kwargs = request.kwargs
    parts = [kwargs.get(name) for name in ("messages", "prompt", "system", "input", "tools")]
    return sum(count_input_tokens(part) for part in parts if part)


def budget_max_output(request: Request) -> int | None:
    value = _options(request.kwargs.get("options")).get("num_predict")
    return value if isinstance(value, int) and value > 0 else None
