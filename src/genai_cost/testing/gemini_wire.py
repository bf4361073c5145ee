"""The Gemini wire format for the stub server: the Gemini API and Vertex AI as google-genai calls them.

Both APIs name the model in the path and the method after a colon:

* Gemini API: ``/v1beta/models/{model}:generateContent``;
* Vertex AI: ``/v1/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent``.

Served: ``generateContent``, ``streamGenerateContent`` (``?alt=sse``: ``data:`` events, each a
whole ``GenerateContentResponse`` whose ``usageMetadata`` is cumulative), ``embedContent`` and
``batchEmbedContents`` (with ``usageMetadata``), and Vertex's ``predict`` for the older text
embedding models (per-embedding ``statistics.token_count``). Errors are Google's
``{"error": {"code", "message", "status"}}``, which google-genai turns into
``errors.ClientError`` / ``errors.ServerError``.

Defaults are deterministic, as everywhere in the stub: prompt tokens from text length, the reply
streamed one word per chunk, 16 thinking tokens for the models that think by default (2.5 and
later) unless ``thinkingConfig.thinkingBudget`` is 0, and a fixed count of cached tokens when the
request names ``cachedContent``. With ``functionDeclarations`` the model calls the first one
until the conversation ends with its ``functionResponse`` (so automatic function calling ends).

Scripting with :meth:`StubProvider.enqueue` on these paths: ``usage`` is merged over
``usageMetadata`` (camelCase keys, as on the wire; a ``totalTokenCount`` it does not set is
recomputed); ``status`` >= 400 alone sends Google's error body; ``sse_events`` are sent as
``data:`` events; ``fail_after_events`` and ``json`` work as on every path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from genai_cost.testing.stub_server import (
    DEFAULT_REPLY,
    JSON,
    REASONING_TOKENS,
    RecordedRequest,
    ScriptedResponse,
    SseEvent,
    Turn,
    WireReply,
    _arguments,
    _as_event,
    _compact,
    _deep_merge,
    _encode_json,
    _Outgoing,
    _pieces,
    _sse,
    _truncate,
    _vector,
    estimate_tokens,
)

__all__ = ["GEMINI_ERRORS", "WIRE", "GeminiWire", "gemini_error"]

#: Tokens a named ``cachedContent`` contributes (Gemini's minimum cache size for 2.5 Flash).
CACHED_CONTENT_TOKENS = 1024
DEFAULT_EMBEDDING_DIMENSIONS = 768
#: Model families that think unless told not to.
THINKING_MODEL_PREFIXES = ("gemini-2.5", "gemini-3")

#: status -> (Google RPC status, message) as the Gemini API sends them.
GEMINI_ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request had invalid authentication credentials."),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "models/{model} is not found for API version v1beta, or is not supported."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "An internal error has occurred. Please retry or report the issue."),
    503: ("UNAVAILABLE", "The model is overloaded. Please try again later."),
    504: ("DEADLINE_EXCEEDED", "The request timed out. Please try again."),
}

_METHOD_PATH = re.compile(
    r"/models/(?P<model>[^/:]+):"
    r"(?P<method>generateContent|streamGenerateContent|embedContent|batchEmbedContents|predict)$"
)


def gemini_error(status: int, message: str | None = None, *, model: str = "") -> JSON:
    rpc_status, default_message = GEMINI_ERRORS.get(
        status, ("INTERNAL" if status >= 500 else "INVALID_ARGUMENT", "Error.")
    )
    return {
        "error": {
            "code": status,
            "message": message if message is not None else default_message.format(model=model),
            "status": rpc_status,
        }
    }


# --- generateContent -------------------------------------------------------------------------


def _texts(value: Any) -> Iterator[str]:
    """Every ``text`` in a request fragment (contents, parts, system instruction)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "text" and isinstance(item, str):
                yield item
            else:
                yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def _prompt_tokens(body: dict[str, Any]) -> int:
    contents = body.get("contents") or []
    text = sum(estimate_tokens(t) for t in _texts([contents, body.get("systemInstruction")]))
    tools = body.get("tools")
    return text + (estimate_tokens(_compact(tools)) if tools else 0) + 2 * len(contents)


def _thinks(model: str, config: dict[str, Any]) -> bool:
    # Proto JSON takes either spelling, and google-genai passes a dict config's nested keys as given.
    thinking = config.get("thinkingConfig") or config.get("thinking_config") or {}
    budget = thinking.get("thinkingBudget", thinking.get("thinking_budget"))
    return model.startswith(THINKING_MODEL_PREFIXES) and budget != 0


def _function_call(body: dict[str, Any]) -> dict[str, Any] | None:
    """The function the model "calls", or None for text: a conversation whose last turn
    answers a call gets text, so automatic function calling terminates."""
    declarations = [d for tool in body.get("tools") or [] for d in tool.get("functionDeclarations") or []]
    mode = ((body.get("toolConfig") or {}).get("functionCallingConfig") or {}).get("mode")
    contents = body.get("contents") or []
    last_parts = contents[-1].get("parts") or [] if contents and isinstance(contents[-1], dict) else []
    answered = any(isinstance(p, dict) and "functionResponse" in p for p in last_parts)
    if not declarations or mode == "NONE" or answered:
        return None
    chosen = declarations[0]
    schema = chosen.get("parametersJsonSchema") or chosen.get("parameters")
    return {"name": chosen.get("name"), "args": _arguments(_lower_types(schema))}


def _lower_types(schema: Any) -> Any:
    """Gemini's OpenAPI-style schemas spell types in upper case ("STRING")."""
    if isinstance(schema, dict):
        return {k: (v.lower() if k == "type" and isinstance(v, str) else _lower_types(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_lower_types(v) for v in schema]
    return schema


def _usage_metadata(prompt: int, candidates: int, thoughts: int, cached: int, forced: Any) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": candidates,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt}],
    }
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if cached:
        usage["cachedContentTokenCount"] = cached
        usage["cacheTokensDetails"] = [{"modality": "TEXT", "tokenCount": cached}]
    if forced:
        usage = _deep_merge(usage, forced)
    if not (forced and "totalTokenCount" in forced):
        usage["totalTokenCount"] = sum(
            int(usage.get(key) or 0)
            for key in ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "toolUsePromptTokenCount")
        )
    return usage


class _Generation:
    """One generateContent answer, before it is framed as a document or a stream."""

    def __init__(self, model: str, body: dict[str, Any], turn: Turn) -> None:
        config = body.get("generationConfig") or {}
        self.model = model
        self.response_id = f"stub-gemini-{turn.seq}"
        self.count = int(config.get("candidateCount") or 1)
        self.call = _function_call(body)
        self.pieces, truncated = _truncate(_pieces(turn.text), config.get("maxOutputTokens"))
        if self.call is not None:
            self.pieces, visible = [], estimate_tokens(_compact(self.call))
            self.finish = "STOP"
        else:
            visible = len(self.pieces)
            self.finish = "MAX_TOKENS" if truncated else "STOP"
        cached = CACHED_CONTENT_TOKENS if body.get("cachedContent") else 0
        self.prompt = _prompt_tokens(body) + cached
        self.usage = _usage_metadata(
            self.prompt,
            self.count * visible,
            REASONING_TOKENS if _thinks(self.model, config) else 0,
            cached,
            turn.usage,
        )

    def document(self, parts: list[dict[str, Any]], finish: str | None, usage: dict[str, Any]) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        candidates = [{**candidate, "index": index} for index in range(self.count)]
        return {
            "candidates": candidates,
            "usageMetadata": usage,
            "modelVersion": self.model,
            "responseId": self.response_id,
        }

    def final_parts(self) -> list[dict[str, Any]]:
        if self.call is not None:
            return [{"functionCall": self.call}]
        return [{"text": "".join(self.pieces)}]


def generate_content(model: str, body: dict[str, Any], turn: Turn) -> WireReply:
    answer = _Generation(model, body, turn)
    return WireReply(json=answer.document(answer.final_parts(), answer.finish, answer.usage))


def stream_generate_content(model: str, body: dict[str, Any], turn: Turn) -> WireReply:
    """One word per event; every event carries the usage so far, the last one the final usage."""
    answer = _Generation(model, body, turn)
    events: list[SseEvent] = []
    pieces = answer.pieces if answer.call is None else []
    for index, piece in enumerate(pieces[:-1]):
        so_far = {
            "promptTokenCount": answer.usage["promptTokenCount"],
            "candidatesTokenCount": answer.count * (index + 1),
            "totalTokenCount": answer.usage["promptTokenCount"] + answer.count * (index + 1),
        }
        events.append(SseEvent(_compact(answer.document([{"text": piece}], None, so_far))))
    last = [{"text": pieces[-1]}] if pieces else answer.final_parts()
    events.append(SseEvent(_compact(answer.document(last, answer.finish, answer.usage))))
    return WireReply(events=events)


# --- embeddings ------------------------------------------------------------------------------


def _embedding_usage(tokens: int, turn: Turn) -> dict[str, Any]:
    usage: dict[str, Any] = {"promptTokenCount": tokens}
    return _deep_merge(usage, turn.usage) if turn.usage else usage


def _dimensions(request: dict[str, Any]) -> int:
    """The Gemini API puts ``outputDimensionality`` on the request, Vertex in ``embedContentConfig``."""
    config = request.get("embedContentConfig") or {}
    return int(
        request.get("outputDimensionality") or config.get("outputDimensionality") or DEFAULT_EMBEDDING_DIMENSIONS
    )


def _content_tokens(content: Any) -> int:
    return max(1, sum(estimate_tokens(t) for t in _texts(content)))


def batch_embed_contents(model: str, body: dict[str, Any], turn: Turn) -> WireReply:
    requests = body.get("requests") or []
    embeddings = [{"values": _vector(r.get("content"), _dimensions(r))} for r in requests]
    tokens = sum(_content_tokens(r.get("content")) for r in requests)
    return WireReply(json={"embeddings": embeddings, "usageMetadata": _embedding_usage(tokens, turn)})


def embed_content(model: str, body: dict[str, Any], turn: Turn) -> WireReply:
    content = body.get("content")
    usage = _embedding_usage(_content_tokens(content), turn)
    return WireReply(json={"embedding": {"values": _vector(content, _dimensions(body))}, "usageMetadata": usage})


def predict_embeddings(model: str, body: dict[str, Any], turn: Turn) -> WireReply:
    """Vertex's ``predict`` for text-embedding-00x: per-instance token counts, billed characters."""
    instances = body.get("instances") or []
    dimensions = int((body.get("parameters") or {}).get("outputDimensionality") or DEFAULT_EMBEDDING_DIMENSIONS)
    predictions = []
    characters = 0
    for instance in instances:
        text = str(instance.get("content") or "") if isinstance(instance, dict) else str(instance)
        characters += len(text.replace(" ", ""))
        statistics = {"token_count": _content_tokens(text), "truncated": False}
        predictions.append({"embeddings": {"values": _vector(text, dimensions), "statistics": statistics}})
    return WireReply(json={"predictions": predictions, "metadata": {"billableCharacterCount": characters}})


_BUILDERS = {
    "generateContent": generate_content,
    "streamGenerateContent": stream_generate_content,
    "batchEmbedContents": batch_embed_contents,
    "embedContent": embed_content,
    "predict": predict_embeddings,
}


# --- the plug-in the stub consults -----------------------------------------------------------


class GeminiWire:
    """Answers Gemini API and Vertex AI model paths for :class:`StubProvider` (``WIRE_MODULES``)."""

    def handles(self, path: str) -> bool:
        return "/models/" in path and _METHOD_PATH.search(path) is not None

    def respond(self, request: RecordedRequest, script: ScriptedResponse, stub: Any) -> _Outgoing:
        match = _METHOD_PATH.search(request.path)
        assert match is not None
        model, method = match["model"], match["method"]
        if script.sse_events is not None:
            out = _sse([_as_event(e, request.path) for e in script.sse_events])
            out.status = script.status
            return out
        if script.status >= 400:
            return self._error(script.status, model=model)
        if not isinstance(request.body, dict):
            return self._error(400, "Invalid JSON payload received.", model=model)
        seq = stub._next_seq(f"gemini-{method}")
        text = script.text if script.text is not None else getattr(stub, "reply_text", DEFAULT_REPLY)
        reply = _BUILDERS[method](model, request.body, Turn(seq, text, script.usage, {}))
        if reply.events is not None:
            return _sse(list(reply.events))
        return _Outgoing(
            200, [("Content-Type", "application/json")], _encode_json(reply.json, request.path), recorded=reply.json
        )

    @staticmethod
    def _error(status: int, message: str | None = None, *, model: str = "") -> _Outgoing:
        document = gemini_error(status, message, model=model)
        return _Outgoing(status, [("Content-Type", "application/json")], _encode_json(document, ""), recorded=document)


WIRE = GeminiWire()
