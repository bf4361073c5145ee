"""The Cohere wire format for the stub server: the v2 and v1 APIs as the ``cohere`` SDK calls them,
served under a prefix of its own (point the SDK at ``f"{stub.url}/cohere"``).

    client = cohere.ClientV2(api_key="test", base_url=f"{stub.url}{PREFIX}")

Routes: POST ``/cohere/v2/chat`` (``stream``: SSE events ``message-start`` ... ``message-end``, whose
``delta.usage`` carries the usage), ``/cohere/v1/chat`` (``stream``: newline-delimited JSON events,
``stream-end`` carrying the whole response), ``/cohere/v1/generate`` (its stream's end carries no
usage, as Cohere's does not), ``/cohere/v{1,2}/embed`` and ``/cohere/v{1,2}/rerank``. Usage is
``billed_units`` (what Cohere bills: ``input_tokens``, ``output_tokens``, ``search_units`` for
rerank) beside ``tokens`` (what the model read, prompt template included), in ``usage`` on v2 chat
and in ``meta`` elsewhere. With tools, the v2 model calls the first one until a ``tool`` message
answers it.

Scripting with :meth:`StubProvider.enqueue` on these paths: ``usage`` is merged over
``billed_units`` (``{"input_tokens": N, "output_tokens": M}``, or ``{"search_units": K}``);
``status`` >= 400 alone sends Cohere's ``{"message"}`` error body (the SDK raises
``cohere.TooManyRequestsError``, ...); ``fail_after_events`` and ``json`` work as on every path.
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
    _arguments,
    _compact,
    _Outgoing,
    _pieces,
    _prompt_tokens,
    _sse,
    _truncate,
    _vector,
    estimate_tokens,
)

__all__ = ["PREFIX", "WIRE", "CohereWire", "cohere_error"]

PREFIX = "/cohere"
#: Tokens Cohere's prompt template adds to what the model reads (in ``tokens``, never billed).
TEMPLATE_TOKENS = 200
EMBEDDING_DIMENSIONS = 1024

_PATH = re.compile(r"^/cohere/(?P<version>v1|v2)/(?P<route>chat|generate|embed|rerank)$")


def cohere_error(status: int, message: str | None = None) -> JSON:
    return {"message": message or f"stub error {status}"}


def _billed(default: dict[str, Any], forced: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(billed_units, tokens): a test's forced values over the defaults."""
    billed = {**default, **(forced or {})}
    tokens = {k: v + TEMPLATE_TOKENS if k == "input_tokens" else v for k, v in billed.items() if k.endswith("_tokens")}
    return billed, tokens


def _meta(billed: dict[str, Any], tokens: dict[str, Any] | None, version: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"api_version": {"version": version[1:]}, "billed_units": billed}
    if tokens:
        meta["tokens"] = tokens
    return meta


def _function(tools: Any, messages: list[Any]) -> dict[str, Any] | None:
    functions = [t.get("function") or t for t in tools or [] if isinstance(t, dict)]
    answered = bool(messages) and isinstance(messages[-1], dict) and messages[-1].get("role") == "tool"
    return None if not functions or answered else functions[0]


def v2_chat(body: dict[str, Any], turn: Turn) -> Any:
    messages: list[Any] = body.get("messages") or []
    function = _function(body.get("tools"), messages)
    pieces, truncated = _truncate(_pieces(turn.text), body.get("max_tokens"))
    message: dict[str, Any] = {"role": "assistant"}
    if function is not None:
        call = {
            "id": f"call_stub_{turn.seq}",
            "type": "function",
            "function": {"name": function.get("name"), "arguments": json.dumps(_arguments(function.get("parameters")))},
        }
        message["tool_plan"] = "I will call a tool."
        message["tool_calls"] = [call]
        output, finish = estimate_tokens(_compact(call)), "TOOL_CALL"
    else:
        message["content"] = [{"type": "text", "text": "".join(pieces)}]
        output, finish = len(pieces), "MAX_TOKENS" if truncated else "COMPLETE"
    billed, tokens = _billed(
        {"input_tokens": _prompt_tokens(items=messages, tools=body.get("tools")), "output_tokens": output}, turn.usage
    )
    usage = {"billed_units": billed, "tokens": tokens}
    response_id = f"cohere-stub-{turn.seq}"
    if not body.get("stream"):
        return {"id": response_id, "finish_reason": finish, "message": message, "usage": usage}

    events: list[dict[str, Any]] = [
        {
            "type": "message-start",
            "id": response_id,
            "delta": {
                "message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}
            },
        }
    ]
    if function is not None:
        call = message["tool_calls"][0]
        events.append({"type": "tool-plan-delta", "delta": {"message": {"tool_plan": message["tool_plan"]}}})
        start = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
        events.append({"type": "tool-call-start", "index": 0, "delta": {"message": {"tool_calls": start}}})
        for part in re.findall(r".{1,8}", call["function"]["arguments"]):
            delta = {"message": {"tool_calls": {"function": {"arguments": part}}}}
            events.append({"type": "tool-call-delta", "index": 0, "delta": delta})
        events.append({"type": "tool-call-end", "index": 0})
    else:
        events.append(
            {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}}
        )
        for piece in pieces:
            events.append({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}})
        events.append({"type": "content-end", "index": 0})
    events.append({"type": "message-end", "delta": {"finish_reason": finish, "usage": usage}})
    return [SseEvent(_compact(e), e["type"]) for e in events]


def v1_chat(body: dict[str, Any], turn: Turn) -> Any:
    items = [*(body.get("chat_history") or []), {"message": body.get("message") or ""}]
    pieces, truncated = _truncate(_pieces(turn.text), body.get("max_tokens"))
    input_tokens = _prompt_tokens(items=items, extra=[body.get("preamble") or ""])
    billed, tokens = _billed({"input_tokens": input_tokens, "output_tokens": len(pieces)}, turn.usage)
    text = "".join(pieces)
    response = {
        "response_id": f"cohere-stub-{turn.seq}",
        "text": text,
        "generation_id": f"gen-stub-{turn.seq}",
        "chat_history": [{"role": "USER", "message": body.get("message")}, {"role": "CHATBOT", "message": text}],
        "finish_reason": "MAX_TOKENS" if truncated else "COMPLETE",
        "meta": _meta(billed, tokens, "v1"),
    }
    if not body.get("stream"):
        return response
    lines = [{"is_finished": False, "event_type": "stream-start", "generation_id": response["generation_id"]}]
    lines += [{"is_finished": False, "event_type": "text-generation", "text": p} for p in pieces]
    lines.append(
        {
            "is_finished": True,
            "event_type": "stream-end",
            "finish_reason": response["finish_reason"],
            "response": response,
        }
    )
    return [(_compact(line) + "\n").encode() for line in lines]


def v1_generate(body: dict[str, Any], turn: Turn) -> Any:
    pieces, truncated = _truncate(_pieces(turn.text), body.get("max_tokens"))
    count = int(body.get("num_generations") or 1)
    billed, tokens = _billed(
        {"input_tokens": estimate_tokens(str(body.get("prompt") or "")) or 1, "output_tokens": count * len(pieces)},
        turn.usage,
    )
    finish = "MAX_TOKENS" if truncated else "COMPLETE"
    generations = [
        {"id": f"gen-stub-{turn.seq}-{i}", "text": "".join(pieces), "index": i, "finish_reason": finish}
        for i in range(count)
    ]
    response_id = f"cohere-stub-{turn.seq}"
    if not body.get("stream"):
        return {
            "id": response_id,
            "generations": generations,
            "prompt": body.get("prompt"),
            "meta": _meta(billed, tokens, "v1"),
        }
    lines: list[dict[str, Any]] = [
        {"text": p, "index": i, "is_finished": False, "event_type": "text-generation"}
        for i in range(count)
        for p in pieces
    ]
    end = {"id": response_id, "prompt": body.get("prompt"), "generations": generations}
    lines.append({"is_finished": True, "event_type": "stream-end", "finish_reason": finish, "response": end})
    return [(_compact(line) + "\n").encode() for line in lines]


def embed(version: str, body: dict[str, Any], turn: Turn) -> Any:
    texts = body.get("texts") or []
    billed, tokens = _billed({"input_tokens": sum(max(1, estimate_tokens(str(t))) for t in texts)}, turn.usage)
    vectors = [_vector(t, EMBEDDING_DIMENSIONS) for t in texts]
    document: dict[str, Any] = {"id": f"embed-stub-{turn.seq}", "texts": texts, "meta": _meta(billed, tokens, version)}
    types = body.get("embedding_types")
    if version == "v2" or types:
        document["response_type"] = "embeddings_by_type"
        document["embeddings"] = {kind: vectors for kind in types or ["float"]}
    else:
        document["response_type"] = "embeddings_floats"
        document["embeddings"] = vectors
    return document


def rerank(version: str, body: dict[str, Any], turn: Turn) -> Any:
    documents = body.get("documents") or []
    top = int(body.get("top_n") or len(documents))
    results = [
        {"index": i, "relevance_score": round(1.0 - i / (len(documents) or 1), 4)} for i in range(len(documents))
    ]
    # One search unit per query with up to 100 documents, as Cohere bills.
    billed, _ = _billed({"search_units": max(1, -(-len(documents) // 100))}, turn.usage)
    return {"id": f"rerank-stub-{turn.seq}", "results": results[:top], "meta": _meta(billed, None, version)}


class CohereWire:
    """Answers ``/cohere/v1/...`` and ``/cohere/v2/...`` paths for :class:`StubProvider` (``WIRE_MODULES``)."""

    def handles(self, path: str) -> bool:
        return path.startswith(PREFIX + "/") and _PATH.match(path) is not None

    def respond(self, request: RecordedRequest, script: ScriptedResponse, stub: Any) -> _Outgoing:
        match = _PATH.match(request.path)
        assert match is not None
        version, route = match["version"], match["route"]
        if script.status >= 400:
            return _json(script.status, cohere_error(script.status))
        if not isinstance(request.body, dict):
            return _json(400, cohere_error(400, "invalid request: body must be JSON"))
        seq = stub._next_seq(f"cohere-{version}-{route}")
        text = script.text if script.text is not None else getattr(stub, "reply_text", DEFAULT_REPLY)
        turn = Turn(seq, text, script.usage, {})
        body = request.body
        if route == "embed":
            return _json(200, embed(version, body, turn))
        if route == "rerank":
            return _json(200, rerank(version, body, turn))
        reply = (v2_chat if version == "v2" else v1_chat if route == "chat" else v1_generate)(body, turn)
        if isinstance(reply, dict):
            return _json(200, reply)
        if reply and isinstance(reply[0], SseEvent):
            return _sse(reply)
        recorded = [json.loads(line) for line in reply]
        return _Outgoing(200, [("Content-Type", "application/stream+json")], chunks=reply, recorded=recorded)


def _json(status: int, document: JSON) -> _Outgoing:
    return _Outgoing(status, [("Content-Type", "application/json")], json.dumps(document).encode(), recorded=document)


WIRE = CohereWire()
