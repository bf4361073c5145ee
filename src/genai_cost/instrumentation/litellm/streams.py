"""Following a LiteLLM stream (``CustomStreamWrapper``, sync or async).

Chunks are OpenAI-shaped whatever the provider: id, model, ``choices[].delta`` and
``finish_reason``; with ``stream_options.include_usage`` LiteLLM puts the provider's final usage on
a last chunk. We ask for that chunk when the caller did not, and then withhold it from them if it
carries nothing else (no choice content), as the openai instrumentation does. LiteLLM computes its
own cost of a stream only later, in its logging thread, so a stream's span has no
``litellm.response_cost``.
"""

from __future__ import annotations

from typing import Any

from genai_cost import attributes as attr
from genai_cost.instrumentation._read import get
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.instrumentation.litellm.request import Request
from genai_cost.instrumentation.litellm.response import call_result, output_messages


def _carries_content(choices: Any) -> bool:
    for choice in choices or ():
        if get(choice, "finish_reason"):
            return True
        delta = get(choice, "delta")
        if get(delta, "content") or get(delta, "tool_calls") or get(delta, "reasoning_content"):
            return True
    return False


class ChunkObserver:
    """A ``lifecycle.StreamObserver`` over LiteLLM ``ModelResponseStream`` chunks."""

    __slots__ = ("request", "model", "response_id", "finish_reasons", "usage", "text", "tool_calls")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.model: Any = None
        self.response_id: Any = None
        self.finish_reasons: list[str] = []
        self.usage: Any = None
        # Only kept when content capture is on.
        self.text: list[str] | None = [] if request.capture_content else None
        self.tool_calls: dict[int, dict[str, Any]] = {}

    def observe(self, chunk: Any) -> bool:
        self.model = self.model or get(chunk, "model")
        self.response_id = self.response_id or get(chunk, "id")
        choices = get(chunk, "choices") or ()
        for choice in choices:
            reason = get(choice, "finish_reason")
            if isinstance(reason, str) and reason and reason not in self.finish_reasons:
                self.finish_reasons.append(reason)
            if self.text is not None:
                self._content(get(choice, "delta"))
        usage = get(chunk, "usage")
        if usage is not None and get(usage, "prompt_tokens") is not None:
            self.usage = usage
            if self.request.added_usage_chunk and not _carries_content(choices):
                return False
        return True

    def _content(self, delta: Any) -> None:
        assert self.text is not None
        piece = get(delta, "content")
        if isinstance(piece, str):
            self.text.append(piece)
        for call in get(delta, "tool_calls") or ():
            index = get(call, "index") or 0
            entry = self.tool_calls.setdefault(index, {"id": None, "name": None, "arguments": ""})
            function = get(call, "function")
            entry["id"] = entry["id"] or get(call, "id")
            entry["name"] = entry["name"] or get(function, "name")
            entry["arguments"] += get(function, "arguments") or ""

    def result(self) -> CallResult:
        result = call_result(
            self.request,
            model=self.model,
            response_id=self.response_id,
            finish_reasons=tuple(self.finish_reasons),
            usage=self.usage,
        )
        if self.text is not None:
            message = {
                "content": "".join(self.text),
                "tool_calls": [
                    {"id": c["id"], "function": {"name": c["name"], "arguments": c["arguments"]}}
                    for c in self.tool_calls.values()
                ],
            }
            reason = self.finish_reasons[-1] if self.finish_reasons else ""
            result.attributes[attr.OUTPUT_MESSAGES] = output_messages([{"message": message, "finish_reason": reason}])
        return result
