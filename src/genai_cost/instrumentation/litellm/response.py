"""What a LiteLLM response says: its usage as a ``TokenUsage``, LiteLLM's own cost, a ``CallResult``.

LiteLLM normalises every provider's usage to OpenAI's shape with its own extensions:
``prompt_tokens`` *includes* cache reads and writes (LiteLLM adds Anthropic's in), cache reads are
``prompt_tokens_details.cached_tokens``, cache writes ``prompt_tokens_details.cache_creation_tokens``
(split by TTL in ``cache_creation_token_details``), reasoning ``completion_tokens_details
.reasoning_tokens``, web searches ``server_tool_use.web_search_requests``. Our engine prices that;
LiteLLM's own figure (``_hidden_params["response_cost"]``) is recorded beside it, for comparison,
never as the price.
"""

from __future__ import annotations

from typing import Any

from genai_cost import attributes as attr
from genai_cost.instrumentation._content import to_json
from genai_cost.instrumentation._read import get, read_usage
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.instrumentation.litellm.request import Request
from genai_cost.usage import TokenUsage


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def token_usage(usage: Any) -> TokenUsage | None:
    if usage is None:
        return None
    prompt = get(usage, "prompt_tokens")
    completion = get(usage, "completion_tokens")
    if prompt is None and completion is None:
        return None
    prompt_details = get(usage, "prompt_tokens_details")
    completion_details = get(usage, "completion_tokens_details")
    ttl = get(prompt_details, "cache_creation_token_details")
    tools = get(usage, "server_tool_use")
    cache_read = _count(get(prompt_details, "cached_tokens"))
    cache_write = _count(get(prompt_details, "cache_creation_tokens"))
    return TokenUsage(
        input_tokens=prompt or 0,
        output_tokens=completion or 0,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_5m_tokens=_count(get(ttl, "ephemeral_5m_input_tokens")),
        cache_write_1h_tokens=_count(get(ttl, "ephemeral_1h_input_tokens")),
        reasoning_tokens=_count(get(completion_details, "reasoning_tokens")),
        web_searches=_count(get(tools, "web_search_requests")),
    )


def litellm_cost(response: Any) -> dict[str, Any]:
    """LiteLLM's own cost of the call, as an attribute beside ours (absent when it has none)."""
    hidden = getattr(response, "_hidden_params", None)
    cost = hidden.get("response_cost") if isinstance(hidden, dict) else None
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        return {attr.LITELLM_RESPONSE_COST: float(cost)}
    return {}


def output_messages(choices: Any) -> str:
    messages = []
    for choice in choices or ():
        message = get(choice, "message")
        parts: list[dict[str, Any]] = []
        content = get(message, "content")
        if content:
            parts.append({"type": "text", "content": content})
        for call in get(message, "tool_calls") or ():
            function = get(call, "function")
            parts.append(
                {
                    "type": "tool_call",
                    "id": get(call, "id"),
                    "name": get(function, "name"),
                    "arguments": get(function, "arguments"),
                }
            )
        messages.append({"role": "assistant", "parts": parts, "finish_reason": get(choice, "finish_reason") or ""})
    return to_json(messages)


def call_result(
    request: Request, *, model: Any, response_id: Any, finish_reasons: tuple[str, ...], usage: Any
) -> CallResult:
    counts, status = read_usage(token_usage, usage)
    return CallResult(
        response_model=model if isinstance(model, str) and model else None,
        response_id=response_id if isinstance(response_id, str) and response_id else None,
        finish_reasons=finish_reasons,
        usage=counts,
        status=status,
    )


def response_result(response: Any, request: Request) -> CallResult:
    """A ``ModelResponse`` or ``EmbeddingResponse``."""
    choices = get(response, "choices") or ()
    reasons = tuple(r for c in choices if isinstance(r := get(c, "finish_reason"), str) and r)
    result = call_result(
        request,
        model=get(response, "model"),
        response_id=get(response, "id"),
        finish_reasons=reasons,
        usage=get(response, "usage"),
    )
    result.attributes.update(litellm_cost(response))
    if request.operation == "embeddings":
        data = get(response, "data") or ()
        first = get(data[0], "embedding") if data else None
        if isinstance(first, list):
            result.attributes[attr.EMBEDDINGS_DIMENSION_COUNT] = len(first)
    elif request.capture_content:
        result.attributes[attr.OUTPUT_MESSAGES] = output_messages(choices)
    return result
