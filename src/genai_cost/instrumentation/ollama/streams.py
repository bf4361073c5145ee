"""Following an Ollama NDJSON stream (``chat`` / ``generate`` with ``stream=True``).

Each item is a whole ``ChatResponse`` / ``GenerateResponse`` carrying one piece of the reply; the
last (``done``) carries the counts, the ``done_reason`` and, for chat, any tool calls. A stream
that ends before that line has no counts: it is reported ``no_usage`` with why (partial), never
priced as if it were free.
"""

from __future__ import annotations

from typing import Any

from genai_cost.instrumentation._read import fields, get
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.instrumentation.ollama.request import Request
from genai_cost.instrumentation.ollama.response import call_result


class ChunkObserver:
    """A ``lifecycle.StreamObserver`` over Ollama response chunks."""

    __slots__ = ("request", "final", "model", "text", "thinking", "tool_calls")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.final: Any = None
        self.model: Any = None
        # Only kept when content capture is on.
        self.text: list[str] | None = [] if request.capture_content else None
        self.thinking: list[str] = []
        self.tool_calls: list[Any] = []

    def observe(self, chunk: Any) -> bool:
        # Runs on every line of every stream: several keys of one chunk, one step each (``fields``).
        read = fields(chunk)
        if self.model is None:
            self.model = read.get("model")
        message = read.get("message")
        if message is not None:
            calls = get(message, "tool_calls")
            if calls:
                self.tool_calls.extend(calls)
        if self.text is not None:
            source = message if message is not None else chunk
            piece = get(source, "content" if message is not None else "response")
            if isinstance(piece, str):
                self.text.append(piece)
            thought = get(source, "thinking")
            if isinstance(thought, str):
                self.thinking.append(thought)
        if read.get("done"):
            self.final = chunk
        return True

    def result(self) -> CallResult:
        final = self.final if self.final is not None else {"model": self.model}
        return call_result(
            self.request,
            final,
            text="".join(self.text or ()),
            thinking="".join(self.thinking),
            tool_calls=self.tool_calls,
        )
