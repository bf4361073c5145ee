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

import re
from typing import Any

from genai_cost.testing._reshaped_openai import ReshapedWire, as_events, chunks_of, whole_tool_calls
from genai_cost.testing.stub_server import JSON, SseEvent, Turn, openai_chat, openai_embeddings

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
    chunks = chunks_of(events)
    usage = _usage(next(c for c in chunks if not c["choices"])["usage"], forced)
    request_id = f"req_stub_groq_{seq}"
    for chunk in chunks:
        chunk.pop("service_tier", None)
        if chunk["choices"]:
            chunk.pop("usage", None)
    out = whole_tool_calls(chunks, own_chunk=True)
    out[0]["x_groq"] = {"id": request_id}
    out[-1]["x_groq"] = {"id": request_id, "usage": usage}
    if include_usage:
        for chunk in out:
            chunk["usage"] = None
        out.append({**out[-1], "choices": [], "usage": usage, "x_groq": {"id": request_id}})
    return as_events(out)


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


class GroqWire(ReshapedWire):
    """Answers ``/openai/v1/...`` paths for :class:`StubProvider` (``WIRE_MODULES``)."""

    prefix, path, name = "/openai/v1/", _PATH, "groq"

    def error(self, status: int, message: str | None = None) -> JSON:
        return groq_error(status, message)

    def answer(self, route: str, body: dict[str, Any], turn: Turn) -> JSON | list[SseEvent]:
        return embeddings(body, turn) if route == "embeddings" else chat(body, turn)


WIRE = GroqWire()
