"""What an OpenAI response says: its usage as a ``TokenUsage``, and a ``CallResult`` per API.

Usage is read exactly as the server sent it. OpenAI counts cached tokens inside ``prompt_tokens``
/ ``input_tokens`` and reasoning inside ``completion_tokens`` / ``output_tokens``, which is already
the semconv meaning ``TokenUsage`` uses, so no arithmetic happens here. Everything is read with
``getattr``-style access: OpenAI-compatible servers omit fields, send nulls, or add their own
(OpenRouter's ``usage.cost``), and the SDK keeps unknown fields as extras.
"""

from __future__ import annotations

from typing import Any

from genai_cost import attributes as attr
from genai_cost.attributes import Status
from genai_cost.instrumentation._read import fields, get, given, read_usage
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.instrumentation.openai import content
from genai_cost.instrumentation.openai.request import Request
from genai_cost.usage import TokenUsage


def _count(value: Any) -> Any:
    """A token count: missing/None is 0, an integral float (some servers) is an int; anything
    else is passed on for ``TokenUsage`` to reject as invalid."""
    if value is None:
        return 0
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def chat_usage(usage: Any) -> TokenUsage | None:
    """``CompletionUsage`` (chat and legacy completions) -> TokenUsage; None when absent."""
    read = fields(usage)
    prompt, completion = read.get("prompt_tokens"), read.get("completion_tokens")
    if prompt is None and completion is None:
        return None
    prompt_details = fields(read.get("prompt_tokens_details"))
    completion_details = fields(read.get("completion_tokens_details"))
    return TokenUsage(
        input_tokens=_count(prompt),
        output_tokens=_count(completion),
        cache_read_tokens=_count(prompt_details.get("cached_tokens")),
        cache_write_tokens=_count(prompt_details.get("cache_write_tokens")),
        reasoning_tokens=_count(completion_details.get("reasoning_tokens")),
        input_audio_tokens=_count(prompt_details.get("audio_tokens")),
        output_audio_tokens=_count(completion_details.get("audio_tokens")),
        input_image_tokens=_count(prompt_details.get("image_tokens")),
        output_image_tokens=_count(completion_details.get("image_tokens")),
    )


def embeddings_usage(usage: Any) -> TokenUsage | None:
    prompt = get(usage, "prompt_tokens")
    return None if prompt is None else TokenUsage(input_tokens=_count(prompt))


def web_searches(response: Any) -> int:
    """Billable web searches of a Responses call.

    ``tool_usage.web_search.num_requests`` is OpenAI's billable count (it leaves out page opens
    and discounted searches); without it, count the ``web_search_call`` output items that
    searched.
    """
    reported = get(get(get(response, "tool_usage"), "web_search"), "num_requests")
    if reported is not None:
        return _count(reported)
    searches = 0
    for item in get(response, "output") or ():
        if get(item, "type") == "web_search_call":
            action = get(item, "action")
            if action is None or get(action, "type") in (None, "search"):
                searches += 1
    return searches


def responses_usage(response: Any) -> TokenUsage | None:
    usage = get(response, "usage")
    input_tokens, output_tokens = get(usage, "input_tokens"), get(usage, "output_tokens")
    if input_tokens is None and output_tokens is None:
        return None
    input_details = get(usage, "input_tokens_details")
    return TokenUsage(
        input_tokens=_count(input_tokens),
        output_tokens=_count(output_tokens),
        cache_read_tokens=_count(get(input_details, "cached_tokens")),
        cache_write_tokens=_count(get(input_details, "cache_write_tokens")),
        reasoning_tokens=_count(get(get(usage, "output_tokens_details"), "reasoning_tokens")),
        web_searches=web_searches(response),
    )


def reported_cost(usage: Any) -> float | None:
    """The provider's own price of the call (OpenRouter: ``usage.cost``, in USD credits)."""
    cost = get(usage, "cost")
    if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
        return float(cost)
    return None


def service_tier(response: Any, request: Request) -> tuple[dict[str, Any], dict[str, str] | None]:
    """(span attributes, price context) for the service tier that served the call. The response
    says which tier was used; the request's own "auto" would not say anything."""
    tier = get(response, "service_tier")
    attributes = {attr.OPENAI_SERVICE_TIER: tier} if isinstance(tier, str) and tier else {}
    if not attributes:
        asked = given(request.kwargs.get("service_tier"))
        tier = asked if isinstance(asked, str) and asked != "auto" else None
    return attributes, ({"service_tier": tier} if tier else None)


def _non_empty(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _model(response: Any) -> str | None:
    return _non_empty(get(response, "model"))


def _id(response: Any) -> str | None:
    return _non_empty(get(response, "id"))


def chat_finish_reasons(choices: Any) -> tuple[str, ...]:
    return tuple(str(reason) for choice in choices or () if (reason := get(choice, "finish_reason")))


def chat_result(completion: Any, request: Request) -> CallResult:
    """``ChatCompletion`` (also ``ParsedChatCompletion``) and legacy ``Completion``."""
    read = fields(completion)
    usage_object = read.get("usage")
    usage, status = read_usage(chat_usage, usage_object)
    attributes, price_context = service_tier(completion, request)
    choices = read.get("choices")
    if request.capture_content:
        messages = (
            content.completion_output(choices)
            if request.operation == "text_completion"
            else content.chat_output(choices)
        )
        attributes[attr.OUTPUT_MESSAGES] = content.to_json(messages)
    return CallResult(
        response_model=_non_empty(read.get("model")),
        response_id=_non_empty(read.get("id")),
        finish_reasons=chat_finish_reasons(choices),
        usage=usage,
        reported_cost=reported_cost(usage_object),
        price_context=price_context,
        attributes=attributes,
        status=status,
    )


def embeddings_result(response: Any, request: Request) -> CallResult:
    usage_object = get(response, "usage")
    usage, status = read_usage(embeddings_usage, usage_object)
    return CallResult(
        response_model=_model(response), usage=usage, reported_cost=reported_cost(usage_object), status=status
    )


# Responses API: `incomplete_details.reason` -> the finish reason other APIs use.
_INCOMPLETE_REASONS = {"max_output_tokens": "length", "content_filter": "content_filter"}
# Output items that hand control back to the caller's code (hosted tools such as web search run
# server-side and end in a message).
_CLIENT_TOOL_CALLS = frozenset({"function_call", "custom_tool_call", "computer_call", "local_shell_call", "shell_call"})


def responses_finish_reasons(response: Any) -> tuple[str, ...]:
    status = get(response, "status")
    if status in ("failed", "cancelled"):
        return ("error",)
    if status == "incomplete":
        reason = get(get(response, "incomplete_details"), "reason")
        return (_INCOMPLETE_REASONS.get(reason, reason) if isinstance(reason, str) else "incomplete",)
    if status != "completed":
        return ()
    reasons = []
    for item in get(response, "output") or ():
        kind = get(item, "type")
        if kind in _CLIENT_TOOL_CALLS:
            reasons.append("tool_calls")
        elif kind == "message":
            reasons.append("stop")
    return tuple(dict.fromkeys(reasons)) or ("stop",)


def responses_result(response: Any, request: Request) -> CallResult:
    """``Response`` / ``ParsedResponse``."""
    usage, status = read_usage(responses_usage, response)
    attributes, price_context = service_tier(response, request)
    finish = responses_finish_reasons(response)
    if request.capture_content:
        attributes[attr.OUTPUT_MESSAGES] = content.to_json(
            content.responses_output(get(response, "output"), finish[0] if finish else None)
        )
    return CallResult(
        response_model=_model(response),
        response_id=_id(response),
        finish_reasons=finish,
        usage=usage,
        reported_cost=reported_cost(get(response, "usage")),
        price_context=price_context,
        attributes=attributes,
        status=status,
    )


def fetch_result(response: Any, request: Request) -> CallResult:
    """``responses.retrieve``: a stored response, fetched.

    Fetching bills no tokens. The usage the fetched object carries was billed when it was
    generated and is priced on that call's span; repeating it here would count it again in every
    sum over spans and token metrics (and pollers fetch the same response many times). So the
    span says what was fetched (model, status, finish reasons) with no usage and no price, and
    does not count as an unpriced call.
    """
    response_id = _id(response) or request.attributes.get(attr.RESPONSE_ID)
    attributes, _ = service_tier(response, request)
    if isinstance(state := get(response, "status"), str):
        attributes[attr.RESPONSE_STATUS] = state
    finish = responses_finish_reasons(response)
    if request.capture_content:
        attributes[attr.OUTPUT_MESSAGES] = content.to_json(
            content.responses_output(get(response, "output"), finish[0] if finish else None)
        )
        if instructions := content.system_instructions(get(response, "instructions")):
            attributes[attr.SYSTEM_INSTRUCTIONS] = instructions
    return CallResult(
        response_model=_model(response),
        response_id=response_id,
        finish_reasons=finish,
        attributes=attributes,
        billable=False,
        status=(
            Status.NO_USAGE,
            f"fetching stored response {response_id} bills no tokens; "
            "its usage was priced on the call that generated it",
        ),
    )


def unread_result(request: Request, how: str) -> CallResult:
    """A call whose response body we never saw (a raw response read as bytes, or left unread)."""
    return CallResult(status=(Status.NO_USAGE, how), billable=request.operation != "fetch_response")
