"""What an Anthropic response says: its usage as a ``TokenUsage``, and a ``CallResult``.

Anthropic reports ``input_tokens`` *excluding* cache reads and writes; the span's
``gen_ai.usage.input_tokens`` includes them (semantic conventions), so they are added in here, and
each part is then priced at its own rate: cache reads, 5-minute and 1-hour cache writes, thinking
(inside output), and web searches (server tool use, per request).
Web fetches cost only their tokens, so they are recorded but add no tool charge.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_cost import attributes as attr
from genai_cost.instrumentation._content import to_json
from genai_cost.instrumentation._read import get, read_usage
from genai_cost.instrumentation.anthropic.request import Request, Server
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.usage import TokenUsage


def _field(obj: Any, name: str) -> Any:
    # SDK models first: one getattr, no Mapping ABC check (this runs ~10 times per call).
    if obj is None:
        return None
    if type(obj) is dict:
        return obj.get(name)
    return getattr(obj, name, None)


def token_usage(usage: Any) -> TokenUsage | None:
    """An Anthropic ``Usage`` / ``MessageDeltaUsage`` (object or dict) -> TokenUsage; None when absent.

    A missing or null count is 0; anything else that is not a count is left for ``TokenUsage`` to
    reject (``invalid_usage``).
    """
    if usage is None:
        return None
    if type(usage) is not dict and isinstance(usage, Mapping):
        usage = dict(usage)
    cache_read = _field(usage, "cache_read_input_tokens") or 0
    cache_write = _field(usage, "cache_creation_input_tokens") or 0
    cache_creation = _field(usage, "cache_creation")
    details = _field(usage, "output_tokens_details")
    server_tools = _field(usage, "server_tool_use")
    return TokenUsage(
        input_tokens=(_field(usage, "input_tokens") or 0) + cache_read + cache_write,
        output_tokens=_field(usage, "output_tokens") or 0,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_5m_tokens=(_field(cache_creation, "ephemeral_5m_input_tokens") or 0) if cache_creation else 0,
        cache_write_1h_tokens=(_field(cache_creation, "ephemeral_1h_input_tokens") or 0) if cache_creation else 0,
        reasoning_tokens=(_field(details, "thinking_tokens") or 0) if details else 0,
        web_searches=(_field(server_tools, "web_search_requests") or 0) if server_tools else 0,
    )


def usage_attributes(usage: Any, token_counts: TokenUsage | None) -> dict[str, Any]:
    """Anthropic-specific usage detail beside the semconv counts (the names anthropic's own tracing uses)."""
    out: dict[str, Any] = {}
    if token_counts is not None:
        if token_counts.cache_write_5m_tokens:
            out[attr.ANTHROPIC_CACHE_WRITE_5M] = token_counts.cache_write_5m_tokens
        if token_counts.cache_write_1h_tokens:
            out[attr.ANTHROPIC_CACHE_WRITE_1H] = token_counts.cache_write_1h_tokens
        if token_counts.web_searches:
            out[attr.ANTHROPIC_WEB_SEARCH_REQUESTS] = token_counts.web_searches
    fetches = get(get(usage, "server_tool_use"), "web_fetch_requests")
    if isinstance(fetches, int) and fetches:
        out[attr.ANTHROPIC_WEB_FETCH_REQUESTS] = fetches
    tier = get(usage, "service_tier")
    if isinstance(tier, str) and tier:
        out[attr.ANTHROPIC_SERVICE_TIER] = tier
    return out


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def output_messages(content: Any, stop_reason: str | None) -> str:
    """``gen_ai.output.messages`` (opt-in only) from a message's content blocks."""
    parts: list[dict[str, Any]] = []
    for block in content or ():
        kind = get(block, "type")
        if kind == "text":
            parts.append({"type": "text", "content": get(block, "text")})
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": get(block, "thinking")})
        elif kind in ("tool_use", "server_tool_use"):
            parts.append(
                {
                    "type": "tool_call",
                    "id": get(block, "id"),
                    "name": get(block, "name"),
                    "arguments": get(block, "input"),
                }
            )
    return to_json([{"role": "assistant", "parts": parts, "finish_reason": stop_reason or ""}])


def message_result(
    request: Request,
    server: Server,
    *,
    model: Any,
    message_id: Any,
    stop_reason: Any,
    usage: Any,
    content: Any = None,
) -> CallResult:
    """The result of a message, whole (``Message``) or as a stream assembled it so far."""
    token_counts, status = read_usage(token_usage, usage)
    stop = _text(stop_reason)
    result = CallResult(
        response_model=_text(model),
        response_id=_text(message_id),
        finish_reasons=(stop,) if stop else (),
        usage=token_counts,
        attributes=usage_attributes(usage, token_counts),
        status=status,
        price_model=request.model if server.prices_by_request_model else None,
    )
    if request.capture_content and content is not None:
        result.attributes[attr.OUTPUT_MESSAGES] = output_messages(content, stop)
    return result


def create_result(message: Any, request: Request, server: Server) -> CallResult:
    return message_result(
        request,
        server,
        model=get(message, "model"),
        message_id=get(message, "id"),
        stop_reason=get(message, "stop_reason"),
        usage=get(message, "usage"),
        content=get(message, "content"),
    )


def count_tokens_result(response: Any, request: Request, server: Server) -> CallResult:
    """Counting tokens bills nothing: the span says how many, and carries no price."""
    tokens = get(response, "input_tokens")
    attributes = {attr.ANTHROPIC_COUNT_TOKENS_INPUT: tokens} if isinstance(tokens, int) else {}
    return CallResult(attributes=attributes, billable=False)
