"""What an OpenAI SDK call asks for: who serves it, and the request attributes of its span.

Everything here reads the caller's keyword arguments (never the HTTP request the SDK builds), so
a value the SDK fills in by itself -- the embeddings ``encoding_format=base64`` it asks for and
decodes again -- is not reported as something the caller chose.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from genai_cost import attributes as attr
from genai_cost.budget.estimate import count_input_tokens
from genai_cost.instrumentation._read import given
from genai_cost.instrumentation.openai import content

# --- who serves the call --------------------------------------------------------------------

OPENAI = "openai"
AZURE_OPENAI = "azure.ai.openai"

# Hosts of OpenAI-compatible APIs reached through the openai SDK's base_url -> the provider name
# the span reports (semconv well-known values where one exists). A host matches an entry when it
# is that domain or a subdomain of it. Unknown hosts (localhost, vLLM, Ollama, a gateway) keep
# "openai": the API flavour is all we know, and pricing then decides by server.address and model.
_HOST_PROVIDERS: tuple[tuple[str, str], ...] = (
    ("api.openai.com", OPENAI),
    ("openai.azure.com", AZURE_OPENAI),
    ("cognitiveservices.azure.com", AZURE_OPENAI),
    ("services.ai.azure.com", AZURE_OPENAI),
    ("api.groq.com", "groq"),
    ("api.deepseek.com", "deepseek"),
    ("openrouter.ai", "openrouter"),
    ("api.together.xyz", "together"),
    ("api.together.ai", "together"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.x.ai", "x_ai"),
    ("api.fireworks.ai", "fireworks"),
    ("api.perplexity.ai", "perplexity"),
    ("api.cerebras.ai", "cerebras"),
    ("api.novita.ai", "novita"),
    ("api.moonshot.ai", "moonshot"),
    ("api.moonshot.cn", "moonshot"),
    ("api.cohere.ai", "cohere"),
    ("api.cohere.com", "cohere"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
)
# Region-prefixed hosts: us-central1-aiplatform.googleapis.com, bedrock-runtime.us-east-1.amazonaws.com.
_HOST_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(^|[.-])aiplatform\.googleapis\.com$"), "gcp.vertex_ai"),
    (re.compile(r"^bedrock[\w-]*\.[\w-]+\.(amazonaws\.com|api\.aws)$"), "aws.bedrock"),
)


def provider_for_host(host: str | None) -> str:
    if not host:
        return OPENAI
    host = host.lower().rstrip(".")
    for domain, name in _HOST_PROVIDERS:
        if host == domain or host.endswith("." + domain):
            return name
    for pattern, name in _HOST_PATTERNS:
        if pattern.search(host):
            return name
    return OPENAI


@dataclass(frozen=True, slots=True)
class Server:
    provider_name: str
    address: str | None
    port: int | None
    # Whether the server is known to accept stream_options (old Azure API versions reject it).
    accepts_stream_options: bool = True


@lru_cache(maxsize=256)
def _server(host: str | None, port: int | None, scheme: str, azure_client: bool, api_version: str) -> Server:
    provider = AZURE_OPENAI if azure_client else provider_for_host(host)
    if port is None:
        port = 443 if scheme == "https" else 80 if scheme == "http" else None
    accepts = True
    if provider == AZURE_OPENAI and azure_client:
        # Azure added stream_options in API version 2024-09-01-preview; earlier versions answer
        # 400 to it. Dated versions compare as strings; "preview"/"v1" style ones are newer.
        accepts = not (re.match(r"^\d{4}-\d{2}-\d{2}", api_version) and api_version < "2024-09-01")
    return Server(provider, host, port, accepts)


_UNKNOWN_SERVER = Server(OPENAI, None, None)
# id(client) -> (weak reference to it, the base_url and api version read, its Server): a client
# is described once, not on every call. Entries leave with their client; base_url can be
# reassigned on a live client, so it is compared by identity on every look-up.
_servers: dict[int, tuple[Any, Any, Any, Server]] = {}


def server_of(resource: Any) -> Server:
    """The provider and endpoint behind an SDK resource (``client.chat.completions`` ...)."""
    client = getattr(resource, "_client", None)
    base_url = getattr(client, "base_url", None)
    if base_url is None:
        return _UNKNOWN_SERVER
    api_version = getattr(client, "_api_version", None)
    key = id(client)
    known = _servers.get(key)
    if known is not None and known[1] is base_url and known[2] is api_version and known[0]() is client:
        return known[3]
    server = _describe(client, base_url, api_version)
    try:
        forget = _forget_server(key)
        _servers[key] = (weakref.ref(client, forget), base_url, api_version, server)
    except TypeError:  # a client type without weak references: described on every call
        pass
    return server


def _forget_server(key: int) -> Callable[[Any], None]:
    def forget(_: Any) -> None:
        _servers.pop(key, None)

    return forget


def _describe(client: Any, base_url: Any, api_version: Any) -> Server:
    host = getattr(base_url, "host", None) or None
    port = getattr(base_url, "port", None)
    scheme = str(getattr(base_url, "scheme", "") or "")
    return _server(host, port, scheme, _is_azure_client(client), api_version if isinstance(api_version, str) else "")


_azure_client_types: tuple[type, ...] | None = None


def _is_azure_client(client: Any) -> bool:
    global _azure_client_types
    if _azure_client_types is None:  # imported on first use: this module loads without openai
        try:
            from openai.lib.azure import BaseAzureClient

            _azure_client_types = (BaseAzureClient,)
        except ImportError:  # pragma: no cover - every supported SDK has it
            _azure_client_types = ()
    return isinstance(client, _azure_client_types)


# --- the request -----------------------------------------------------------------------------

RAW_RESPONSE_HEADER = "x-stainless-raw-response"


@dataclass(slots=True)
class Request:
    """One call as the caller made it: what the span starts with, and what streams and content
    capture need later."""

    operation: str
    model: str | None
    kwargs: Mapping[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    # "true" for with_raw_response, "stream" for with_streaming_response, None otherwise.
    raw: str | None = None
    capture_content: bool = False


def _raw_mode(kwargs: Mapping[str, Any]) -> str | None:
    headers = given(kwargs.get("extra_headers"))
    if isinstance(headers, Mapping):
        for key, value in headers.items():
            if isinstance(key, str) and key.lower() == RAW_RESPONSE_HEADER:
                return str(value)
    return None


def _put(attributes: dict[str, Any], key: str, value: Any, kinds: type | tuple[type, ...]) -> None:
    value = given(value)
    if isinstance(value, kinds) and not isinstance(value, bool):  # bool is an int, never a number here
        attributes[key] = value


def _stop_sequences(value: Any) -> list[str] | None:
    value = given(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and value and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _output_type(format_type: Any) -> str | None:
    if not isinstance(format_type, str):
        return None
    return "json" if format_type in ("json_object", "json_schema") else format_type


def _chat_output_type(kwargs: Mapping[str, Any]) -> str | None:
    response_format = given(kwargs.get("response_format"))
    if isinstance(response_format, type):  # parse()/stream() with a pydantic model
        return "json"
    if isinstance(response_format, Mapping):
        return _output_type(response_format.get("type"))
    modalities = given(kwargs.get("modalities"))
    if isinstance(modalities, list | tuple) and "audio" in modalities:
        return "speech"
    return None


def _responses_output_type(kwargs: Mapping[str, Any]) -> str | None:
    if given(kwargs.get("text_format")) is not None:  # parse()/stream() with a pydantic model
        return "json"
    text = given(kwargs.get("text"))
    fmt = text.get("format") if isinstance(text, Mapping) else None
    return _output_type(fmt.get("type")) if isinstance(fmt, Mapping) else None


def _sampling(attributes: dict[str, Any], kwargs: Mapping[str, Any], max_tokens: Any) -> None:
    _put(attributes, attr.REQUEST_MAX_TOKENS, max_tokens, int)
    _put(attributes, attr.REQUEST_TEMPERATURE, kwargs.get("temperature"), (int, float))
    _put(attributes, attr.REQUEST_TOP_P, kwargs.get("top_p"), (int, float))


def _penalties_seed_stop_n(attributes: dict[str, Any], kwargs: Mapping[str, Any]) -> None:
    _put(attributes, attr.REQUEST_FREQUENCY_PENALTY, kwargs.get("frequency_penalty"), (int, float))
    _put(attributes, attr.REQUEST_PRESENCE_PENALTY, kwargs.get("presence_penalty"), (int, float))
    _put(attributes, attr.REQUEST_SEED, kwargs.get("seed"), int)
    if stop := _stop_sequences(kwargs.get("stop")):
        attributes[attr.REQUEST_STOP_SEQUENCES] = stop
    n = given(kwargs.get("n"))
    if isinstance(n, int) and not isinstance(n, bool) and n != 1:  # semconv: only when not 1
        attributes[attr.REQUEST_CHOICE_COUNT] = n


def _common(operation: str, kwargs: Mapping[str, Any], capture: bool) -> Request:
    model = given(kwargs.get("model"))
    stream = given(kwargs.get("stream")) is True
    request = Request(
        operation,
        str(model) if model is not None else None,
        kwargs,
        stream=stream,
        raw=_raw_mode(kwargs),
        capture_content=capture,
    )
    if stream:
        request.attributes[attr.REQUEST_STREAM] = True
    tier = given(kwargs.get("service_tier"))
    if isinstance(tier, str):
        request.attributes[attr.OPENAI_REQUEST_SERVICE_TIER] = tier
    return request


def chat_request(kwargs: Mapping[str, Any], capture: bool) -> Request:
    request = _common("chat", kwargs, capture)
    attributes = request.attributes
    attributes[attr.OPENAI_API_TYPE] = "chat_completions"
    max_tokens = given(kwargs.get("max_completion_tokens"))
    _sampling(attributes, kwargs, max_tokens if max_tokens is not None else kwargs.get("max_tokens"))
    _penalties_seed_stop_n(attributes, kwargs)
    if output_type := _chat_output_type(kwargs):
        attributes[attr.OUTPUT_TYPE] = output_type
    if capture:
        attributes[attr.INPUT_MESSAGES] = content.to_json(content.chat_input(given(kwargs.get("messages"))))
    return request


def responses_request(kwargs: Mapping[str, Any], capture: bool) -> Request:
    request = _common("chat", kwargs, capture)
    attributes = request.attributes
    attributes[attr.OPENAI_API_TYPE] = "responses"
    _sampling(attributes, kwargs, kwargs.get("max_output_tokens"))
    if output_type := _responses_output_type(kwargs):
        attributes[attr.OUTPUT_TYPE] = output_type
    if capture:
        attributes[attr.INPUT_MESSAGES] = content.to_json(content.responses_input(given(kwargs.get("input"))))
        if instructions := content.system_instructions(given(kwargs.get("instructions"))):
            attributes[attr.SYSTEM_INSTRUCTIONS] = instructions
    return request


def completions_request(kwargs: Mapping[str, Any], capture: bool) -> Request:
    request = _common("text_completion", kwargs, capture)
    _sampling(request.attributes, kwargs, kwargs.get("max_tokens"))
    _penalties_seed_stop_n(request.attributes, kwargs)
    if capture:
        request.attributes[attr.INPUT_MESSAGES] = content.to_json(content.completion_input(given(kwargs.get("prompt"))))
    return request


def embeddings_request(kwargs: Mapping[str, Any], capture: bool) -> Request:
    request = _common("embeddings", kwargs, capture)
    encoding_format = given(kwargs.get("encoding_format"))
    if isinstance(encoding_format, str):
        request.attributes[attr.REQUEST_ENCODING_FORMATS] = [encoding_format]
    _put(request.attributes, attr.EMBEDDINGS_DIMENSION_COUNT, kwargs.get("dimensions"), int)
    return request


def fetch_request(response_id: Any, kwargs: Mapping[str, Any], capture: bool) -> Request:
    """``responses.retrieve``: fetching a stored response (semconv ``fetch_response``)."""
    request = Request(
        "fetch_response",
        None,
        kwargs,
        stream=given(kwargs.get("stream")) is True,
        raw=_raw_mode(kwargs),
        capture_content=capture,
    )
    if isinstance(response_id, str):
        request.attributes[attr.RESPONSE_ID] = response_id
    if request.stream:
        request.attributes[attr.REQUEST_STREAM] = True
    cursor = given(kwargs.get("starting_after"))
    if isinstance(cursor, int) and not isinstance(cursor, bool):
        request.attributes[attr.REQUEST_STREAM_CURSOR] = str(cursor)
    return request


# --- the budget guard's input estimate -------------------------------------------------------

# Request fields whose text the model reads as input (tool schemas and output schemas count too).
_BUDGET_INPUT_FIELDS = frozenset(
    ("messages", "input", "prompt", "instructions", "tools", "functions", "response_format")
)


def budget_input_tokens(kwargs: Mapping[str, Any]) -> int:
    """The request's input tokens, counted offline and conservatively (``budget.estimate``)."""
    total = 0
    # A call passes a handful of the fields there are: walk what it passed.
    for name, value in kwargs.items():
        if name in _BUDGET_INPUT_FIELDS and value is not None and given(value) is not None:
            total += count_input_tokens(value)
    return total


# --- asking for streamed usage ---------------------------------------------------------------


def caller_decides_usage(kwargs: Mapping[str, Any]) -> bool:
    """Whether the caller asked for streamed usage (``stream_options.include_usage``), or wrote
    ``stream_options`` into ``extra_body`` themselves (which would override ours anyway)."""
    extra_body = given(kwargs.get("extra_body"))
    if isinstance(extra_body, Mapping) and "stream_options" in extra_body:
        return True
    options = given(kwargs.get("stream_options"))
    return isinstance(options, Mapping) and bool(options.get("include_usage"))


def with_usage_requested(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The kwargs with ``stream_options.include_usage`` switched on, other options kept."""
    options = given(kwargs.get("stream_options"))
    merged = dict(options) if isinstance(options, Mapping) else {}
    merged["include_usage"] = True
    return {**kwargs, "stream_options": merged}
