"""The Groq wire format for the stub server: chat completions and embeddings as the ``groq`` SDK
calls them (``/openai/v1/...``, so a client pointed at ``base_url=stub.url`` reaches it).

    client = groq.Groq(api_key="test", base_url=stub.url, max_retries=0)

Routes: POST ``/openai/v1/chat/completions``, ``/openai/v1/embeddings``. Answers are the stub's
OpenAI answers reshaped as Groq sends them: usage carries Groq's timings (``queue_time``,
``prompt_time``, ``completion_time``, ``total_time``), every stream chunk carries ``x_groq`` (its
request id on the first and last), and the last chunk -- the one with ``finish_reason`` -- carries
the usage in ``x_groq.usage``; the usage-only chunk (``choices: []``) comes too only when the
request set ``stream_options.include_usage``. Tool calls stream whole, one delta each.

Scripting with :meth:`StubProvider.enqueue` on these paths: ``usage`` is merged over the usage
(``{"prompt_tokens_details": {"cached_tokens": N}}`` reports a prompt-cache hit); ``status`` >= 400
alone sends Groq's error body (the SDK raises ``groq.RateLimitError``, ...); ``sse_events``,
``fail_after_events`` and ``json`` work as on every path.
"""

from __future__ import annotations

import json
import re
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
    openai_chat,
    openai_embeddings,
)

__all__ = ["WIRE", "GroqWire", "groq_error"]

_PATH = re.compile(r"^/openai/v1/(?P<route>chat/completions|embeddings)$")
_TIMINGS = {"queue_time": 0.01, "prompt_time": 0.002, "completion_time": 0.03, "total_time": 0.042}


def groq_error(status: int, message: str | None = None) -> JSON:
    kind = "invalid_request_error" if status < 500 else "internal_server_error"
    code = "rate_limit_exceeded" if status == 429 else None
    return {"error": {"message": message or f"stub error {status}", "type": kind, "code": code}}


def _usage(usage: dict[str, Any], forced: Any) -> dict[str, Any]:
    out: dict[str, Any] = {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}
    out.update(_TIMINGS)
    for details in ("prompt_tokens_details", "completion_tokens_details"):
        if forced and details in forced:
            out[details] = usage[details]
    return out


def _stream(events: list[SseEvent], include_usage: bool, forced: Any, seq: int) -> list[SseEvent]:
    chunks = [e.json() for e in events if e.data != "[DONE]"]
    usage_chunk = next(c for c in chunks if not c["choices"])
    usage = _usage(usage_chunk["usage"], forced)
    request_id = f"req_stub_groq_{seq}"
    out: list[dict[str, Any]] = []
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        if not chunk["choices"]:
            continue
        chunk.pop("service_tier", None)
        chunk.pop("usage", None)
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
            out.append(
                {
                    **chunk,
                    "choices": [
                        {
                            **choice,
                            "finish_reason": None,
                            "delta": {
                                "tool_calls": [{**call, "index": index} for index, call in sorted(calls.items())]
                            },
                        }
                    ],
                }
            )
            calls = {}
        elif not delta and choice["finish_reason"] is None:
            continue  # a tool-call fragment: Groq sends the call whole
        out.append(chunk)
    out[0]["x_groq"] = {"id": request_id}
    out[-1]["x_groq"] = {"id": request_id, "usage": usage}
    if include_usage:
        for chunk in out:
            chunk["usage"] = None
        out.append({**out[-1], "choices": [], "usage": usage, "x_groq": {"id": request_id}})
    return [SseEvent(_compact(c)) for c in out] + [SseEvent("[DONE]")]


def chat(body: dict[str, Any], turn: Turn) -> Any:
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    reply = openai_chat({**body, "stream_options": {"include_usage": True}}, turn)
    if reply.events is not None:
        return _stream(list(reply.events), include_usage, turn.usage, turn.seq)
    document = dict(reply.json)
    document.pop("service_tier", None)
    document["usage"] = _usage(document["usage"], turn.usage)
    document["x_groq"] = {"id": f"req_stub_groq_{turn.seq}"}
    for choice in document["choices"]:
        choice["message"].pop("refusal", None)
        choice["message"].pop("annotations", None)
    return document


def embeddings(body: dict[str, Any], turn: Turn) -> Any:
    document = dict(openai_embeddings({**body, "dimensions": 768, "encoding_format": "float"}, turn).json)
    document["usage"] = {**document["usage"], **_TIMINGS}
    return {**document, "id": f"embd-stub-{turn.seq}"}


class GroqWire:
    """Answers ``/openai/v1/...`` paths for :class:`StubProvider` (``WIRE_MODULES``)."""

    def handles(self, path: str) -> bool:
        return path.startswith("/openai/v1/") and _PATH.match(path) is not None

    def respond(self, request: RecordedRequest, script: ScriptedResponse, stub: Any) -> _Outgoing:
        match = _PATH.match(request.path)
        assert match is not None
        route = match["route"]
        if script.sse_events is not None:
            out = _sse([_as_event(e, request.path) for e in script.sse_events])
            out.status = script.status
            return out
        if script.status >= 400:
            return _json(script.status, groq_error(script.status))
        if not isinstance(request.body, dict):
            return _json(400, groq_error(400, "invalid JSON"))
        seq = stub._next_seq(f"groq-{route}")
        text = script.text if script.text is not None else getattr(stub, "reply_text", DEFAULT_REPLY)
        turn = Turn(seq, text, script.usage, {})
        if route == "embeddings":
            return _json(200, embeddings(request.body, turn))
        reply = chat(request.body, turn)
        if isinstance(reply, list):
            return _sse(reply)
        return _json(200, reply)


def _json(status: int, document: JSON) -> _Outgoing:
    return _Outgoing(status, [("Content-Type", "application/json")], json.dumps(document).encode(), recorded=document)


WIRE = GroqWire()
