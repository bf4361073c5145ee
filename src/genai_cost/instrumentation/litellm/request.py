"""What a LiteLLM call asks for: which provider LiteLLM routes it to, and the request attributes.

LiteLLM takes ``"<provider>/<model>"`` (or a bare model it recognises, or ``custom_llm_provider``)
and routes the call; ``litellm.get_llm_provider`` -- the function LiteLLM itself routes with --
names the provider and the model as the provider will see it. The span carries that provider's
semantic-convention name and that model, so the call is priced as the provider bills it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from genai_cost import attributes as attr
from genai_cost.budget.estimate import count_input_tokens
from genai_cost.instrumentation._content import to_json

LITELLM = "litellm"

# LiteLLM's provider names -> gen_ai.provider.name (semantic conventions where they name one).
_PROVIDER_NAMES = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "azure": "azure.ai.openai",
    "azure_text": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic": "anthropic",
    "anthropic_text": "anthropic",
    "bedrock": "aws.bedrock",
    "sagemaker": "aws.sagemaker",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "codestral": "mistral_ai",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "perplexity": "perplexity",
    "watsonx": "ibm.watsonx.ai",
    "ollama": "ollama",
    "ollama_chat": "ollama",
    "together_ai": "together",
    "fireworks_ai": "fireworks",
}

# Each function's positional parameters, in LiteLLM's order.
POSITIONAL: dict[str, tuple[str, ...]] = {
    "completion": ("model", "messages"),
    "acompletion": ("model", "messages"),
    "embedding": ("model", "input"),
    "aembedding": ("model", "input"),
}
OPERATIONS = {"completion": "chat", "acompletion": "chat", "embedding": "embeddings", "aembedding": "embeddings"}


@dataclass(frozen=True, slots=True)
class Server:
    provider_name: str
    address: str | None
    port: int | None


def provider_name(litellm_provider: str | None) -> str:
    if not litellm_provider:
        return LITELLM
    return _PROVIDER_NAMES.get(litellm_provider, litellm_provider)


def route(kwargs: Mapping[str, Any]) -> tuple[str | None, Server]:
    """(the model the provider sees, the server) for a call, as LiteLLM will route it."""
    from litellm import get_llm_provider  # the application imported litellm: it is loaded

    model = kwargs.get("model")
    api_base = kwargs.get("api_base") or kwargs.get("base_url")
    try:
        routed_model, provider, _key, routed_base = get_llm_provider(
            model=model, custom_llm_provider=kwargs.get("custom_llm_provider"), api_base=api_base
        )
    except Exception:  # LiteLLM will raise its own error for the call: the span records it
        return (str(model) if model else None), Server(LITELLM, None, None)
    address, port = _endpoint(api_base or routed_base)
    return routed_model or model, Server(provider_name(provider), address, port)


def _endpoint(url: Any) -> tuple[str | None, int | None]:
    if not isinstance(url, str) or not url:
        return None, None
    try:
        parts = urlsplit(url if "//" in url else f"//{url}")
        port = parts.port or (443 if parts.scheme == "https" else 80 if parts.scheme == "http" else None)
        return parts.hostname, port
    except ValueError:
        return None, None


def bind(function: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    names = POSITIONAL[function]
    if len(args) > len(names):
        raise TypeError(f"{function}() takes at most {len(names)} positional arguments")
    return {**dict(zip(names, args, strict=False)), **kwargs}


@dataclass(slots=True)
class Request:
    """One call as the caller made it."""

    function: str
    operation: str
    model: str | None
    kwargs: dict[str, Any]
    attributes: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    capture_content: bool = False
    # Whether we asked for the usage chunk the caller did not (it is then withheld from them).
    added_usage_chunk: bool = False


_NUMBERS = (
    ("max_tokens", attr.REQUEST_MAX_TOKENS, int),
    ("max_completion_tokens", attr.REQUEST_MAX_TOKENS, int),
    ("temperature", attr.REQUEST_TEMPERATURE, (int, float)),
    ("top_p", attr.REQUEST_TOP_P, (int, float)),
    ("seed", attr.REQUEST_SEED, int),
    ("frequency_penalty", attr.REQUEST_FREQUENCY_PENALTY, (int, float)),
    ("presence_penalty", attr.REQUEST_PRESENCE_PENALTY, (int, float)),
    ("n", attr.REQUEST_CHOICE_COUNT, int),
)


def describe(function: str, kwargs: dict[str, Any], model: str | None, capture: bool) -> Request:
    streaming = OPERATIONS[function] == "chat" and kwargs.get("stream") is True
    request = Request(function, OPERATIONS[function], model, kwargs, stream=streaming, capture_content=capture)
    attributes = request.attributes
    if streaming:
        attributes[attr.REQUEST_STREAM] = True
        options = kwargs.get("stream_options")
        if not (isinstance(options, Mapping) and options.get("include_usage")):
            # Exact usage needs the provider's final usage chunk: ask for it, hide it from the caller.
            kwargs["stream_options"] = {**(options or {}), "include_usage": True}
            request.added_usage_chunk = True
    for key, name, kinds in _NUMBERS:
        value = kwargs.get(key)
        if isinstance(value, kinds) and not isinstance(value, bool):
            attributes[name] = value
    stop = kwargs.get("stop")
    if isinstance(stop, str):
        stop = [stop]
    if isinstance(stop, list | tuple) and stop and all(isinstance(s, str) for s in stop):
        attributes[attr.REQUEST_STOP_SEQUENCES] = list(stop)
    if isinstance(kwargs.get("dimensions"), int):
        attributes[attr.EMBEDDINGS_DIMENSION_COUNT] = kwargs["dimensions"]
    if capture and request.operation == "chat":
        attributes[attr.INPUT_MESSAGES] = to_json(kwargs.get("messages") or [])
    return request


def budget_input_tokens(request: Request) -> int:
    kwargs = request.kwargs
    parts = [kwargs.get(name) for name in ("messages", "input", "tools")]
    return sum(count_input_tokens(part) for part in parts if part)


def budget_max_output(request: Request) -> int | None:
    if request.operation == "embeddings":
        return 0
    for key in ("max_completion_tokens", "max_tokens"):
        value = request.kwargs.get(key)
        if isinstance(value, int) and value > 0:
            return value * (request.kwargs.get("n") or 1)
    return None
