"""What a Cohere response says: its usage as a ``TokenUsage``, and a ``CallResult``.

Cohere bills what ``billed_units`` says (``usage.billed_units`` on v2 chat, ``meta.billed_units``
elsewhere); ``tokens`` beside it counts what the model read, prompt template included, which is
not billed -- so the span reports the billed counts. Counts arrive as JSON numbers the SDK types as
floats (``12.0``). v2 chat responses name no model: the call is priced by the request's.

Rerank is billed per search unit (a query over up to 100 documents): its usage is
``rerank_searches`` (genai-prices' ``rerank_searches`` unit, beside ``cohere.usage.search_units`` on
the span), priced where genai-prices or a custom price (``per_search_unit``) knows a price per
search; where none does, the status is ``unknown_model`` -- never $0.
"""

from __future__ import annotations

from typing import Any

from genai_cost import attributes as attr
from genai_cost.instrumentation._chat_shape import message_parts, output_messages
from genai_cost.instrumentation._read import get, read_usage
from genai_cost.instrumentation.cohere.request import CHAT, EMBEDDINGS, RERANK, Request
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.usage import TokenUsage


def _count(value: Any) -> Any:
    # 12.0 -> 12; a fractional or non-numeric count is left for TokenUsage to reject.
    if value is None:
        return 0
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def token_usage(billed: Any) -> TokenUsage | None:
    """``billed_units`` (object or dict) -> TokenUsage; None when absent."""
    if billed is None:
        return None
    return TokenUsage(
        input_tokens=_count(get(billed, "input_tokens")), output_tokens=_count(get(billed, "output_tokens"))
    )


def search_usage(billed: Any) -> TokenUsage | None:
    """Rerank's ``billed_units.search_units`` as a ``TokenUsage``; None when none were reported."""
    units = _count(get(billed, "search_units")) if billed is not None else 0
    return TokenUsage(rerank_searches=units) if units else None


def _billed(response: Any) -> Any:
    usage = get(response, "usage")
    return get(usage if usage is not None else get(response, "meta"), "billed_units")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def result_of(
    request: Request,
    *,
    billed: Any,
    response_id: Any = None,
    finish_reason: Any = None,
    output: list[dict[str, Any]] | None = None,
) -> CallResult:
    """Any Cohere call's result, from its billed units and what it said."""
    if request.operation == RERANK:
        searches, status = read_usage(search_usage, billed)
        result = CallResult(response_id=_text(response_id), usage=searches, status=status, price_model=request.model)
        if searches is not None:
            result.attributes[attr.COHERE_SEARCH_UNITS] = searches.rerank_searches
        return result
    token_counts, status = read_usage(token_usage, billed)
    finish = _text(finish_reason)
    result = CallResult(
        response_id=_text(response_id),
        finish_reasons=(finish,) if finish else (),
        usage=token_counts,
        status=status,
        price_model=request.model,  # v2 chat answers without a model name
    )
    if request.capture_content and output is not None:
        result.attributes[attr.OUTPUT_MESSAGES] = output_messages([("assistant", output, finish)])
    return result


def response_result(response: Any, request: Request) -> CallResult:
    """A whole response: v2 chat, v1 chat, v1 generate, embed or rerank."""
    output = None
    if request.operation == CHAT:
        response_id = (
            get(response, "id") if request.v2 else get(response, "response_id") or get(response, "generation_id")
        )
        finish = get(response, "finish_reason")
        if request.capture_content:
            output = message_parts(get(response, "message")) if request.v2 else _v1_output(response)
    elif request.operation == EMBEDDINGS or request.operation == RERANK:
        response_id, finish = get(response, "id"), None
    else:  # v1 generate
        generations = get(response, "generations") or ()
        response_id = get(response, "id")
        finish = get(generations[0], "finish_reason") if generations else None
        if request.capture_content:
            output = [{"type": "text", "content": get(g, "text")} for g in generations]
    result = result_of(request, billed=_billed(response), response_id=response_id, finish_reason=finish, output=output)
    if request.operation == EMBEDDINGS:
        vectors = get(response, "embeddings")
        first = next(iter(vectors.values()), None) if isinstance(vectors, dict) else get(vectors, "float_") or vectors
        if isinstance(first, list) and first and isinstance(first[0], list):
            result.attributes[attr.EMBEDDINGS_DIMENSION_COUNT] = len(first[0])
    return result


def _v1_output(response: Any) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    text = get(response, "text")
    if isinstance(text, str) and text:
        parts.append({"type": "text", "content": text})
    for call in get(response, "tool_calls") or ():
        parts.append({"type": "tool_call", "name": get(call, "name"), "arguments": get(call, "parameters")})
    return parts
