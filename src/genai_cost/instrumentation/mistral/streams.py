"""Following a Mistral stream: chat, fill-in-the-middle and agent completions stream
``CompletionEvent`` items whose ``data`` is an OpenAI-shaped chunk (read by ``_chat_shape``). The
usage comes with the last chunk (the one carrying ``finish_reason``), so a stream that ends early
has none: its span says so.
"""

from __future__ import annotations

from typing import Any

from genai_cost.instrumentation._chat_shape import ChunkReader
from genai_cost.instrumentation._compatible import completion_result
from genai_cost.instrumentation._read import get
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.instrumentation.mistral.request import Request


class CompletionStreamObserver:
    """A ``lifecycle.StreamObserver`` over ``CompletionEvent`` items."""

    __slots__ = ("request", "chunks")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.chunks = ChunkReader(request.capture_content)

    def observe(self, event: Any) -> bool:
        chunk = get(event, "data")
        if chunk is not None:
            self.chunks.read(chunk)
        return True

    def result(self) -> CallResult:
        chunks = self.chunks
        return completion_result(
            self.request.capture_content,
            model=chunks.model,
            response_id=chunks.response_id,
            finish_reasons=chunks.finish_reasons,
            usage=chunks.usage,
            choices=chunks.choices(),
        )
