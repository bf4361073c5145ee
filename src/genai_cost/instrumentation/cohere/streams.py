"""Following Cohere streams: v2 ``chat_stream`` events (``message-start`` gives the id,
``content-delta`` / ``tool-call-*`` what was said, ``message-end`` the finish reason and the usage)
and v1 ``chat_stream`` / ``generate_stream`` events (``stream-end`` carries the whole response --
with its billed units on chat, without any on generate, as Cohere sends it).
"""

from __future__ import annotations

from typing import Any

from genai_cost.attributes import Status
from genai_cost.instrumentation._content import function_tool_calls
from genai_cost.instrumentation._read import get
from genai_cost.instrumentation.cohere.request import CHAT, Request
from genai_cost.instrumentation.cohere.response import result_of
from genai_cost.instrumentation.lifecycle import CallResult

_NO_GENERATE_USAGE = (Status.NO_USAGE, "Cohere's generate stream reports no usage")


class StreamObserver:
    """A ``lifecycle.StreamObserver`` over v2 or v1 stream events."""

    __slots__ = ("request", "response_id", "finish", "billed", "text", "calls", "ended")

    def __init__(self, request: Request) -> None:
        self.request = request
        self.response_id: Any = None
        self.finish: Any = None
        self.billed: Any = None
        self.ended = False
        # Only kept with content capture on: the text and tool calls, from their deltas.
        self.text: list[str] | None = [] if request.capture_content else None
        self.calls: list[dict[str, Any]] = []

    def observe(self, event: Any) -> bool:
        kind = get(event, "type")
        if kind is not None:
            self._v2(kind, event)
        else:
            self._v1(get(event, "event_type"), event)
        return True

    def _v2(self, kind: str, event: Any) -> None:
        if kind == "message-start":
            self.response_id = get(event, "id")
        elif kind == "message-end":
            delta = get(event, "delta")
            self.finish = get(delta, "finish_reason")
            self.billed = get(get(delta, "usage"), "billed_units")
            self.ended = True
        elif self.text is not None:
            message = get(get(event, "delta"), "message")
            if kind == "content-delta":
                piece = get(get(message, "content"), "text")
                if isinstance(piece, str):
                    self.text.append(piece)
            elif kind == "tool-call-start":
                call = get(message, "tool_calls")
                function = get(call, "function")
                name = get(function, "name")
                self.calls.append({"id": get(call, "id"), "function": {"name": name, "arguments": ""}})
            elif kind == "tool-call-delta" and self.calls:
                piece = get(get(get(message, "tool_calls"), "function"), "arguments")
                if isinstance(piece, str):
                    self.calls[-1]["function"]["arguments"] += piece

    def _v1(self, kind: Any, event: Any) -> None:
        if kind == "stream-start":
            self.response_id = get(event, "generation_id")
        elif kind == "text-generation" and self.text is not None:
            piece = get(event, "text")
            if isinstance(piece, str) and not get(event, "index"):  # the first generation's
                self.text.append(piece)
        elif kind == "stream-end":
            response = get(event, "response")
            self.finish = get(event, "finish_reason")
            self.response_id = get(response, "response_id") or get(response, "id") or self.response_id
            self.billed = get(get(response, "meta"), "billed_units")
            self.ended = True

    def result(self) -> CallResult:
        output = None
        if self.text is not None:
            text = "".join(self.text)
            output = ([{"type": "text", "content": text}] if text else []) + function_tool_calls(self.calls, get)
        result = result_of(
            self.request, billed=self.billed, response_id=self.response_id, finish_reason=self.finish, output=output
        )
        if self.ended and self.billed is None and self.request.operation != CHAT:
            result.status = _NO_GENERATE_USAGE
        return result
