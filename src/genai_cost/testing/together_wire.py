"""The Together AI wire format for the stub server: chat and legacy completions, embeddings and
rerank as the ``together`` SDK calls them, served under a prefix of its own (Together's paths are
OpenAI's): point the SDK at ``f"{stub.url}/together"``.

    client = together.Together(api_key="test", base_url=f"{stub.url}{PREFIX}", max_retries=0)

Routes: POST ``/together/v1/chat/completions``, ``/together/v1/completions``,
``/together/v1/embeddings``, ``/together/v1/rerank``. Answers are the stub's OpenAI answers reshaped
as Together sends them: a stream carries its usage on the last chunk (the one with
``finish_reason``), with no ``stream_options`` needed; legacy completion chunks carry a ``token``
and a top-level ``finish_reason``; responses echo the ``prompt``.

Scripting with :meth:`StubProvider.enqueue` on these paths: ``usage`` is merged over the usage;
``status`` >= 400 alone sends an error body (the SDK raises ``together.RateLimitError``, ...);
``fail_after_events`` and ``json`` work as on every path.
"""

from __future__ import annotations

import re
from typing import Any

from genai_cost.testing._reshaped_openai import ReshapedWire, as_events, chunks_of
from genai_cost.testing.stub_server import (
    JSON,
    SseEvent,
    Turn,
    _compact,
    estimate_tokens,
    openai_chat,
    openai_completion,
    openai_embeddings,
)

__all__ = ["PREFIX", "WIRE", "TogetherWire"]

PREFIX = "/together"
_PATH = re.compile(r"^/together/v1/(?P<route>chat/completions|completions|embeddings|rerank)$")
_OPENAI_ONLY = ("service_tier", "system_fingerprint")


def _error(status: int, message: str | None = None) -> JSON:
    return {
        "error": {
            "message": message or f"stub error {status}",
            "type": "invalid_request_error" if status < 500 else "server_error",
        }
    }


def _usage(usage: dict[str, Any]) -> dict[str, Any]:
    return {k: usage[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens")}


def _stream(events: list[SseEvent], legacy: bool) -> list[SseEvent]:
    """Usage moved from the usage-only chunk onto the last chunk that finishes a choice."""
    chunks = chunks_of(events)
    usage = next(_usage(c["usage"]) for c in chunks if not c["choices"])
    out = []
    for seq, chunk in enumerate(c for c in chunks if c["choices"]):
        for key in (*_OPENAI_ONLY, "usage"):
            chunk.pop(key, None)
        chunk["usage"] = None
        if legacy:
            choice = chunk["choices"][0]
            chunk["object"] = "completion.chunk"
            chunk["token"] = {"id": seq, "text": choice.get("text") or "", "logprob": 0.0, "special": False}
            chunk["finish_reason"] = choice.pop("finish_reason", None)
            choice.pop("logprobs", None)
        out.append(chunk)
    out[-1]["usage"] = usage
    return as_events(out)


def completion(route: str, body: dict[str, Any], turn: Turn) -> Any:
    legacy = route == "completions"
    build = openai_completion if legacy else openai_chat
    reply = build({**body, "stream_options": {"include_usage": True}}, turn)
    if reply.events is not None:
        return _stream(list(reply.events), legacy)
    document = dict(reply.json)
    for key in _OPENAI_ONLY:
        document.pop(key, None)
    document["usage"] = _usage(document["usage"])
    document["prompt"] = []
    if not legacy:
        for choice in document["choices"]:
            choice["message"] = {k: v for k, v in choice["message"].items() if k not in ("refusal", "annotations")}
    return document


def embeddings(body: dict[str, Any], turn: Turn) -> Any:
    return openai_embeddings({**body, "dimensions": 768, "encoding_format": "float"}, turn).json


def rerank(body: dict[str, Any], turn: Turn) -> Any:
    documents = body.get("documents") or []
    tokens = estimate_tokens(str(body.get("query") or "")) + sum(estimate_tokens(_compact(d)) for d in documents)
    results = [
        {"index": i, "relevance_score": round(1.0 - i / (len(documents) or 1), 4)} for i in range(len(documents))
    ]
    usage = {"prompt_tokens": tokens, "completion_tokens": 0, "total_tokens": tokens, **(turn.usage or {})}
    return {
        "id": f"rerank-stub-{turn.seq}",
        "object": "rerank",
        "model": body.get("model"),
        "results": results,
        "usage": usage,
    }


class TogetherWire(ReshapedWire):
    """Answers ``/together/v1/...`` paths for :class:`StubProvider` (``WIRE_MODULES``)."""

    prefix, path, name = PREFIX + "/", _PATH, "together"
    scripted_events = False

    def error(self, status: int, message: str | None = None) -> JSON:
        return _error(status, message)

    def answer(self, route: str, body: dict[str, Any], turn: Turn) -> JSON | list[SseEvent]:
        if route == "embeddings":
            return embeddings(body, turn)
        if route == "rerank":
            return rerank(body, turn)
        return completion(route, body, turn)


WIRE = TogetherWire()
