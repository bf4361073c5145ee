"""Stream observers: what the lifecycle's stream proxies learn from each chunk or event.

* chat completions and legacy completions stream ``ChatCompletionChunk`` / ``Completion`` chunks;
  usage arrives only in a final chunk with ``choices == []``, and only when the request said
  ``stream_options.include_usage``. When *we* asked for it (the caller did not), that chunk is
  withheld and the ``"usage": null`` the server then adds to every other chunk is made unset
  again, so the caller sees the chunks it would have seen without us.
* the Responses API streams events; usage is on the terminal event's ``response``.

A stream that ends without usage (a server that ignores ``stream_options``, a stream cut short)
is estimated from the request text and the streamed text, and says so.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from genai_cost import attributes as attr
from genai_cost.attributes import Status
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.instrumentation._read import given, read_usage
from genai_cost.instrumentation.openai import content
from genai_cost.instrumentation.openai.request import Request
from genai_cost.instrumentation.openai.response import (
    reported_cost,
    service_tier,
    chat_usage,
    fetch_result,
    responses_result,
)
from genai_cost.usage import TokenUsage

CHARS_PER_TOKEN = 4
# Keys under which requests carry text the model reads (messages, Responses items, tool calls).
_TEXT_KEYS = ("content", "text", "output", "refusal", "tool_calls", "function", "name", "arguments")


def _chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, Mapping):
        return sum(_chars(value[key]) for key in _TEXT_KEYS if key in value)
    if isinstance(value, list | tuple):
        return sum(_chars(item) for item in value)
    if hasattr(value, "model_dump"):  # an SDK object passed back as input
        return _chars(value.model_dump())
    return 0


def request_chars(request: Request) -> int:
    kwargs = request.kwargs
    total = sum(_chars(given(kwargs.get(key))) for key in ("messages", "input", "instructions", "prompt"))
    tools = given(kwargs.get("tools"))
    if isinstance(tools, list | tuple) and tools:  # tool definitions are read as input too
        try:
            total += len(json.dumps(tools, default=str))
        except (TypeError, ValueError):
            pass
    return total


def estimated_usage(request: Request, output_chars: int) -> tuple[TokenUsage, tuple[str, str]]:
    input_chars = request_chars(request)
    usage = TokenUsage(
        input_tokens=math.ceil(input_chars / CHARS_PER_TOKEN), output_tokens=math.ceil(output_chars / CHARS_PER_TOKEN)
    )
    detail = (
        f"the stream carried no usage: estimated {usage.input_tokens} input tokens from {input_chars} characters "
        f"of request text and {usage.output_tokens} output tokens from {output_chars} streamed characters, at "
        f"{CHARS_PER_TOKEN} characters per token (hidden reasoning tokens cannot be seen)"
    )
    return usage, (Status.ESTIMATED, detail)


class ChatStreamObserver:
    """Chat completion chunks, or legacy completion chunks (``text_completion``)."""

    __slots__ = (
        "request",
        "withhold",
        "legacy",
        "model",
        "response_id",
        "tier",
        "usage",
        "finish",
        "output_chars",
        "texts",
        "tools",
    )

    def __init__(self, request: Request, withhold: bool) -> None:
        self.request = request
        self.withhold = withhold
        self.legacy = request.operation == "text_completion"
        self.model: str | None = None
        self.response_id: str | None = None
        self.tier: str | None = None
        self.usage: Any = None
        self.finish: dict[int, str] = {}
        self.output_chars = 0
        # Content is accumulated only when it will be recorded.
        self.texts: dict[int, list[str]] | None = {} if request.capture_content else None
        self.tools: dict[int, dict[int, dict[str, Any]]] = {}

    def observe(self, chunk: Any) -> bool:
        # Once per chunk: attribute reads only, and what is known already is not read again.
        if self.response_id is None or self.model is None:
            self._identify(chunk)
        tier = getattr(chunk, "service_tier", None)
        if tier is not None and isinstance(tier, str):
            self.tier = tier
        usage = getattr(chunk, "usage", None)
        choices = getattr(chunk, "choices", None)
        if choices:
            for choice in choices:
                if self.legacy or self.texts is not None:
                    self._choice(choice)
                    continue
                # Most chunks are a piece of text, inlined here; the rest take _choice.
                delta = getattr(choice, "delta", None)
                text = getattr(delta, "content", None)
                if (
                    getattr(choice, "finish_reason", None) is None
                    and getattr(delta, "refusal", None) is None
                    and getattr(delta, "tool_calls", None) is None
                ):
                    if text and isinstance(text, str):
                        self.output_chars += len(text)
                else:
                    self._choice(choice)
        if usage is not None:
            self.usage = usage
            if self.withhold and not choices:
                return False  # the usage-only chunk the caller did not ask for
        elif self.withhold:
            # "usage": null is on every chunk only because we asked for usage.
            fields_set = getattr(chunk, "model_fields_set", None)
            if isinstance(fields_set, set):
                fields_set.discard("usage")
        return True

    def _identify(self, chunk: Any) -> None:
        if self.model is None:
            model = getattr(chunk, "model", None)
            if isinstance(model, str) and model:  # Azure's first (filter-results) chunk has ""
                self.model = model
        if self.response_id is None:
            chunk_id = getattr(chunk, "id", None)
            if isinstance(chunk_id, str) and chunk_id:
                self.response_id = chunk_id

    def _choice(self, choice: Any) -> None:
        reason = getattr(choice, "finish_reason", None)
        if self.legacy:
            text = getattr(choice, "text", None)
            calls = None
        else:
            delta = getattr(choice, "delta", None)
            text = getattr(delta, "content", None)
            refusal = getattr(delta, "refusal", None)
            if refusal is not None and isinstance(refusal, str):
                text = (text or "") + refusal
            calls = getattr(delta, "tool_calls", None)
        index = getattr(choice, "index", 0) or 0
        if reason:
            self.finish[index] = str(reason)
        if isinstance(text, str) and text:
            self.output_chars += len(text)
            if self.texts is not None:
                self.texts.setdefault(index, []).append(text)
        for call in calls or ():
            function = getattr(call, "function", None)
            name, arguments = getattr(function, "name", None), getattr(function, "arguments", None)
            self.output_chars += len(name or "") + len(arguments or "")
            if self.texts is not None:
                slot = self.tools.setdefault(index, {}).setdefault(getattr(call, "index", 0) or 0, {"arguments": []})
                if getattr(call, "id", None):
                    slot["id"] = call.id
                if name:
                    slot["name"] = name
                if arguments:
                    slot["arguments"].append(arguments)

    def result(self) -> CallResult:
        request = self.request
        usage, status = read_usage(chat_usage, self.usage) if self.usage is not None else (None, None)
        if usage is None and status is None:
            usage, status = estimated_usage(request, self.output_chars)
        attributes, price_context = service_tier({"service_tier": self.tier}, request)
        if self.texts is not None:
            if self.legacy:
                messages = content.streamed_completion_output(self.texts, self.finish)
            else:
                messages = content.streamed_output(self.texts, self.tools, self.finish)
            attributes[attr.OUTPUT_MESSAGES] = content.to_json(messages)
        return CallResult(
            response_model=self.model,
            response_id=self.response_id,
            finish_reasons=tuple(self.finish[i] for i in sorted(self.finish)),
            usage=usage,
            reported_cost=reported_cost(self.usage),
            price_context=price_context,
            attributes=attributes,
            status=status,
        )


# Responses events whose `delta` is generated text (audio deltas are base64: not counted).
_TEXT_DELTAS = frozenset(
    {
        "response.output_text.delta",
        "response.refusal.delta",
        "response.function_call_arguments.delta",
        "response.custom_tool_call_input.delta",
    }
)


class ResponsesStreamObserver:
    """Responses API events, from ``responses.create(stream=True)`` / ``responses.stream()``, or a
    stored response streamed again by ``responses.retrieve(stream=True)`` (``fetch``)."""

    __slots__ = ("request", "fetch", "response", "output_chars")

    def __init__(self, request: Request, fetch: bool = False) -> None:
        self.request = request
        self.fetch = fetch
        self.response: Any = None  # the latest snapshot (created, in_progress, ... completed)
        self.output_chars = 0

    def observe(self, event: Any) -> bool:
        response = getattr(event, "response", None)
        if response is not None:
            self.response = response
        elif getattr(event, "type", None) in _TEXT_DELTAS:
            delta = getattr(event, "delta", None)
            if isinstance(delta, str):
                self.output_chars += len(delta)
        return True

    def result(self) -> CallResult:
        if self.fetch:
            return fetch_result(self.response, self.request)
        result = CallResult() if self.response is None else responses_result(self.response, self.request)
        if result.usage is None and result.status is None:
            # The terminal event (with usage) never came.
            result.usage, result.status = estimated_usage(self.request, self.output_chars)
        return result
