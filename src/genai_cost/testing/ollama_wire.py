"""The Ollama wire format for the stub server: ``/api/chat``, ``/api/generate``, ``/api/embed`` and
the older ``/api/embeddings``, as the ``ollama`` Python SDK calls them.

Ollama answers with one JSON document, or -- ``"stream": true``, the API's default -- with NDJSON:
one JSON object per line, each carrying a piece of the reply, the last with ``"done": true``, the
``done_reason`` and the counts (``prompt_eval_count`` input tokens, ``eval_count`` output tokens,
durations in nanoseconds). ``/api/embed`` reports ``prompt_eval_count``; ``/api/embeddings``
reports no counts at all. Errors are ``{"error": "..."}`` with the HTTP status, or, once a stream
has begun, an ``{"error": ...}`` line (which the SDK raises as ``ResponseError``).

Defaults are deterministic, as everywhere in the stub: prompt tokens from text length, the reply
one word per line. With ``tools`` the model calls the first one until the conversation ends with a
``tool`` message. ``options.num_predict`` truncates the reply (``done_reason: length``). With
``think`` set (``true`` or a level such as ``"high"``), the model thinks first, as Ollama sends it:
``message.thinking`` on chat, ``thinking`` on generate (streamed one piece per line before the
answer), and ``eval_count`` counts the thinking tokens with the answer's -- Ollama reports no
separate reasoning count.

Scripting with :meth:`StubProvider.enqueue` on these paths: ``usage`` overrides the final counts
(wire names: ``prompt_eval_count``, ``eval_count``; ``None`` drops one); ``status`` >= 400 alone
sends Ollama's error body; ``sse_events`` are sent as NDJSON lines (mappings encoded, strings
verbatim); ``fail_after_events`` and ``json`` work as on every path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from genai_cost.testing.stub_server import (
    DEFAULT_REPLY,
    JSON,
    RecordedRequest,
    ScriptedResponse,
    Turn,
    _arguments,
    _compact,
    _Outgoing,
    _pieces,
    _truncate,
    _vector,
    estimate_tokens,
)

__all__ = ["OLLAMA_PATHS", "THINKING", "WIRE", "OllamaWire", "ndjson", "ollama_error"]

OLLAMA_PATHS = ("/api/chat", "/api/generate", "/api/embed", "/api/embeddings")
CREATED_AT = "2025-01-01T00:00:00.000000Z"
EMBEDDING_DIMENSIONS = 768
# Nanoseconds per token the stub pretends to spend, for the duration fields.
_NS_PER_TOKEN = 1_000_000
#: What a model asked to ``think`` thinks before answering.
THINKING = "The user wants a short answer. I will keep it brief."


def ollama_error(status: int, message: str | None = None, *, model: str = "") -> JSON:
    if message is None:
        message = f'model "{model}" not found, try pulling it first' if status == 404 else "internal error"
    return {"error": message}


def ndjson(lines: Sequence[Mapping[str, Any] | str]) -> _Outgoing:
    """A chunked ``application/x-ndjson`` body, one line per chunk (as Ollama flushes them)."""
    chunks = [(line if isinstance(line, str) else _compact(dict(line))).rstrip("\n").encode() + b"\n" for line in lines]
    recorded = []
    for chunk in chunks:
        try:
            recorded.append(json.loads(chunk))
        except ValueError:
            recorded.append(chunk.decode("utf-8", "replace"))
    return _Outgoing(200, [("Content-Type", "application/x-ndjson")], chunks=chunks, recorded=recorded)


def _texts(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [t for key in ("content", "prompt", "system", "suffix") for t in _texts(value.get(key))]
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    return []


def _tool_call(body: dict[str, Any]) -> dict[str, Any] | None:
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
    messages = body.get("messages") or []
    answered = bool(messages) and isinstance(messages[-1], Mapping) and messages[-1].get("role") == "tool"
    if not tools or answered:
        return None
    function = tools[0].get("function") or {}
    return {"function": {"name": function.get("name"), "arguments": _arguments(function.get("parameters"))}}


class _Answer:
    """One chat/generate answer, before it is framed as a document or as NDJSON lines."""

    def __init__(self, kind: str, body: dict[str, Any], turn: Turn) -> None:
        self.kind = kind
        self.model = str(body.get("model") or "")
        options = body.get("options") or {}
        self.call = _tool_call(body) if kind == "chat" else None
        pieces, truncated = _truncate(_pieces(turn.text), options.get("num_predict"))
        self.pieces = [] if self.call is not None else pieces
        self.done_reason = "length" if truncated and self.call is None else "stop"
        source = body.get("messages") if kind == "chat" else body
        prompt = sum(estimate_tokens(t) for t in _texts(source))
        if body.get("tools"):
            prompt += estimate_tokens(_compact(body["tools"]))
        output = estimate_tokens(_compact(self.call)) if self.call is not None else len(self.pieces)
        think = body.get("think")
        self.thoughts = _pieces(THINKING) if think not in (None, False, "false") else []
        counts: dict[str, Any] = {"prompt_eval_count": prompt, "eval_count": output + len(self.thoughts)}
        counts.update(turn.usage or {})
        self.counts = {k: v for k, v in counts.items() if v is not None}

    def line(self, piece: str, *, done: bool, thought: str = "") -> dict[str, Any]:
        out: dict[str, Any] = {"model": self.model, "created_at": CREATED_AT}
        if self.kind == "chat":
            message: dict[str, Any] = {"role": "assistant", "content": piece}
            if thought:
                message["thinking"] = thought
            if done and self.call is not None:
                message["tool_calls"] = [self.call]
            out["message"] = message
        else:
            out["response"] = piece
            if thought:
                out["thinking"] = thought
        out["done"] = done
        if done:
            out["done_reason"] = self.done_reason
            prompt_ns = int(self.counts.get("prompt_eval_count") or 0) * _NS_PER_TOKEN
            eval_ns = int(self.counts.get("eval_count") or 0) * _NS_PER_TOKEN
            out.update(
                total_duration=prompt_ns + eval_ns,
                load_duration=0,
                prompt_eval_duration=prompt_ns,
                eval_duration=eval_ns,
            )
            out.update(self.counts)
            if self.kind == "generate":
                out["context"] = [1, 2, 3]
        return out


def _embed(body: dict[str, Any], turn: Turn) -> JSON:
    inputs = body.get("input")
    items = inputs if isinstance(inputs, list) else [inputs or ""]
    dimensions = int(body.get("dimensions") or EMBEDDING_DIMENSIONS)
    counts: dict[str, Any] = {"prompt_eval_count": sum(max(1, estimate_tokens(str(i))) for i in items)}
    counts.update(turn.usage or {})
    return {
        "model": body.get("model"),
        "embeddings": [_vector(item, dimensions) for item in items],
        "total_duration": 1_000_000,
        "load_duration": 0,
        **{k: v for k, v in counts.items() if v is not None},
    }


class OllamaWire:
    """Answers Ollama's native API paths for :class:`StubProvider` (``WIRE_MODULES``)."""

    def handles(self, path: str) -> bool:
        return path in OLLAMA_PATHS

    def respond(self, request: RecordedRequest, script: ScriptedResponse, stub: Any) -> _Outgoing:
        body = request.body if isinstance(request.body, dict) else None
        model = str((body or {}).get("model") or "")
        if script.sse_events is not None:
            out = ndjson(list(script.sse_events))  # type: ignore[arg-type]
            out.status = script.status
            return out
        if script.status >= 400:
            return self._error(script.status, model=model)
        if body is None:
            return self._error(400, "invalid request body")
        kind = request.path.rsplit("/", 1)[-1]
        seq = stub._next_seq(f"ollama-{kind}")
        text = script.text if script.text is not None else getattr(stub, "reply_text", DEFAULT_REPLY)
        turn = Turn(seq, text, script.usage, {})
        if kind == "embed":
            return self._json(_embed(body, turn))
        if kind == "embeddings":  # the older endpoint: one vector, no counts
            return self._json({"embedding": _vector(body.get("prompt") or "", EMBEDDING_DIMENSIONS)})
        answer = _Answer(kind, body, turn)
        if body.get("stream", True) is False:
            return self._json(answer.line("".join(answer.pieces), done=True, thought="".join(answer.thoughts)))
        lines = [answer.line("", done=False, thought=thought) for thought in answer.thoughts]
        lines += [answer.line(piece, done=False) for piece in answer.pieces]
        lines.append(answer.line("", done=True))
        return ndjson(lines)

    @staticmethod
    def _json(document: JSON) -> _Outgoing:
        return _Outgoing(200, [("Content-Type", "application/json")], _compact(document).encode(), recorded=document)

    @staticmethod
    def _error(status: int, message: str | None = None, *, model: str = "") -> _Outgoing:
        document = ollama_error(status, message, model=model)
        return _Outgoing(status, [("Content-Type", "application/json")], _compact(document).encode(), recorded=document)


WIRE = OllamaWire()
