"""What the stub's OpenAI-shaped wires share (Groq, Mistral, Together): their answers are the stub's
OpenAI answers reshaped as that provider sends them, so they share the reshaping steps -- reading
OpenAI's stream chunks, sending tool calls whole instead of in fragments, writing the chunks back as
SSE events -- and the request handling around them (path, scripted events and errors, the turn).

A wire subclasses :class:`ReshapedWire`, naming its path pattern and error body, and answers a
route with a JSON document or a list of SSE events (``answer``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from genai_cost.testing.stub_server import (
    DEFAULT_REPLY,
    JSON,
    RecordedRequest,
    ScriptedResponse,
    SseEvent,
    Turn,
    _as_event,
    _compact,
    _Outgoing,
    _sse,
)

__all__ = ["ReshapedWire", "as_events", "chunks_of", "json_response", "whole_tool_calls"]


def chunks_of(events: Iterable[SseEvent]) -> list[dict[str, Any]]:
    """An OpenAI stream's chunks as dicts, without the final ``[DONE]``."""
    return [e.json() for e in events if e.data != "[DONE]"]


def as_events(chunks: Iterable[dict[str, Any]]) -> list[SseEvent]:
    """Chunks back to SSE events, compact as providers send them, then ``[DONE]``."""
    return [SseEvent(_compact(c)) for c in chunks] + [SseEvent("[DONE]")]


def whole_tool_calls(chunks: Iterable[dict[str, Any]], *, own_chunk: bool) -> list[dict[str, Any]]:
    """The choice chunks with every tool call sent whole, in one delta, when its choice finishes
    (neither Groq nor Mistral splits arguments across chunks): in a chunk of its own before the
    finishing one (``own_chunk``, Groq) or on the finishing chunk's delta (Mistral). The
    usage-only chunk (``choices: []``) is left out; each kept chunk loses ``refusal``."""
    out: list[dict[str, Any]] = []
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        if not chunk["choices"]:
            continue
        choice = chunk["choices"][0]
        delta = choice["delta"]
        delta.pop("refusal", None)
        for part in delta.pop("tool_calls", None) or ():
            call = calls.setdefault(part["index"], {"id": None, "type": "function", "function": {"arguments": ""}})
            call["id"] = part.get("id") or call["id"]
            function = part.get("function") or {}
            call["function"]["name"] = function.get("name") or call["function"].get("name")
            call["function"]["arguments"] += function.get("arguments") or ""
        if choice["finish_reason"] is not None and calls:
            whole = [{**call, "index": index} for index, call in sorted(calls.items())]
            calls = {}
            if own_chunk:
                out.append({**chunk, "choices": [{**choice, "finish_reason": None, "delta": {"tool_calls": whole}}]})
            else:
                delta["tool_calls"] = whole
        elif not delta and choice["finish_reason"] is None:
            continue  # a tool-call fragment, sent whole with the finish
        out.append(chunk)
    return out


def json_response(status: int, document: JSON) -> _Outgoing:
    return _Outgoing(status, [("Content-Type", "application/json")], json.dumps(document).encode(), recorded=document)


class ReshapedWire:
    """Answers one provider's paths for :class:`StubProvider` (``WIRE_MODULES``): scripted SSE
    events as given, a scripted status >= 400 with the provider's error body, a body that is not
    JSON with a 400, anything else with ``answer(route, body, turn)``."""

    prefix: str  # every path starts with it
    path: re.Pattern[str]  # matches a served path; its group ``route`` names the route
    name: str  # the stub's sequence numbers are counted per f"{name}-{route}"
    scripted_events = True  # whether ``sse_events`` scripts are served as given

    def error(self, status: int, message: str | None = None) -> JSON:
        raise NotImplementedError

    def answer(self, route: str, body: dict[str, Any], turn: Turn) -> JSON | list[SseEvent]:
        raise NotImplementedError

    def handles(self, path: str) -> bool:
        return path.startswith(self.prefix) and self.path.match(path) is not None

    def respond(self, request: RecordedRequest, script: ScriptedResponse, stub: Any) -> _Outgoing:
        match = self.path.match(request.path)
        assert match is not None
        route = match["route"]
        if self.scripted_events and script.sse_events is not None:
            out = _sse([_as_event(e, request.path) for e in script.sse_events])
            out.status = script.status
            return out
        if script.status >= 400:
            return json_response(script.status, self.error(script.status))
        if not isinstance(request.body, dict):
            return json_response(400, self.error(400, "invalid JSON body"))
        seq = stub._next_seq(f"{self.name}-{route}")
        text = script.text if script.text is not None else getattr(stub, "reply_text", DEFAULT_REPLY)
        reply = self.answer(route, request.body, Turn(seq, text, script.usage, {}))
        return _sse(reply) if isinstance(reply, list) else json_response(200, reply)
