"""What a Mistral response says, as a ``CallResult``; its usage is read as ``_compatible`` reads
OpenAI-shaped usage.

Mistral reports OpenAI-style counts: ``prompt_tokens`` (including any cached prefix, reported in
``prompt_tokens_details.cached_tokens`` when prompt caching served part of it) and
``completion_tokens``. Chat, fill-in-the-middle and agent completions answer with the same
document; embeddings answer with ``data`` and input-only usage.
"""

from __future__ import annotations

from typing import Any

from genai_cost import attributes as attr
from genai_cost.instrumentation._chat_shape import read_choices
from genai_cost.instrumentation._compatible import completion_result, token_usage
from genai_cost.instrumentation._read import get, read_usage
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.instrumentation.mistral.request import EMBEDDINGS, Request


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def response_result(response: Any, request: Request) -> CallResult:
    """A whole response: ``ChatCompletionResponse``, ``FIMCompletionResponse`` or ``EmbeddingResponse``."""
    if request.operation == EMBEDDINGS:
        return embeddings_result(response)
    finishes, choices = read_choices(response, request.capture_content)
    return completion_result(
        request.capture_content,
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
