"""What a Mistral response says: its usage as a ``TokenUsage``, and a ``CallResult``.

Mistral reports OpenAI-style counts: ``prompt_tokens`` (including any cached prefix, reported in
``prompt_tokens_details.cached_tokens`` when prompt caching served part of it) and
``completion_tokens``. Chat, fill-in-the-middle and agent completions answer with the same
document; embeddings answer with ``data`` and input-only usage.
"""

from __future__ import annotations

from typing import Any

from genai_cost import attributes as attr
from genai_cost.instrumentation._chat_shape import Choice, output_messages, read_choices
from genai_cost.instrumentation._read import get, read_usage
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.instrumentation.mistral.request import EMBEDDINGS, Request
from genai_cost.usage import TokenUsage


def _count(value: Any) -> Any:
    # A missing or null count is 0; anything else that is not a count is left for TokenUsage to
    # reject (invalid_usage). The SDK's UNSET sentinel is not a count either: 0.
    return 0 if value is None or type(value).__name__ == "Unset" else value


def token_usage(usage: Any) -> TokenUsage | None:
    """A Mistral ``UsageInfo`` (object or dict) -> TokenUsage; None when absent."""
    if usage is None:
        return None
    details = get(usage, "prompt_tokens_details")
    return TokenUsage(
        input_tokens=_count(get(usage, "prompt_tokens")),
        output_tokens=_count(get(usage, "completion_tokens")),
        cache_read_tokens=_count(get(details, "cached_tokens")) if details is not None else 0,
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def completion_result(
    request: Request,
    *,
    model: Any,
    response_id: Any,
    finish_reasons: tuple[str, ...],
    usage: Any,
    choices: list[Choice] | None = None,
) -> CallResult:
    """A chat / FIM / agent completion, whole or as a stream assembled it so far."""
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
    """A whole response: ``ChatCompletionResponse``, ``FIMCompletionResponse`` or ``EmbeddingResponse``."""
    if request.operation == EMBEDDINGS:
        return embeddings_result(response)
    finishes, choices = read_choices(response, request.capture_content)
    return completion_result(
        request,
        model=get(response, "model"),
        response_id=get(response, "id"),
        finish_reasons=finishes,
        usage=get(response, "usage"),
        choices=choices,
    )


def embeddings_result(response: Any) -> CallResult:
    token_counts, status = read_usage(token_usage, get(response, "usage"))
    result = CallResult(
        response_model=_text(get(response, "model")),
        response_id=_text(get(response, "id")),
        usage=token_counts,
        status=status,
    )
    data = get(response, "data") or ()
    vector = get(data[0], "embedding") if data else None
    if isinstance(vector, list) and vector:
        result.attributes[attr.EMBEDDINGS_DIMENSION_COUNT] = len(vector)
    return result
