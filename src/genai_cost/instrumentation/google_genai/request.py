"""What a google-genai call asks for: who serves it, and the request attributes of its span.

One ``genai.Client`` speaks to either the Gemini API or Vertex AI (its ``vertexai`` flag), which
price the same model differently in places and are separate providers in the semantic
conventions: ``gcp.gemini`` and ``gcp.vertex_ai``. The endpoint is the client's base URL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from genai_cost import attributes as attr
from genai_cost.budget.estimate import count_input_tokens
from genai_cost.instrumentation._read import get
from genai_cost.instrumentation.google_genai import content

GEMINI = "gcp.gemini"
VERTEX_AI = "gcp.vertex_ai"

GENERATE_CONTENT = "generate_content"
EMBEDDINGS = "embeddings"


@dataclass(frozen=True, slots=True)
class Server:
    provider_name: str
    address: str | None
    port: int | None


@lru_cache(maxsize=256)
def _server(base_url: str | None, vertexai: bool) -> Server:
    provider = VERTEX_AI if vertexai else GEMINI
    if not base_url:
        return Server(provider, None, None)
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80 if parts.scheme == "http" else None)
    return Server(provider, parts.hostname, port)


def server_of(models: Any) -> Server:
    """The provider and endpoint behind ``client.models`` / ``client.aio.models``."""
    api_client = getattr(models, "_api_client", None)
    options = getattr(api_client, "_http_options", None)
    base_url = getattr(options, "base_url", None)
    return _server(base_url if isinstance(base_url, str) else None, getattr(api_client, "vertexai", False) is True)


@dataclass(slots=True)
class Request:
    operation: str
    model: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    capture_content: bool = False


def _number(value: Any, kinds: type | tuple[type, ...]) -> Any:
    # bool is an int, never a number here
    return value if isinstance(value, kinds) and not isinstance(value, bool) else None


def _put_all(attributes: dict[str, Any], config: Any, fields: tuple[tuple[str, str, Any], ...]) -> None:
    for key, name, kinds in fields:
        value = _number(get(config, name), kinds)
        if value is not None:
            attributes[key] = value


_SAMPLING = (
    (attr.REQUEST_TEMPERATURE, "temperature", (int, float)),
    (attr.REQUEST_TOP_P, "top_p", (int, float)),
    (attr.REQUEST_TOP_K, "top_k", (int, float)),
    (attr.REQUEST_MAX_TOKENS, "max_output_tokens", int),
    (attr.REQUEST_SEED, "seed", int),
    (attr.REQUEST_PRESENCE_PENALTY, "presence_penalty", (int, float)),
    (attr.REQUEST_FREQUENCY_PENALTY, "frequency_penalty", (int, float)),
)


def _output_type(config: Any) -> str | None:
    if get(config, "response_schema") is not None or get(config, "response_json_schema") is not None:
        return "json"
    mime_type = get(config, "response_mime_type")
    if isinstance(mime_type, str) and mime_type:
        return "json" if mime_type == "application/json" else "text" if mime_type.startswith("text/") else None
    modalities = [str(getattr(m, "value", m)).upper() for m in get(config, "response_modalities") or ()]
    if "IMAGE" in modalities:
        return "image"
    if "AUDIO" in modalities:
        return "speech"
    return None


def _model(kwargs: Mapping[str, Any]) -> str | None:
    model = kwargs.get("model")
    return model if isinstance(model, str) and model else None


def generate_request(kwargs: Mapping[str, Any], capture: bool) -> Request:
    request = Request(GENERATE_CONTENT, _model(kwargs), capture_content=capture)
    config = kwargs.get("config")
    attributes = request.attributes
    if capture:
        attributes[attr.INPUT_MESSAGES] = content.to_json(content.input_messages(kwargs.get("contents")))
        if instructions := content.system_instructions(get(config, "system_instruction")):
            attributes[attr.SYSTEM_INSTRUCTIONS] = content.to_json(instructions)
    if config is None:
        return request
    _put_all(attributes, config, _SAMPLING)
    count = _number(get(config, "candidate_count"), int)
    if count is not None and count != 1:  # semconv: only when not 1
        attributes[attr.REQUEST_CHOICE_COUNT] = count
    stop = get(config, "stop_sequences")
    if isinstance(stop, list | tuple) and stop and all(isinstance(s, str) for s in stop):
        attributes[attr.REQUEST_STOP_SEQUENCES] = list(stop)
    if output_type := _output_type(config):
        attributes[attr.OUTPUT_TYPE] = output_type
    return request


def embed_request(kwargs: Mapping[str, Any], capture: bool) -> Request:
    request = Request(EMBEDDINGS, _model(kwargs))
    dimensions = _number(get(kwargs.get("config"), "output_dimensionality"), int)
    if dimensions is not None:
        request.attributes[attr.EMBEDDINGS_DIMENSION_COUNT] = dimensions
    return request


def budget_input_tokens(kwargs: Mapping[str, Any]) -> int:
    """The request's input tokens, counted offline and conservatively (``budget.estimate``):
    the contents, and the system instruction and tool declarations the model also reads."""
    config = kwargs.get("config")
    parts = (kwargs.get("contents"), get(config, "system_instruction"), get(config, "tools"))
    return sum(count_input_tokens(part) for part in parts if part is not None)
