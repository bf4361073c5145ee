"""What an Ollama response says: its usage as a ``TokenUsage``, and a ``CallResult``.

Ollama counts ``prompt_eval_count`` (the prompt tokens it evaluated) and ``eval_count`` (the tokens
it generated, thinking included) on the response, or on a stream's last (``done``) line; an
embedding reports ``prompt_eval_count`` only, and the older ``/api/embeddings`` nothing. There is no
cache accounting and no response id. A local model has no list price: the catalog reports it
``unknown_model`` unless the configuration prices it (per token, or per GPU-hour).
"""

from __future__ import annotations

from typing import Any

from genai_cost import attributes as attr
from genai_cost.instrumentation._content import to_json
from genai_cost.instrumentation._read import get, read_usage
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.instrumentation.ollama.request import Request
from genai_cost.usage import TokenUsage


def token_usage(response: Any) -> TokenUsage | None:
    """The counts on a response or final stream line; None when it carries neither."""
    prompt = get(response, "prompt_eval_count")
    generated = get(response, "eval_count")
    if prompt is None and generated is None:
        return None
    return TokenUsage(input_tokens=prompt or 0, output_tokens=generated or 0)


def output_messages(text: str, thinking: str, tool_calls: Any, finish_reason: str | None) -> str:
    """``gen_ai.output.messages`` (opt-in only)."""
    parts: list[dict[str, Any]] = []
    if thinking:
        parts.append({"type": "reasoning", "content": thinking})
    if text:
        parts.append({"type": "text", "content": text})
    for call in tool_calls or ():
        function = get(call, "function")
        parts.append({"type": "tool_call", "name": get(function, "name"), "arguments": get(function, "arguments")})
    return to_json([{"role": "assistant", "parts": parts, "finish_reason": finish_reason or ""}])


def call_result(
    request: Request,
    final: Any,
    *,
    text: str = "",
    thinking: str = "",
    tool_calls: Any = None,
) -> CallResult:
    """The result of a call from its response (or a stream's last line, ``final``) and the reply
    text assembled so far (content capture only)."""
    usage, status = read_usage(token_usage, final)
    reason = get(final, "done_reason")
    finish = "tool_call" if tool_calls and reason in (None, "stop") else reason
    model = get(final, "model")
    result = CallResult(
        response_model=model if isinstance(model, str) and model else None,
        finish_reasons=(finish,) if isinstance(finish, str) and finish else (),
        usage=usage,
        status=status,
    )
    if request.operation == "embeddings":
        vectors = get(final, "embeddings")
        if vectors and isinstance(vectors, list) and isinstance(vectors[0], list):
            result.attributes[attr.EMBEDDINGS_DIMENSION_COUNT] = len(vectors[0])
    elif request.capture_content:
        result.attributes[attr.OUTPUT_MESSAGES] = output_messages(text, thinking, tool_calls, finish)
    return result


def response_result(response: Any, request: Request) -> CallResult:
    """A whole response: ``ChatResponse``, ``GenerateResponse``, ``EmbedResponse``, ``EmbeddingsResponse``."""
    message = get(response, "message")
    if message is not None:
        return call_result(
            request,
            response,
            text=get(message, "content") or "",
            thinking=get(message, "thinking") or "",
            tool_calls=get(message, "tool_calls"),
        )
    return call_result(
        request, response, text=get(response, "response") or "", thinking=get(response, "thinking") or ""
    )
