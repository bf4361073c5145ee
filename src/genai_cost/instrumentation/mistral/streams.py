"""Following a Mistral stream: chat, fill-in-the-middle and agent completions stream
``CompletionEvent`` items whose ``data`` is an OpenAI-style chunk. The usage comes with the last
chunk (the one carrying ``finish_reason``), so a stream that ends early has none: its span says so.
"""

from __future__ import annotations

from typing import Any

from genai_cost.instrumentation._read import get
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.instrumentation.mistral import content
from genai_cost.instrumentation.mistral.request import Request
from genai_cost.instrumentation.mistral.response import completion_result


class _Choice:
    """One choice's text and tool calls, assembled from deltas (only with content capture on)."""

    __slots__ = ("role", "text", "tool_calls", "finish")

    def __init__(self) -> None:
        self.role = "assistant"
        self.text: list[str] = []
        self.tool_calls: list[Any] = []
        self.finish: str | None = None

    def add(self, delta: Any) -> None:
        piece = get(delta, "content")
        if isinstance(piece, str):
            self.text.append(piece)
        self.tool_calls += get(delta, "tool_calls") or ()

    def parts(self) -> list[dict[str, Any]]:
        text = "".join(self.text)
        parts: list[dict[str, Any]] = [{"type": "text", "content": text}] if text else []
        return parts + content.tool_call_parts(self.tool_calls)


class CompletionStreamObserver:
    """A ``lifecycle.StreamObserver`` over ``CompletionEvent`` items."""

    __slots__ = ("request", "model", "response_id", "finishes", "usage", "choices")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.model: Any = None
        self.response_id: Any = None
        self.finishes: dict[int, str] = {}
        self.usage: Any = None
        self.choices: dict[int, _Choice] | None = {} if request.capture_content else None

    def observe(self, event: Any) -> bool:
        chunk = get(event, "data")
        if chunk is None:
            return True
        if self.response_id is None:
            self.response_id = get(chunk, "id")
            self.model = get(chunk, "model")
        usage = get(chunk, "usage")
        if usage is not None:
            self.usage = usage
        for choice in get(chunk, "choices") or ():
            index = get(choice, "index") or 0
            finish = get(choice, "finish_reason")
            if isinstance(finish, str) and finish:
                self.finishes[index] = finish
            if self.choices is not None:
                assembled = self.choices.get(index)
                if assembled is None:
                    assembled = self.choices[index] = _Choice()
                assembled.add(get(choice, "delta"))
        return True

    def result(self) -> CallResult:
        choices = None
        if self.choices is not None:
            choices = [(c.role, c.parts(), self.finishes.get(i)) for i, c in sorted(self.choices.items())]
        return completion_result(
            self.request,
            model=self.model,
            response_id=self.response_id,
            finish_reasons=tuple(self.finishes[i] for i in sorted(self.finishes)),
            usage=self.usage,
            choices=choices,
        )
