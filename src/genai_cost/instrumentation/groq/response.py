"""What a Groq response says: its usage as a ``TokenUsage``, and a ``CallResult``.

Groq reports OpenAI-style counts: ``prompt_tokens`` (including a cached prefix, given in
``prompt_tokens_details.cached_tokens``) and ``completion_tokens`` (including reasoning, given in
``completion_tokens_details.reasoning_tokens``), with Groq's timings beside them. A stream reports
the usage in the last chunk's ``x_groq.usage`` (and in ``usage`` too when the request asked with
``stream_options``).
"""

from __future__ import annotations

from typing import Any

from genai_cost import attributes as attr
from genai_cost.instrumentation._chat_shape import Choice, output_messages, read_choices
from genai_cost.instrumentation._read import get, read_usage
from genai_cost.instrumentation.groq.request import EMBEDDINGS, Request
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.usage import TokenUsage


def token_usage(usage: Any) -> TokenUsage | None:
    """A Groq ``CompletionUsage`` / embeddings ``Usage`` (object or dict) -> TokenUsage; None when absent."""
    if usage is None:
        return None
    prompt_details = get(usage, "prompt_tokens_details")
    completion_details = get(usage, "completion_tokens_details")
    return TokenUsage(
        input_tokens=get(usage, "prompt_tokens") or 0,
        output_tokens=get(usage, "completion_tokens") or 0,
        cache_read_tokens=(get(prompt_details, "cached_tokens") or 0) if prompt_details is not None else 0,
        reasoning_tokens=(get(completion_details, "reasoning_tokens") or 0) if completion_details is not None else 0,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def chat_result(
    request: Request,
    *,
    model: Any,
    response_id: Any,
    finish_reasons: tuple[str, ...],
    usage: Any,
    choices: list[Choice] | None,
) -> CallResult:
    """A chat completion, whole or as a stream assembled it so far."""
    token_counts, status = read_usage(token_usage, usage)
    result = CallResult(
        response_model=_text(model),
        response_id=_text(response_id),
        finish_reasons=finish_reasons,
        usage=token_counts,
        status=status,
    )
    if request.capture_content and choices is not None:
        result.attributes[attr.OUTPUT_MESSAGES] = output_messages(choices)
    return result


def response_result(response: Any, request: Request) -> CallResult:
    """A whole ``ChatCompletion`` or ``CreateEmbeddingResponse`` (or its JSON, for raw responses)."""
    if request.operation == EMBEDDINGS:
        token_counts, status = read_usage(token_usage, get(response, "usage"))
        result = CallResult(response_model=_text(get(response, "model")), usage=token_counts, status=status)
        data = get(response, "data") or ()
        vector = get(data[0], "embedding") if data else None
        if isinstance(vector, list) and vector:
            result.attributes[attr.EMBEDDINGS_DIMENSION_COUNT] = len(vector)
        return result
    finishes, choices = read_choices(response, request.capture_content)
    return chat_result(
        request,
        model=get(response, "model"),
        response_id=get(response, "id"),
        finish_reasons=finishes,
        usage=get(response, "usage"),
        choices=choices,
    )
