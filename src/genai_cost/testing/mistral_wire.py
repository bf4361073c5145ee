"""The Mistral wire format for the stub server: chat, fill-in-the-middle, agent completions and
embeddings as the ``mistralai`` SDK calls them.

Mistral's paths are OpenAI's (``/v1/chat/completions``, ``/v1/embeddings``), so the stub serves
Mistral under a prefix of its own: point the SDK at ``f"{stub.url}/mistral"``.

    client = Mistral(api_key="test", server_url=f"{stub.url}{PREFIX}")

Routes: POST ``/mistral/v1/chat/completions``, ``/mistral/v1/fim/completions``,
``/mistral/v1/agents/completions`` (answered by ``AGENT_MODEL``), ``/mistral/v1/embeddings``.
Answers are the stub's OpenAI chat answers reshaped as Mistral sends them: usage is
``prompt_tokens`` / ``completion_tokens`` / ``total_tokens`` only, and a stream carries it on its
last chunk -- the one with ``finish_reason`` -- with each tool call whole in one delta (Mistral does
not split arguments across chunks). ``tool_choice="any"`` forces a tool call.

Scripting with :meth:`StubProvider.enqueue` on these paths: ``usage`` is merged over the usage
(``{"prompt_tokens_details": {"cached_tokens": N}}`` reports a prompt-cache hit); ``status`` >= 400
alone sends Mistral's error body (the SDK raises ``SDKError``; 422 ``HTTPValidationError``);
``sse_events``, ``fail_after_events`` and ``json`` work as on every path.
"""

from __future__ import annotations

import re
from typing import Any

from genai_cost.testing._reshaped_openai import ReshapedWire, as_events, chunks_of, whole_tool_calls
from genai_cost.testing.stub_server import JSON, SseEvent, Turn, openai_chat, openai_embeddings

__all__ = ["AGENT_MODEL", "PREFIX", "WIRE", "MistralWire", "mistral_error"]

PREFIX = "/mistral"
#: The model an agent answers with (agents.complete names an agent, not a model).
AGENT_MODEL = "mistral-medium-latest"
EMBEDDING_DIMENSIONS = 1024  # mistral-embed

_PATH = re.compile(r"^/mistral/v1/(?P<route>chat/completions|fim/completions|agents/completions|embeddings)$")
_OPENAI_ONLY = ("service_tier", "system_fingerprint")


def mistral_error(status: int, message: str | None = None) -> JSON:
    kind = "invalid_request_error" if status < 500 else "internal_server_error"
    return {"object": "error", "message": message or f"stub error {status}", "type": kind, "param": None, "code": None}


def _usage(usage: dict[str, Any], forced: Any) -> dict[str, Any]:
    """Mistral's usage: the three counts, and prompt details only when a test forced them."""
    out: dict[str, Any] = {
        key: usage[key] for key in ("prompt_tokens", "completion_tokens", "total_tokens") if key in usage
    }
    if forced and "prompt_tokens_details" in forced:
        out["prompt_tokens_details"] = usage["prompt_tokens_details"]
    return out


def _message(message: dict[str, Any]) -> dict[str, Any]:
    out = {"role": message.get("role") or "assistant", "content": message.get("content") or ""}
    if message.get("tool_calls"):
        out["tool_calls"] = message["tool_calls"]
    return out


def _as_openai(route: str, body: dict[str, Any]) -> dict[str, Any]:
    """The request as the stub's OpenAI chat builder reads it."""
    openai_body = {**body, "stream_options": {"include_usage": True}}
    if route == "fim/completions":
        texts = [t for t in (body.get("prompt"), body.get("suffix")) if isinstance(t, str)]
        openai_body["messages"] = [{"role": "user", "content": text} for text in texts]
    if route == "agents/completions":
        openai_body["model"] = AGENT_MODEL
    if body.get("tool_choice") == "any":
        openai_body["tool_choice"] = "required"
    return openai_body


def _stream_events(events: list[SseEvent], forced: Any) -> list[SseEvent]:
    """OpenAI chunks -> Mistral's: usage on the last choice chunk, tool calls whole."""
    chunks = chunks_of(events)
    usage = next((c["usage"] for c in chunks if not c["choices"] and c.get("usage")), None)
    for chunk in chunks:
        if chunk["choices"]:
            for key in (*_OPENAI_ONLY, "usage"):
                chunk.pop(key, None)
            chunk["choices"][0].pop("logprobs", None)
    out = whole_tool_calls(chunks, own_chunk=False)
    if usage is not None and out:
        out[-1]["usage"] = _usage(usage, forced)
    return as_events(out)


def completion(route: str, body: dict[str, Any], turn: Turn) -> Any:
    reply = openai_chat(_as_openai(route, body), turn)
    if reply.events is not None:
        return _stream_events(list(reply.events), turn.usage)
    document = dict(reply.json)
    for key in _OPENAI_ONLY:
        document.pop(key, None)
    document["usage"] = _usage(document["usage"], turn.usage)
    document["choices"] = [
        {"index": c["index"], "message": _message(c["message"]), "finish_reason": c["finish_reason"]}
        for c in document["choices"]
    ]
    return document


def embeddings(body: dict[str, Any], turn: Turn) -> Any:
    openai_body = {"model": body.get("model") or "mistral-embed", "input": body.get("inputs") or body.get("input")}
    openai_body["dimensions"] = body.get("output_dimension") or EMBEDDING_DIMENSIONS
    document = dict(openai_embeddings(openai_body, turn).json)
    usage = {**document["usage"], "completion_tokens": 0}
    return {"id": f"emb-stub-{turn.seq}", **document, "usage": usage}


class MistralWire(ReshapedWire):
    """Answers ``/mistral/v1/...`` paths for :class:`StubProvider` (``WIRE_MODULES``)."""

    prefix, path, name = PREFIX + "/", _PATH, "mistral"

    def error(self, status: int, message: str | None = None) -> JSON:
        return mistral_error(status, message)

    def answer(self, route: str, body: dict[str, Any], turn: Turn) -> JSON | list[SseEvent]:
        return embeddings(body, turn) if route == "embeddings" else completion(route, body, turn)


WIRE = MistralWire()
