"""Read a GenAI call (provider, model, usage, response id) off a finished span of any origin.

Instrumentations in the wild spell usage in several conventions:

* current semconv: ``gen_ai.usage.input_tokens`` *including* ``gen_ai.usage.cache_read.input_tokens``
  and ``gen_ai.usage.cache_write.input_tokens``;
* older semconv / OpenLLMetry: ``gen_ai.system``, ``gen_ai.usage.prompt_tokens`` and
  ``completion_tokens``, ``gen_ai.usage.cache_read_input_tokens`` and
  ``cache_creation_input_tokens`` (Anthropic's API names);
* Traceloop's ``llm.usage.*``.

Whether cache tokens sit inside the input count depends on who wrote the span, not on the key:
Anthropic's API reports ``input_tokens`` *excluding* cache reads and writes and some
instrumentations copy it verbatim. ``_cache_is_inside_input`` decides per span. What the real
packages emit was measured and is recorded in docs/foreign-spans.md (anthropic 2.x's built-in
tracing, for one, already adds cache tokens into ``gen_ai.usage.input_tokens``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from genai_cost import attributes as attr
from genai_cost import plausibility
from genai_cost.usage import InvalidUsage, TokenUsage

_INPUT_KEYS = (attr.USAGE_INPUT_TOKENS, attr.LEGACY_PROMPT_TOKENS, attr.LLM_PROMPT_TOKENS)
_OUTPUT_KEYS = (attr.USAGE_OUTPUT_TOKENS, attr.LEGACY_COMPLETION_TOKENS, attr.LLM_COMPLETION_TOKENS)
_CACHE_READ_KEYS = (attr.USAGE_CACHE_READ_TOKENS, attr.LEGACY_CACHE_READ_TOKENS, attr.LLM_CACHE_READ_TOKENS)
_CACHE_WRITE_KEYS = (
    attr.USAGE_CACHE_WRITE_TOKENS,
    attr.LEGACY_CACHE_CREATION_DOTTED,
    attr.LEGACY_CACHE_CREATION_TOKENS,
)
_REASONING_KEYS = (attr.USAGE_REASONING_TOKENS, attr.LEGACY_REASONING_TOKENS)

# Operations that are a billed model call. Spans for agents, tools and workflows carry
# gen_ai.* attributes too but cost nothing themselves.
_BILLED_OPERATIONS = frozenset(
    {"chat", "text_completion", "generate_content", "embeddings", "completion", "responses", "response"}
)
_LEGACY_REQUEST_TYPES = frozenset({"chat", "completion", "embedding", "embeddings", "rerank"})


@dataclass(slots=True)
class SpanCall:
    provider_name: str | None
    model: str | None
    usage: TokenUsage | None
    response_id: str | None
    server_address: str | None
    usage_error: str | None = None


# A span carrying none of these keys is never a GenAI call (``is_genai_call`` reads nothing else
# first): the gateway scans keys for them before decoding any attribute value.
GENAI_MARKER_KEYS = frozenset((attr.OPERATION_NAME, attr.LLM_REQUEST_TYPE, attr.LEGACY_SYSTEM))


def is_genai_call(attributes: Mapping[str, Any]) -> bool:
    """True for spans that describe one billed model call (cheap: a few dict probes)."""
    operation = attributes.get(attr.OPERATION_NAME)
    if operation is not None:
        return operation in _BILLED_OPERATIONS
    if attributes.get(attr.LLM_REQUEST_TYPE) in _LEGACY_REQUEST_TYPES:
        return True
    # Older instrumentations set only gen_ai.system + usage.
    return attr.LEGACY_SYSTEM in attributes and (
        attr.USAGE_INPUT_TOKENS in attributes or attr.LEGACY_PROMPT_TOKENS in attributes
    )


def _first(attributes: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None:
            return value
    return None


def _count(value: Any) -> int:
    """A token count as a span spells it (an int, an integral float, a string of ASCII digits);
    anything else, or a count above the plausible bound, is ``InvalidUsage``."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise InvalidUsage(f"token count {value!r} is not a number")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        value = int(value)
    if not isinstance(value, int):
        raise InvalidUsage(f"token count {value!r:.40} is not an integer")
    if value > plausibility.max_usage_tokens:
        raise InvalidUsage(
            f"token count {value!r:.24} is above the plausible bound for one call ({plausibility.max_usage_tokens})"
        )
    return value


def _cache_is_inside_input(
    attributes: Mapping[str, Any], provider: str | None, input_tokens: int, cache_total: int, scope: str | None
) -> bool:
    if cache_total > input_tokens:
        return False  # inclusive counting is impossible: the input count must exclude them
    if attr.USAGE_CACHE_READ_TOKENS in attributes or attr.USAGE_CACHE_WRITE_TOKENS in attributes:
        return True  # the current convention's keys are defined as parts of input
    # Legacy keys on an Anthropic call: Anthropic's own counting (cache beside input), which
    # OpenLLMetry's anthropic instrumentation copies; anthropic's built-in tracing uses semconv.
    return not (provider and "anthropic" in provider)


def read_span_call(attributes: Mapping[str, Any], scope: str | None = None) -> SpanCall:
    provider = attributes.get(attr.PROVIDER_NAME) or attributes.get(attr.LEGACY_SYSTEM)
    provider = str(provider).lower() if provider is not None else None
    model = attributes.get(attr.RESPONSE_MODEL) or attributes.get(attr.REQUEST_MODEL)
    response_id = attributes.get(attr.RESPONSE_ID)
    server_address = attributes.get(attr.SERVER_ADDRESS)
    if server_address is None and (api_base := attributes.get(attr.OPENAI_API_BASE)):
        server_address = urlsplit(str(api_base)).hostname
    call = SpanCall(
        provider,
        str(model) if model else None,
        None,
        str(response_id) if response_id else None,
        str(server_address) if server_address else None,
    )
    raw_input = _first(attributes, _INPUT_KEYS)
    raw_output = _first(attributes, _OUTPUT_KEYS)
    if raw_input is None and raw_output is None:
        return call
    try:
        input_tokens = _count(raw_input)
        output_tokens = _count(raw_output)
        cache_read = _count(_first(attributes, _CACHE_READ_KEYS))
        cache_write = _count(_first(attributes, _CACHE_WRITE_KEYS))
        reasoning = _count(_first(attributes, _REASONING_KEYS))
        if not _cache_is_inside_input(attributes, provider, input_tokens, cache_read + cache_write, scope):
            input_tokens += cache_read + cache_write
        # Some instrumentations report reasoning beside, not inside, output (never more than it
        # when inside): treat an impossible split the same way as cache above.
        if reasoning > output_tokens:
            output_tokens += reasoning
        call.usage = TokenUsage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
            cache_write_5m_tokens=_count(attributes.get(attr.ANTHROPIC_CACHE_WRITE_5M)),
            cache_write_1h_tokens=_count(attributes.get(attr.ANTHROPIC_CACHE_WRITE_1H)),
            reasoning_tokens=reasoning,
        )
    except InvalidUsage as exc:
        call.usage_error = str(exc)
    return call
