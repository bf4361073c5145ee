"""Following a Groq chat stream: OpenAI-shaped ``ChatCompletionChunk`` items (read by
``_chat_shape``), whose usage arrives in the last chunk's ``x_groq.usage`` -- so a stream ended
before it has none, and its span says so."""

from __future__ import annotations

from typing import Any

from genai_cost.instrumentation._chat_shape import ChunkReader
from genai_cost.instrumentation._read import get
from genai_cost.instrumentation.groq.request import Request
from genai_cost.instrumentation.groq.response import chat_result
from genai_cost.instrumentation.lifecycle import CallResult


class ChatStreamObserver:
    """A ``lifecycle.StreamObserver`` over ``ChatCompletionChunk`` items."""

    __slots__ = ("request", "chunks", "groq_usage")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.chunks = ChunkReader(request.capture_content)
        self.groq_usage: Any = None

    def observe(self, chunk: Any) -> bool:
        self.chunks.read(chunk)
        x_groq = get(chunk, "x_groq")
        if x_groq is not None:
            usage = get(x_groq, "usage")
            if usage is not None:
                self.groq_usage = usage
        return True

    def result(self) -> CallResult:
        chunks = self.chunks
        return chat_result(
            self.request,
            model=chunks.model,
            response_id=chunks.response_id,
            finish_reasons=chunks.finish_reasons,
            usage=chunks.usage if chunks.usage is not None else self.groq_usage,
            choices=chunks.choices(),
        )
