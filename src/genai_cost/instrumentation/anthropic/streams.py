"""Following a raw Anthropic event stream (``create(stream=True)`` and the ``.stream()`` helpers).

``message_start`` carries the id, the model, the input and cache counts and a first output count;
each ``message_delta`` carries *cumulative* counts (output always, input and cache on current API
versions) and the stop reason. Counts are merged key by key, later events winning, so a stream that
ends early is priced with everything it reported so far.
"""

from __future__ import annotations

from typing import Any

from genai_cost.instrumentation._read import get
from genai_cost.instrumentation.anthropic.request import Request, Server
from genai_cost.instrumentation.anthropic.response import message_result
from genai_cost.instrumentation.lifecycle import CallResult

_USAGE_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cache_creation",
    "output_tokens_details",
    "server_tool_use",
    "service_tier",
)


class MessageStreamObserver:
    """A ``lifecycle.StreamObserver`` over ``RawMessageStreamEvent`` items."""

    __slots__ = ("request", "server", "model", "message_id", "stop_reason", "usage", "content")

    def __init__(self, request: Request, server: Server) -> None:
        self.request = request
        self.server = server
        self.model: Any = None
        self.message_id: Any = None
        self.stop_reason: Any = None
        self.usage: dict[str, Any] | None = None
        # Only kept when content capture is on: the blocks, as their deltas arrive.
        self.content: list[dict[str, Any]] | None = [] if request.capture_content else None

    def _merge(self, usage: Any) -> None:
        if usage is None:
            return
        merged = self.usage if self.usage is not None else {}
        for name in _USAGE_FIELDS:
            value = get(usage, name)
            if value is not None:
                merged[name] = value
        self.usage = merged

    def observe(self, event: Any) -> bool:
        kind = getattr(event, "type", None)
        if kind == "message_delta":
            self._merge(getattr(event, "usage", None))
            self.stop_reason = get(getattr(event, "delta", None), "stop_reason") or self.stop_reason
        elif kind == "message_start":
            message = getattr(event, "message", None)
            self.model = get(message, "model")
            self.message_id = get(message, "id")
            self._merge(get(message, "usage"))
        elif self.content is not None:
            self._content(kind, event)
        return True

    def _content(self, kind: Any, event: Any) -> None:
        content = self.content
        assert content is not None
        if kind == "content_block_start":
            block = getattr(event, "content_block", None)
            content.append(
                {
                    "type": get(block, "type"),
                    "id": get(block, "id"),
                    "name": get(block, "name"),
                    "text": "",
                    "thinking": "",
                    "input": "",
                }
            )
        elif kind == "content_block_delta" and content:
            delta = getattr(event, "delta", None)
            block = content[-1]
            for field, key in (("text", "text"), ("thinking", "thinking"), ("partial_json", "input")):
                piece = get(delta, field)
                if isinstance(piece, str):
                    block[key] += piece

    def result(self) -> CallResult:
        return message_result(
            self.request,
            self.server,
            model=self.model,
            message_id=self.message_id,
            stop_reason=self.stop_reason,
            usage=self.usage,
            content=self.content,
        )
