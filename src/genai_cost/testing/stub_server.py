"""A local stand-in for the OpenAI and Anthropic HTTP APIs, for tests and demos.

The real provider SDKs talk HTTP to it, so tests exercise exactly the code paths production
does: response parsing, SSE decoding, status-code to exception mapping. It listens on
127.0.0.1 only and needs no API key (any string will do).

    from genai_cost.testing import StubProvider

    with StubProvider() as stub:
        client = openai.OpenAI(base_url=stub.base_url, api_key="test", max_retries=0)
        client.chat.completions.create(model="gpt-4o-mini", messages=[...])
        assert stub.last_request.body["model"] == "gpt-4o-mini"

        # Anthropic's SDK appends /v1 itself, so it gets the URL without it.
        claude = anthropic.Anthropic(base_url=stub.url, api_key="test", max_retries=0)

Always build clients with ``max_retries=0``: the SDKs retry 408/409/429/5xx and dropped
connections by default, so a scripted error would be consumed by the first attempt and the
retry would get a default success (and the test would wait for the back-off).

What it answers, in order:

1. a response scripted with :meth:`StubProvider.enqueue` for that method and path;
2. the next recorded interaction of a vcrpy cassette (:class:`CassetteReplayer`);
3. a default response in the provider's wire format, derived deterministically from the
   request (fixed ids, fixed clock, token counts from text length).

Routes with defaults: POST ``/v1/chat/completions``, ``/v1/completions``, ``/v1/embeddings``,
``/v1/responses``, GET ``/v1/responses/{id}`` (OpenAI; any prefix works, so Azure-style
deployment paths are served too) and POST ``/v1/messages``, ``/v1/messages/count_tokens``
(Anthropic).

``python -m genai_cost.testing.stub_server --port 0`` runs it in the foreground and prints the
OpenAI base URL (``http://127.0.0.1:PORT/v1``) as the first line of stdout.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import gzip
import json
import math
import re
import signal
import socket
import struct
import sys
import threading
import time
import traceback
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import EllipsisType, TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "CassetteReplayer",
    "RecordedInteraction",
    "RecordedRequest",
    "ScriptedResponse",
    "SseEvent",
    "StubProvider",
    "WireReply",
    "anthropic_error",
    "estimate_tokens",
    "load_cassette",
    "main",
    "openai_error",
    "parse_sse",
]

JSON = Any  # a decoded JSON value

# ---------------------------------------------------------------------------------------------
# Wire data: the constants the default responses are made of.
# ---------------------------------------------------------------------------------------------

#: A fixed clock, so the same test produces byte-identical responses on every run.
STUB_EPOCH = 1_735_689_600  # 2025-01-01T00:00:00Z

#: Mirrors the "Say this is a test" prompt of the recorded OpenAI traffic.
DEFAULT_REPLY = "This is a test."

#: Providers answer an alias with the dated snapshot that served it, and cost code has to price
#: the *response* model, so the stub does the same for the models below (others are echoed).
OPENAI_SNAPSHOTS: dict[str, str] = {
    "gpt-3.5-turbo": "gpt-3.5-turbo-0125",
    "gpt-4": "gpt-4-0613",
    "gpt-4-turbo": "gpt-4-turbo-2024-04-09",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4.1-nano": "gpt-4.1-nano-2025-04-14",
    "o1": "o1-2024-12-17",
    "o3": "o3-2025-04-16",
    "o3-mini": "o3-mini-2025-01-31",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-5": "gpt-5-2025-08-07",
    "gpt-5-mini": "gpt-5-mini-2025-08-07",
    "gpt-5-nano": "gpt-5-nano-2025-08-07",
    "gpt-5.1": "gpt-5.1-2025-11-13",
    "gpt-5.2": "gpt-5.2-2025-12-11",
    "gpt-5.4": "gpt-5.4-2026-03-05",
    "gpt-5.4-mini": "gpt-5.4-mini-2026-03-17",
    "gpt-5.4-nano": "gpt-5.4-nano-2026-03-17",
}
ANTHROPIC_SNAPSHOTS: dict[str, str] = {
    "claude-3-5-haiku-latest": "claude-3-5-haiku-20241022",
    "claude-3-5-sonnet-latest": "claude-3-5-sonnet-20241022",
    "claude-3-7-sonnet-latest": "claude-3-7-sonnet-20250219",
    "claude-sonnet-4-0": "claude-sonnet-4-20250514",
    "claude-opus-4-0": "claude-opus-4-20250514",
    "claude-opus-4-1": "claude-opus-4-1-20250805",
    "claude-sonnet-4-5": "claude-sonnet-4-5-20250929",
    "claude-haiku-4-5": "claude-haiku-4-5-20251001",
    "claude-opus-4-5": "claude-opus-4-5-20251101",
}
EMBEDDING_DIMENSIONS: dict[str, int] = {
    "text-embedding-3-large": 3072,
    "text-embedding-3-small": 1536,
    "text-embedding-ada-002": 1536,
}
DEFAULT_EMBEDDING_DIMENSIONS = 1536

#: Reasoning models bill hidden reasoning as output tokens; the stub reports a fixed amount so
#: "output includes reasoning" can be tested without scripting usage.
REASONING_MODEL_PREFIXES = ("o1", "o3", "o4", "gpt-5")
NON_REASONING_MODEL_MARKERS = ("-chat",)
REASONING_TOKENS = 16
THINKING_TEXT = "Let me think about this."  # Anthropic extended thinking block

#: status -> (type, code, message) as OpenAI sends them; "{model}" is filled from the request.
OPENAI_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: (
        "invalid_request_error",
        "unsupported_country_region_territory",
        "Country, region, or territory not supported",
    ),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model `{model}` does not exist or you do not have access to it.",
    ),
    409: ("invalid_request_error", None, "Conflict."),
    422: ("invalid_request_error", None, "Unprocessable entity."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for {model} on requests per min (RPM): Limit 3, Used 3, Requested 1.",
    ),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
}
#: status -> (error.type, message) as Anthropic sends them.
ANTHROPIC_ERRORS: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request."),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "model: {model}"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}

#: Headers a replayed response must not carry: the stub frames the body itself (and has
#: already decoded it), and http.server writes its own Date and Server.
UNREPLAYABLE_HEADERS = frozenset(
    {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive", "date", "server"}
)


# ---------------------------------------------------------------------------------------------
# Wire formats: pure functions from a request to a provider-shaped reply.
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SseEvent:
    """One server-sent event: an optional ``event:`` name and its ``data:`` text."""

    data: str
    event: str | None = None

    def json(self) -> JSON:
        return json.loads(self.data)

    def encode(self) -> bytes:
        head = f"event: {self.event}\n" if self.event is not None else ""
        return f"{head}data: {self.data}\n\n".encode()


def parse_sse(text: str) -> list[SseEvent]:
    """Split an SSE body into events (comments and ``id:``/``retry:`` fields are dropped)."""
    events: list[SseEvent] = []
    for block in re.split(r"\r?\n\r?\n", text):
        name: str | None = None
        data: list[str] = []
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].removeprefix(" "))
        if data or name:
            events.append(SseEvent("\n".join(data), name))
    return events


@dataclass(frozen=True)
class WireReply:
    """A response in a provider's wire format: one JSON document, or a stream of SSE events."""

    status: int = 200
    json: JSON = None
    events: Sequence[SseEvent] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Turn:
    """What a default response is built from besides the request itself."""

    seq: int  # 1-based count of calls to this route, for predictable ids
    text: str  # the assistant's reply text
    usage: Mapping[str, Any] | None  # exact usage values forced by a test
    stored_responses: dict[str, JSON]  # Responses API objects, for GET /v1/responses/{id}


def estimate_tokens(text: str) -> int:
    """Deterministic token count: one per four characters (not tiktoken, just stable)."""
    return (len(text) + 3) // 4


def _texts(value: Any) -> Iterator[str]:
    """Every piece of prompt text in a provider request fragment, whatever its shape."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for key in ("text", "content", "input", "output", "arguments", "thinking"):
            if key in value:
                yield from _texts(value[key])


def _prompt_tokens(*, items: Sequence[Any], extra: Sequence[Any] = (), tools: Any = None) -> int:
    # Chat formats spend a few tokens per message on role markers; copy that shape so more
    # messages cost more even when they are short.
    text = sum(estimate_tokens(t) for t in _texts([*items, *extra]))
    tool_tokens = estimate_tokens(json.dumps(tools, sort_keys=True)) if tools else 0
    return text + tool_tokens + 3 * len(items) + 3


def _pieces(text: str) -> list[str]:
    """The reply as streamed: one word (with its leading space) per chunk and per token."""
    return re.findall(r"\s*\S+", text)


def _truncate(pieces: list[str], limit: Any) -> tuple[list[str], bool]:
    if isinstance(limit, int) and 0 <= limit < len(pieces):
        return pieces[:limit], True
    return pieces, False


def _slices(text: str, size: int = 8) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _is_reasoning_model(model: str) -> bool:
    return model.startswith(REASONING_MODEL_PREFIXES) and not any(m in model for m in NON_REASONING_MODEL_MARKERS)


def _placeholder(schema: Any) -> JSON:
    if not isinstance(schema, dict):
        return "stub"
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    kind = kind[0] if isinstance(kind, list) and kind else kind
    if kind == "object":
        return _arguments(schema)
    return {"integer": 1, "number": 1, "boolean": True, "array": [], "null": None}.get(str(kind), "stub")


def _arguments(schema: Any) -> dict[str, JSON]:
    """Tool-call arguments that satisfy a JSON schema's required properties."""
    if not isinstance(schema, dict):
        return {}
    props: dict[str, Any] = schema.get("properties") or {}
    names = schema.get("required") or list(props)
    return {name: _placeholder(props.get(name)) for name in names}


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _usage(
    default: dict[str, Any], override: Mapping[str, Any] | None, total_of: tuple[str, str] | None
) -> dict[str, Any]:
    """Default usage with a test's forced values on top; a total it didn't force is recomputed."""
    if not override:
        return default
    merged = _deep_merge(default, override)
    if total_of and "total_tokens" in merged and "total_tokens" not in override:
        merged["total_tokens"] = merged[total_of[0]] + merged[total_of[1]]
    return merged


def _compact(value: JSON) -> str:
    return json.dumps(value, separators=(",", ":"))


# --- errors ----------------------------------------------------------------------------------


def openai_error(
    status: int,
    message: str | None = None,
    *,
    type: str | None = None,
    code: str | EllipsisType | None = ...,
    param: str | None = None,
    model: str = "",
) -> JSON:
    """An OpenAI error body; the SDK maps the status to its exception class (429: RateLimitError).

    Unset fields take the values OpenAI sends for that status (``code=...`` means "default").
    """
    default_type, default_code, default_message = OPENAI_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, "Error.")
    )
    return {
        "error": {
            "message": message if message is not None else default_message.format(model=model),
            "type": type or default_type,
            "param": param,
            "code": default_code if code is ... else code,
        }
    }


def anthropic_error(
    status: int, message: str | None = None, *, type: str | None = None, request_id: str = "req_stub", model: str = ""
) -> JSON:
    """An Anthropic error body, as sent with a status code or as an SSE ``error`` event."""
    default_type, default_message = ANTHROPIC_ERRORS.get(
        status, ("api_error" if status >= 500 else "invalid_request_error", "Error.")
    )
    return {
        "type": "error",
        "error": {
            "type": type or default_type,
            "message": message if message is not None else default_message.format(model=model),
        },
        "request_id": request_id,
    }


# --- OpenAI chat completions -----------------------------------------------------------------


def _openai_tool(tools: Any, tool_choice: Any, *, answered: bool) -> tuple[str, str, bool] | None:
    """(name, arguments JSON, forced) of the function the model "calls", or None for text.

    A conversation whose last turn is a tool result gets text, so agent loops terminate.
    """
    functions = [t for t in tools or [] if isinstance(t, dict) and t.get("type") == "function"]
    if not functions or tool_choice == "none" or answered:
        return None
    specs = [t.get("function", t) for t in functions]  # chat nests the spec, Responses doesn't
    chosen, forced = specs[0], tool_choice == "required"
    if isinstance(tool_choice, dict):
        wanted = (tool_choice.get("function") or tool_choice).get("name")
        chosen = next((s for s in specs if s.get("name") == wanted), chosen)
        forced = True
    return str(chosen.get("name")), json.dumps(_arguments(chosen.get("parameters"))), forced


def openai_chat(body: dict[str, Any], turn: Turn) -> WireReply:
    model = str(body.get("model") or "gpt-4o-mini")
    messages: list[Any] = body.get("messages") or []
    n = int(body.get("n") or 1)
    last_role = messages[-1].get("role") if messages and isinstance(messages[-1], dict) else None
    tool = _openai_tool(body.get("tools"), body.get("tool_choice"), answered=last_role == "tool")
    pieces, truncated = _truncate(_pieces(turn.text), body.get("max_completion_tokens", body.get("max_tokens")))
    reasoning = REASONING_TOKENS if _is_reasoning_model(model) else 0

    if tool:
        name, arguments, forced = tool
        visible = estimate_tokens(name) + estimate_tokens(arguments)
        # OpenAI reports "stop", not "tool_calls", when tool_choice named the function.
        finish = "stop" if forced and body.get("tool_choice") != "required" else "tool_calls"
    else:
        visible = len(pieces)
        finish = "length" if truncated else "stop"
    prompt = _prompt_tokens(items=messages, tools=body.get("tools"))
    completion = n * (visible + reasoning)
    usage = _usage(
        {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": n * reasoning,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        turn.usage,
        ("prompt_tokens", "completion_tokens"),
    )
    head = {
        "id": f"chatcmpl-stub-{turn.seq}",
        "created": STUB_EPOCH + turn.seq,
        "model": OPENAI_SNAPSHOTS.get(model, model),
    }
    call_id = f"call_stub_{turn.seq}"

    if not body.get("stream"):
        message: dict[str, Any] = {
            "role": "assistant",
            "content": None if tool else "".join(pieces),
            "refusal": None,
            "annotations": [],
        }
        if tool:
            message["tool_calls"] = [
                {"id": call_id, "type": "function", "function": {"name": tool[0], "arguments": tool[1]}}
            ]
        choices = [{"index": i, "message": message, "logprobs": None, "finish_reason": finish} for i in range(n)]
        return WireReply(
            json={
                **head,
                "object": "chat.completion",
                "choices": choices,
                "usage": usage,
                "service_tier": "default",
                "system_fingerprint": "fp_stub",
            }
        )

    # Chunks carry "usage": null only when usage was asked for, and the usage-only chunk
    # (choices: []) comes last, right before [DONE] -- exactly like the real endpoint.
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(choices: list[JSON], usage_value: JSON = None) -> SseEvent:
        data = {
            **head,
            "object": "chat.completion.chunk",
            "service_tier": "default",
            "system_fingerprint": "fp_stub",
            "choices": choices,
        }
        if include_usage:
            data["usage"] = usage_value
        return SseEvent(_compact(data))

    def delta(index: int, content: JSON, finish_reason: str | None = None) -> JSON:
        return {"index": index, "delta": content, "logprobs": None, "finish_reason": finish_reason}

    events: list[SseEvent] = []
    for i in range(n):
        events.append(chunk([delta(i, {"role": "assistant", "content": None if tool else "", "refusal": None})]))
        if tool:
            start = {"index": 0, "id": call_id, "type": "function", "function": {"name": tool[0], "arguments": ""}}
            events.append(chunk([delta(i, {"tool_calls": [start]})]))
            events += [
                chunk([delta(i, {"tool_calls": [{"index": 0, "function": {"arguments": part}}]})])
                for part in _slices(tool[1])
            ]
        else:
            events += [chunk([delta(i, {"content": piece})]) for piece in pieces]
        events.append(chunk([delta(i, {}, finish)]))
    if include_usage:
        events.append(chunk([], usage))
    events.append(SseEvent("[DONE]"))
    return WireReply(events=events)


# --- OpenAI legacy completions ---------------------------------------------------------------


def openai_completion(body: dict[str, Any], turn: Turn) -> WireReply:
    model = str(body.get("model") or "gpt-3.5-turbo-instruct")
    prompt_value = body.get("prompt", "")
    prompts = (
        prompt_value
        if isinstance(prompt_value, list) and all(isinstance(p, str) for p in prompt_value)
        else [prompt_value]
    )
    n = int(body.get("n") or 1)
    pieces, truncated = _truncate(_pieces(turn.text), body.get("max_tokens", 16))  # API default: 16
    finish = "length" if truncated else "stop"
    prompt = sum(estimate_tokens(t) or 1 for t in _texts(prompts)) or 1
    completion = len(prompts) * n * len(pieces)
    usage = _usage(
        {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
        turn.usage,
        ("prompt_tokens", "completion_tokens"),
    )
    head = {
        "id": f"cmpl-stub-{turn.seq}",
        "object": "text_completion",
        "created": STUB_EPOCH + turn.seq,
        "model": OPENAI_SNAPSHOTS.get(model, model),
    }
    indexes = range(len(prompts) * n)

    if not body.get("stream"):
        choices = [{"text": "".join(pieces), "index": i, "logprobs": None, "finish_reason": finish} for i in indexes]
        return WireReply(json={**head, "choices": choices, "usage": usage, "system_fingerprint": "fp_stub"})

    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunk(choices: list[JSON], usage_value: JSON = None) -> SseEvent:
        data = {**head, "choices": choices, "system_fingerprint": "fp_stub"}
        if include_usage:
            data["usage"] = usage_value
        return SseEvent(_compact(data))

    events = [
        chunk([{"text": piece, "index": i, "logprobs": None, "finish_reason": None}])
        for i in indexes
        for piece in pieces
    ]
    events += [chunk([{"text": "", "index": i, "logprobs": None, "finish_reason": finish}]) for i in indexes]
    if include_usage:
        events.append(chunk([], usage))
    events.append(SseEvent("[DONE]"))
    return WireReply(events=events)


# --- OpenAI embeddings -----------------------------------------------------------------------


def _embedding_inputs(value: Any) -> list[Any]:
    if isinstance(value, list) and value and all(isinstance(x, int) for x in value):
        return [value]  # one input given as token ids
    return value if isinstance(value, list) else [value]


def _vector(item: Any, dimensions: int) -> list[float]:
    # Derived from the input so equal inputs embed equally; rounded through float32 so the
    # float and base64 encodings of one input decode to identical numbers.
    seed = zlib.crc32(_compact(item).encode())
    raw = [math.sin(seed + i) for i in range(dimensions)]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in raw))))


def openai_embeddings(body: dict[str, Any], turn: Turn) -> WireReply:
    model = str(body.get("model") or "text-embedding-3-small")
    inputs = _embedding_inputs(body.get("input", ""))
    dimensions = int(body.get("dimensions") or EMBEDDING_DIMENSIONS.get(model, DEFAULT_EMBEDDING_DIMENSIONS))
    # The openai SDK asks for base64 unless the caller chose a format, then decodes it itself.
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(inputs):
        vector = _vector(item, dimensions)
        encoded: JSON = base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode() if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(len(i) if isinstance(i, list) else max(1, estimate_tokens(str(i))) for i in inputs)
    usage = _usage({"prompt_tokens": tokens, "total_tokens": tokens}, turn.usage, None)
    if turn.usage and "total_tokens" not in turn.usage:
        usage["total_tokens"] = usage["prompt_tokens"]
    return WireReply(json={"object": "list", "data": data, "model": model, "usage": usage})


# --- OpenAI Responses API --------------------------------------------------------------------


def _responses_answered(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and isinstance(value[-1], dict)
        and value[-1].get("type") == "function_call_output"
    )


def openai_response(body: dict[str, Any], turn: Turn) -> WireReply:
    model = str(body.get("model") or "gpt-4o-mini")
    value = body.get("input", "")
    items = value if isinstance(value, list) else [value]
    tool = _openai_tool(body.get("tools"), body.get("tool_choice"), answered=_responses_answered(value))
    pieces, truncated = _truncate(_pieces(turn.text), None if tool else body.get("max_output_tokens"))
    text = "".join(pieces)
    reasoning = REASONING_TOKENS if _is_reasoning_model(model) else 0
    response_id = f"resp_stub_{turn.seq}"

    output: list[dict[str, Any]] = []
    if reasoning:
        output.append({"id": f"rs_stub_{turn.seq}", "type": "reasoning", "summary": []})
    if tool:
        output.append(
            {
                "id": f"fc_stub_{turn.seq}",
                "type": "function_call",
                "status": "completed",
                "arguments": tool[1],
                "call_id": f"call_stub_{turn.seq}",
                "name": tool[0],
            }
        )
        visible = estimate_tokens(tool[0]) + estimate_tokens(tool[1])
    else:
        part = {"type": "output_text", "annotations": [], "logprobs": [], "text": text}
        output.append(
            {
                "id": f"msg_stub_{turn.seq}",
                "type": "message",
                "status": "incomplete" if truncated else "completed",
                "content": [part],
                "role": "assistant",
            }
        )
        visible = len(pieces)
    input_tokens = _prompt_tokens(items=items, extra=[body.get("instructions") or ""], tools=body.get("tools"))
    output_tokens = visible + reasoning
    usage = _usage(
        {
            "input_tokens": input_tokens,
            # openai 3.x types cache_write_tokens as always present on this endpoint.
            "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": input_tokens + output_tokens,
        },
        turn.usage,
        ("input_tokens", "output_tokens"),
    )
    status = "incomplete" if truncated else "completed"
    created = STUB_EPOCH + turn.seq

    def response(state: str, out: list[JSON], usage_value: JSON) -> dict[str, Any]:
        done = state in ("completed", "incomplete")
        return {
            "id": response_id,
            "object": "response",
            "created_at": created,
            "status": state,
            "background": False,
            "completed_at": created + 1 if done else None,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if state == "incomplete" else None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "max_tool_calls": body.get("max_tool_calls"),
            "model": OPENAI_SNAPSHOTS.get(model, model),
            "output": out,
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "prompt_cache_key": body.get("prompt_cache_key"),
            "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
            "safety_identifier": body.get("safety_identifier"),
            "service_tier": body.get("service_tier") or "default",
            "store": body.get("store", True),
            "temperature": body.get("temperature", 1.0),
            "text": body.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_logprobs": body.get("top_logprobs", 0),
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation", "disabled"),
            "usage": usage_value,
            "user": body.get("user"),
            "metadata": body.get("metadata") or {},
        }

    final = response(status, output, usage)
    if body.get("store", True):
        turn.stored_responses[response_id] = final
    if not body.get("stream"):
        return WireReply(json=final)

    payloads: list[dict[str, Any]] = [
        {"type": "response.created", "response": response("in_progress", [], None)},
        {"type": "response.in_progress", "response": response("in_progress", [], None)},
    ]
    for index, item in enumerate(output):
        ids = {"item_id": item["id"], "output_index": index}
        if item["type"] == "message":
            part = item["content"][0]
            payloads.append(
                {
                    "type": "response.output_item.added",
                    "item": {**item, "status": "in_progress", "content": []},
                    "output_index": index,
                }
            )
            payloads.append(
                {"type": "response.content_part.added", "content_index": 0, **ids, "part": {**part, "text": ""}}
            )
            payloads += [
                {"type": "response.output_text.delta", "content_index": 0, "delta": p, **ids, "logprobs": []}
                for p in pieces
            ]
            payloads.append(
                {"type": "response.output_text.done", "content_index": 0, **ids, "logprobs": [], "text": text}
            )
            payloads.append({"type": "response.content_part.done", "content_index": 0, **ids, "part": part})
        elif item["type"] == "function_call":
            payloads.append(
                {
                    "type": "response.output_item.added",
                    "item": {**item, "status": "in_progress", "arguments": ""},
                    "output_index": index,
                }
            )
            payloads += [
                {"type": "response.function_call_arguments.delta", "delta": p, **ids}
                for p in _slices(item["arguments"])
            ]
            payloads.append(
                {
                    "type": "response.function_call_arguments.done",
                    "arguments": item["arguments"],
                    "name": item["name"],
                    **ids,
                }
            )
        else:
            payloads.append({"type": "response.output_item.added", "item": item, "output_index": index})
        payloads.append({"type": "response.output_item.done", "item": item, "output_index": index})
    payloads.append({"type": f"response.{status}", "response": final})
    events = [SseEvent(_compact({**p, "sequence_number": n}), p["type"]) for n, p in enumerate(payloads)]
    return WireReply(events=events)


def openai_stored_response(params: dict[str, Any], turn: Turn) -> WireReply:
    """GET /v1/responses/{id}: ``params`` holds the id matched from the path."""
    response_id = params["id"]
    stored = turn.stored_responses.get(response_id)
    if stored is None:
        return WireReply(
            404, openai_error(404, f"Response with id '{response_id}' not found.", code=None, param="response_id")
        )
    return WireReply(json=stored)


# --- Anthropic messages ----------------------------------------------------------------------


def _anthropic_tool(tools: Any, tool_choice: Any, *, answered: bool) -> tuple[dict[str, Any], bool] | None:
    """(tool definition, forced) of the tool Claude "uses", or None for text."""
    custom = [t for t in tools or [] if isinstance(t, dict) and "input_schema" in t]
    choice = tool_choice if isinstance(tool_choice, dict) else {"type": "auto"}
    if not custom or choice.get("type") == "none" or answered:
        return None
    if choice.get("type") == "tool":
        return next((t for t in custom if t.get("name") == choice.get("name")), custom[0]), True
    return custom[0], choice.get("type") == "any"


def _anthropic_answered(messages: list[Any]) -> bool:
    last = messages[-1] if messages else None
    content = last.get("content") if isinstance(last, dict) else None
    return isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in content)


def anthropic_message(body: dict[str, Any], turn: Turn) -> WireReply:
    model = str(body.get("model") or "claude-haiku-4-5")
    messages: list[Any] = body.get("messages") or []
    tool = _anthropic_tool(body.get("tools"), body.get("tool_choice"), answered=_anthropic_answered(messages))
    thinking = isinstance(body.get("thinking"), dict) and body["thinking"].get("type") in ("enabled", "adaptive")
    pieces, truncated = _truncate(_pieces(turn.text), body.get("max_tokens"))
    text = "".join(pieces)

    blocks: list[dict[str, Any]] = []
    thinking_tokens = 0
    if thinking:
        blocks.append({"type": "thinking", "thinking": THINKING_TEXT, "signature": "stub-signature"})
        thinking_tokens = estimate_tokens(THINKING_TEXT)
    output_tokens = thinking_tokens
    if not (tool and tool[1]):  # a forced tool call comes without a text preamble
        blocks.append({"type": "text", "text": text})
        output_tokens += len(pieces)
    if tool:
        arguments = _arguments(tool[0].get("input_schema"))
        blocks.append(
            {"type": "tool_use", "id": f"toolu_stub_{turn.seq}", "name": tool[0].get("name"), "input": arguments}
        )
        output_tokens += estimate_tokens(str(tool[0].get("name"))) + estimate_tokens(json.dumps(arguments))
    stop_reason = "tool_use" if tool else "max_tokens" if truncated else "end_turn"

    default_usage: dict[str, Any] = {
        "input_tokens": _prompt_tokens(items=messages, extra=[body.get("system") or ""], tools=body.get("tools")),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }
    if thinking:
        default_usage["output_tokens_details"] = {"thinking_tokens": thinking_tokens}
    usage = _usage(default_usage, turn.usage, None)
    message = {
        "id": f"msg_stub_{turn.seq}",
        "type": "message",
        "role": "assistant",
        "model": ANTHROPIC_SNAPSHOTS.get(model, model),
        "content": blocks,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }
    headers = {"request-id": f"req_stub_{turn.seq}"}
    if not body.get("stream"):
        return WireReply(json=message, headers=headers)

    # message_start reports input usage and a token or so of output; message_delta carries the
    # final cumulative counts (input included, as the API has done since mid-2025).
    start_usage = {**usage, "output_tokens": min(1, int(usage.get("output_tokens") or 0))}
    start_usage.pop("output_tokens_details", None)
    payloads: list[dict[str, Any]] = [
        {"type": "message_start", "message": {**message, "content": [], "stop_reason": None, "usage": start_usage}}
    ]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            payloads.append(
                {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
            )
            deltas = [{"type": "text_delta", "text": p} for p in pieces]
        elif block["type"] == "thinking":
            payloads.append(
                {
                    "type": "content_block_start",
                    "index": index,
                    "content_block": {"type": "thinking", "thinking": "", "signature": ""},
                }
            )
            deltas = [{"type": "thinking_delta", "thinking": p} for p in _pieces(THINKING_TEXT)]
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
        else:
            payloads.append({"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}})
            deltas = [
                {"type": "input_json_delta", "partial_json": p} for p in ["", *_slices(json.dumps(block["input"]))]
            ]
        if index == 0:
            payloads.append({"type": "ping"})
        payloads += [{"type": "content_block_delta", "index": index, "delta": d} for d in deltas]
        payloads.append({"type": "content_block_stop", "index": index})
    delta_usage = {
        k: usage[k]
        for k in (
            "input_tokens",
            "cache_creation_input_tokens",
            "cache_read_input_tokens",
            "output_tokens",
            "output_tokens_details",
        )
        if k in usage
    }
    payloads.append(
        {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": delta_usage}
    )
    payloads.append({"type": "message_stop"})
    return WireReply(events=[SseEvent(_compact(p), p["type"]) for p in payloads], headers=headers)


def anthropic_count_tokens(body: dict[str, Any], turn: Turn) -> WireReply:
    messages = body.get("messages") or []
    tokens = _prompt_tokens(items=messages, extra=[body.get("system") or ""], tools=body.get("tools"))
    return WireReply(json={"input_tokens": tokens})


# --- routing ---------------------------------------------------------------------------------

Builder = Callable[[dict[str, Any], Turn], WireReply]

#: (method, path pattern, route name, builder); first match wins, so chat precedes legacy.
#: Patterns match the end of the path so Azure deployment URLs and proxies' prefixes work.
ROUTES: list[tuple[str, re.Pattern[str], str, Builder]] = [
    ("POST", re.compile(r"/chat/completions$"), "chat", openai_chat),
    ("POST", re.compile(r"/completions$"), "completions", openai_completion),
    ("POST", re.compile(r"/embeddings$"), "embeddings", openai_embeddings),
    ("POST", re.compile(r"/responses$"), "responses", openai_response),
    ("GET", re.compile(r"/responses/(?P<id>[^/]+)$"), "retrieve", openai_stored_response),
    ("POST", re.compile(r"^/v1/messages/count_tokens$"), "count_tokens", anthropic_count_tokens),
    ("POST", re.compile(r"^/v1/messages$"), "messages", anthropic_message),
]


def is_anthropic_path(path: str) -> bool:
    return path == "/v1/messages" or path.startswith("/v1/messages/")


def _uses_event_names(path: str) -> bool:
    """Whether the provider names its SSE events on this path (Responses and Anthropic do)."""
    return is_anthropic_path(path) or path.endswith("/responses")


# ---------------------------------------------------------------------------------------------
# Cassettes: vcrpy YAML recordings of real traffic.
# ---------------------------------------------------------------------------------------------


def _header_items(headers: Any) -> list[tuple[str, str]]:
    # vcrpy stores each header as a list of values, but hand-scrubbed ones are plain strings.
    items: list[tuple[str, str]] = []
    for name, values in (headers or {}).items():
        for value in values if isinstance(values, list) else [values]:
            items.append((str(name), str(value)))
    return items


def _decode_body(raw: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(raw)
        if encoding == "deflate":
            try:
                return zlib.decompress(raw)
            except zlib.error:
                return zlib.decompress(raw, -zlib.MAX_WBITS)  # raw deflate, no zlib header
    except (OSError, zlib.error):
        # vcrpy's decode_compressed_response stores the body decoded; a header left behind
        # by a hand edit must not break replay.
        return raw
    if encoding == "br":
        try:
            import brotli  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ValueError("cassette body is brotli-encoded; install 'brotli' to replay it") from exc
        return bytes(brotli.decompress(raw))
    return raw


@dataclass(frozen=True)
class RecordedInteraction:
    """One request/response pair of a cassette, response body already decoded."""

    method: str
    uri: str
    path: str
    request_body: JSON  # parsed JSON, or the text when it isn't JSON
    request_headers: tuple[tuple[str, str], ...]
    status: int
    reason: str
    response_headers: tuple[tuple[str, str], ...]  # only the ones safe to replay
    response_body: bytes

    @property
    def content_type(self) -> str:
        return next((v for k, v in self.response_headers if k.lower() == "content-type"), "")

    @property
    def is_sse(self) -> bool:
        return self.content_type.startswith("text/event-stream")

    @property
    def response_text(self) -> str:
        return self.response_body.decode("utf-8")

    def response_json(self) -> JSON:
        return json.loads(self.response_body)

    def sse_events(self) -> list[SseEvent]:
        return parse_sse(self.response_text)

    def usage(self) -> dict[str, Any] | None:
        """The usage the provider reported: the ``usage`` object of a JSON body, or for a
        stream every usage object in event order merged key by key (so Anthropic's
        message_delta totals win over message_start's)."""
        if not self.is_sse:
            body = self.response_json()
            return body.get("usage") if isinstance(body, dict) else None
        merged: dict[str, Any] = {}
        for event in self.sse_events():
            try:
                data = event.json()
            except ValueError:
                continue  # [DONE]
            if not isinstance(data, dict):
                continue
            for holder in (data, data.get("response"), data.get("message")):
                if isinstance(holder, dict) and isinstance(holder.get("usage"), dict):
                    merged.update(holder["usage"])
        return merged or None


def load_cassette(path: str | Path) -> list[RecordedInteraction]:
    """Read a vcrpy YAML cassette (PyYAML is imported only here)."""
    import yaml

    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    interactions: list[RecordedInteraction] = []
    for entry in document.get("interactions") or []:
        request, response = entry["request"], entry["response"]
        body = response.get("body")
        raw = body.get("string") if isinstance(body, dict) else body
        raw_bytes = raw.encode("utf-8") if isinstance(raw, str) else bytes(raw or b"")
        headers = _header_items(response.get("headers"))
        encoding = next((v for k, v in headers if k.lower() == "content-encoding"), "")
        request_text = request.get("body")
        if isinstance(request_text, bytes):
            request_text = request_text.decode("utf-8", "replace")
        try:
            request_body: JSON = json.loads(request_text) if request_text else None
        except ValueError:
            request_body = request_text
        status = response.get("status") or {}
        interactions.append(
            RecordedInteraction(
                method=str(request.get("method", "GET")).upper(),
                uri=str(request.get("uri", "")),
                path=urlsplit(str(request.get("uri", ""))).path or "/",
                request_body=request_body,
                request_headers=tuple(_header_items(request.get("headers"))),
                status=int(status.get("code", 200)),
                reason=str(status.get("message", "")),
                response_headers=tuple((k, v) for k, v in headers if k.lower() not in UNREPLAYABLE_HEADERS),
                response_body=_decode_body(raw_bytes, encoding) if encoding else raw_bytes,
            )
        )
    return interactions


class CassetteReplayer:
    """Hands out a cassette's interactions in recorded order, per method and path.

    The query string and body are not matched: a cassette records one test's calls, and the
    SDK under test is expected to make the same calls in the same order.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.interactions: list[RecordedInteraction] = load_cassette(self.path)
        self._played: list[bool] = [False] * len(self.interactions)
        self._lock = threading.Lock()

    def take(self, method: str, path: str) -> RecordedInteraction | None:
        with self._lock:
            for index, interaction in enumerate(self.interactions):
                if not self._played[index] and interaction.method == method.upper() and interaction.path == path:
                    self._played[index] = True
                    return interaction
        return None

    @property
    def remaining(self) -> list[RecordedInteraction]:
        with self._lock:
            return [i for i, played in zip(self.interactions, self._played, strict=True) if not played]


# ---------------------------------------------------------------------------------------------
# Server mechanics.
# ---------------------------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """A request the stub received, and what it answered."""

    method: str
    path: str  # without the query string
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: JSON  # parsed JSON; None when empty or not JSON
    raw_body: bytes
    response_status: int | None = None
    response_body: JSON = None  # the JSON document, or the list of SSE data payloads sent


@dataclass(frozen=True)
class ScriptedResponse:
    """A response a test queued with :meth:`StubProvider.enqueue`; see there."""

    status: int = 200
    json: JSON = None
    body: bytes | str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    usage: Mapping[str, Any] | None = None
    text: str | None = None
    sse_events: Sequence[str | Mapping[str, Any] | SseEvent] | None = None
    fail_after_events: int | None = None
    delay_s: float = 0.0
    event_delay_s: float = 0.0


@dataclass
class _Outgoing:
    """Bytes ready for the socket: a sized body, or SSE chunks sent with chunked encoding."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    chunks: list[bytes] | None = None
    recorded: JSON = None
    fail_after_events: int | None = None
    delay_s: float = 0.0
    event_delay_s: float = 0.0


class StubProvider:
    """An OpenAI + Anthropic API stand-in on 127.0.0.1, served from a daemon thread.

    Use as a context manager (or ``start()``/``close()``). ``base_url`` is for OpenAI clients,
    ``url`` (no ``/v1``) for Anthropic ones; build clients with ``max_retries=0``.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cassette: str | Path | CassetteReplayer | None = None,
        reply_text: str = DEFAULT_REPLY,
        verbose: bool = False,
    ) -> None:
        self.host, self.reply_text, self.verbose = host, reply_text, verbose
        self.cassette = CassetteReplayer(cassette) if isinstance(cassette, str | Path) else cassette
        self._requested_port = port
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._scripted: dict[tuple[str, str], deque[ScriptedResponse]] = {}
        self._counters: dict[str, int] = {}
        self._stored_responses: dict[str, JSON] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.closed = False

    # -- lifecycle --

    def start(self) -> Self:
        if self._server is None:
            self._server = _Server((self.host, self._requested_port), _Handler, self)
            # A short poll interval: close() waits up to one interval, and tests close a lot.
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="genai-cost-stub", daemon=True
            )
            self._thread.start()
        return self

    def close(self) -> None:
        self.closed = True  # idle keep-alive connections get closed instead of served
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("StubProvider is not running; use it as a context manager or call start()")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """``http://HOST:PORT``: the base URL for Anthropic clients."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v1``: the base URL for OpenAI clients."""
        return f"{self.url}/v1"

    # -- what tests look at --

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self._requests:
                raise LookupError("the stub has received no request")
            return self._requests[-1]

    # -- scripting --

    def enqueue(
        self,
        path: str,
        *,
        method: str = "POST",
        status: int = 200,
        json: JSON = None,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        usage: Mapping[str, Any] | None = None,
        text: str | None = None,
        sse_events: Sequence[str | Mapping[str, Any] | SseEvent] | None = None,
        fail_after_events: int | None = None,
        delay_s: float = 0.0,
        event_delay_s: float = 0.0,
    ) -> None:
        """Queue the answer to the next ``method`` request on ``path`` (FIFO; one use each).

        - ``json`` / ``body``: send exactly this document or these bytes with ``status``.
        - ``status`` >= 400 alone: a provider-shaped error body for that status, so the SDK
          raises its own class (openai.RateLimitError, anthropic.NotFoundError, ...).
        - ``sse_events``: send these events as a ``text/event-stream``. A ``str`` is sent
          verbatim, a mapping is framed as the provider frames it on that path (with an
          ``event: <type>`` line on /responses and Anthropic paths, ``data:`` only otherwise).
        - otherwise the default response is built, with ``usage`` deep-merged over its usage
          (a total you don't set is recomputed) and ``text`` as the reply.
        - ``fail_after_events=N``: send N SSE events then drop the connection mid-body (for a
          JSON reply: half the body), so the SDK raises while iterating.
        - ``delay_s`` before the response; ``event_delay_s`` between SSE events.
        """
        scripted = ScriptedResponse(
            status=status,
            json=json,
            body=body,
            headers=dict(headers or {}),
            usage=usage,
            text=text,
            sse_events=sse_events,
            fail_after_events=fail_after_events,
            delay_s=delay_s,
            event_delay_s=event_delay_s,
        )
        with self._lock:
            self._scripted.setdefault((method.upper(), path), deque()).append(scripted)

    # -- internals used by the handler --

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _next_scripted(self, method: str, path: str) -> ScriptedResponse | None:
        with self._lock:
            queue = self._scripted.get((method, path))
            return queue.popleft() if queue else None

    def _next_seq(self, route: str) -> int:
        with self._lock:
            self._counters[route] = self._counters.get(route, 0) + 1
            return self._counters[route]

    def _respond(self, request: RecordedRequest) -> _Outgoing:
        scripted = self._next_scripted(request.method, request.path)
        if scripted is None and self.cassette is not None:
            interaction = self.cassette.take(request.method, request.path)
            if interaction is not None:
                return _replay(interaction)
            if self.cassette.interactions:
                where = f"{request.method} {request.path}"
                return self._error(
                    request, 500, f"cassette {self.cassette.path.name} has no unplayed interaction for {where}"
                )
        script = scripted or ScriptedResponse()
        wire = _wire_for(request.path)
        if wire is not None and script.json is None and script.body is None:
            out = wire.respond(request, script, self)
        elif script.json is not None or script.body is not None:
            raw = script.body.encode() if isinstance(script.body, str) else script.body
            body = raw if raw is not None else _encode_json(script.json, request.path)
            out = _Outgoing(script.status, [("Content-Type", "application/json")], body, recorded=script.json)
        elif script.sse_events is not None:
            out = _sse([_as_event(e, request.path) for e in script.sse_events])
            out.status = script.status
        elif script.status >= 400:
            out = self._error(request, script.status)
        else:
            out = self._default(request, script)
            if scripted is not None and script.status != 200:
                out.status = script.status
        overridden = {name.lower() for name in script.headers}
        out.headers = [(k, v) for k, v in out.headers if k.lower() not in overridden] + list(script.headers.items())
        out.fail_after_events, out.delay_s, out.event_delay_s = (
            script.fail_after_events,
            script.delay_s,
            script.event_delay_s,
        )
        return out

    def _default(self, request: RecordedRequest, script: ScriptedResponse) -> _Outgoing:
        for method, pattern, route, build in ROUTES:
            match = pattern.search(request.path)
            if method != request.method or match is None:
                continue
            if method == "POST" and not isinstance(request.body, dict):
                return self._error(request, 400, "We could not parse the JSON body of your request.")
            seq = self._next_seq(route)
            turn = Turn(
                seq, script.text if script.text is not None else self.reply_text, script.usage, self._stored_responses
            )
            # GET routes take their parameters from the path, POST routes from the JSON body.
            reply = build(request.body if method == "POST" else match.groupdict(), turn)
            headers = dict(reply.headers)
            if not is_anthropic_path(request.path):
                headers.setdefault("x-request-id", f"req_stub_{route}_{seq}")  # the SDK's response._request_id
            if reply.events is not None:
                out = _sse(list(reply.events))
            else:
                out = _Outgoing(
                    reply.status,
                    [("Content-Type", "application/json")],
                    _encode_json(reply.json, request.path),
                    recorded=reply.json,
                )
            out.headers += list(headers.items())
            return out
        if is_anthropic_path(request.path):
            return self._error(request, 404, "Not Found")
        return self._error(request, 404, f"Invalid URL ({request.method} {request.path})", code=None)

    def _error(
        self,
        request: RecordedRequest,
        status: int,
        message: str | None = None,
        *,
        code: str | EllipsisType | None = ...,
    ) -> _Outgoing:
        model = str(request.body.get("model", "")) if isinstance(request.body, dict) else ""
        if is_anthropic_path(request.path):
            document = anthropic_error(status, message, model=model)
        else:
            document = openai_error(status, message, model=model, code=code)
        return _Outgoing(
            status, [("Content-Type", "application/json")], _encode_json(document, request.path), recorded=document
        )


#: Provider wire formats kept in modules of their own (this file stays OpenAI + Anthropic). Each
#: module's ``WIRE`` has ``handles(path) -> bool`` and ``respond(request, script, stub) -> _Outgoing``;
#: a scripted ``json``/``body`` is still sent verbatim, the rest is the module's to answer.
WIRE_MODULES: tuple[str, ...] = (
    "genai_cost.testing.bedrock_wire",
    "genai_cost.testing.gemini_wire",
    "genai_cost.testing.ollama_wire",
    "genai_cost.testing.mistral_wire",
    "genai_cost.testing.groq_wire",
    "genai_cost.testing.cohere_wire",
    "genai_cost.testing.together_wire",
)
_wires: list[Any] = []


def _wire_for(path: str) -> Any:
    if not _wires:
        import importlib

        _wires[:] = [importlib.import_module(name).WIRE for name in WIRE_MODULES]  # idempotent if raced
    return next((wire for wire in _wires if wire.handles(path)), None)


def _encode_json(document: JSON, path: str) -> bytes:
    # OpenAI pretty-prints its JSON bodies and Anthropic doesn't; mimic both, it costs nothing.
    if is_anthropic_path(path):
        return json.dumps(document, separators=(",", ":")).encode()
    return json.dumps(document, indent=2).encode()


def _as_event(item: str | Mapping[str, Any] | SseEvent, path: str) -> SseEvent | bytes:
    if isinstance(item, SseEvent):
        return item
    if isinstance(item, str):
        return item.encode() if item.endswith("\n\n") else (item.rstrip("\n") + "\n\n").encode()
    name = str(item.get("type")) if _uses_event_names(path) and "type" in item else None
    return SseEvent(_compact(dict(item)), name)


def _sse(events: Sequence[SseEvent | bytes]) -> _Outgoing:
    chunks = [e if isinstance(e, bytes) else e.encode() for e in events]
    recorded: list[JSON] = []
    for chunk in chunks:
        for event in parse_sse(chunk.decode("utf-8", "replace")):
            with contextlib.suppress(ValueError):  # [DONE] and other non-JSON data
                recorded.append(event.json())
    return _Outgoing(
        200,
        [("Content-Type", "text/event-stream; charset=utf-8"), ("Cache-Control", "no-cache")],
        chunks=chunks,
        recorded=recorded,
    )


def _replay(interaction: RecordedInteraction) -> _Outgoing:
    headers = list(interaction.response_headers)
    if not interaction.is_sse:
        try:
            recorded: JSON = interaction.response_json()
        except ValueError:
            recorded = interaction.response_text
        return _Outgoing(interaction.status, headers, interaction.response_body, recorded=recorded)
    # Verbatim bytes, cut at event boundaries so the client sees a real stream.
    chunks = [c for c in re.split(rb"(?<=\n\n)", interaction.response_body) if c]
    out = _sse(chunks)
    return _Outgoing(interaction.status, headers, chunks=out.chunks, recorded=out.recorded)


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck in delay_s must not block close()

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], stub: StubProvider) -> None:
        self.stub = stub
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client closing an idle keep-alive connection (or a stream it stopped reading) is
        # routine; anything else is a stub bug and keeps the default traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 for keep-alive and chunked SSE: an SSE body cut short is only detectable by the
    # client when it was chunked (an HTTP/1.0 body just ends at EOF, which looks complete).
    protocol_version = "HTTP/1.1"
    server_version = "genai-cost-stub"
    sys_version = ""
    server: _Server

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.stub.verbose:
            sys.stderr.write(f"stub: {format % args}\n")

    def _handle(self) -> None:
        stub = self.server.stub
        if stub.closed:
            self.close_connection = True
            return
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            body: JSON = json.loads(raw) if raw else None
        except ValueError:
            body = None
        url = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=url.path,
            query=parse_qs(url.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw_body=raw,
        )
        try:
            out = stub._respond(request)
        except Exception:
            traceback.print_exc()  # a stub bug must be loud, not look like a provider error
            out = stub._error(request, 500, "stub failed to build a response: see stderr")
        request.response_status, request.response_body = out.status, out.recorded
        stub._record(request)  # before sending, so it is visible once the SDK call returns
        try:
            self._send(out)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. its timeout fired)

    def _send(self, out: _Outgoing) -> None:
        if out.delay_s:
            time.sleep(out.delay_s)
        self.send_response(out.status)
        for name, value in out.headers:
            self.send_header(name, value)
        if out.chunks is None:
            self.send_header("Content-Length", str(len(out.body)))
            self.end_headers()
            if out.fail_after_events is not None:
                self.wfile.write(out.body[: len(out.body) // 2])
                return self._abort()
            self.wfile.write(out.body)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for index, chunk in enumerate(out.chunks):
            if out.fail_after_events is not None and index >= out.fail_after_events:
                return self._abort()
            if out.event_delay_s and index:
                time.sleep(out.event_delay_s)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        if out.fail_after_events is not None:
            return self._abort()  # every event went out, but the end of the body never comes
        self.wfile.write(b"0\r\n\r\n")

    def _abort(self) -> None:
        """Drop the connection mid-body, as a crashed upstream or proxy would."""
        self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):  # already gone
            self.connection.shutdown(socket.SHUT_RDWR)


# ---------------------------------------------------------------------------------------------
# Command line: python -m genai_cost.testing.stub_server --port 0
# ---------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m genai_cost.testing.stub_server",
        description="Serve a local OpenAI/Anthropic API stand-in; prints its OpenAI base URL first.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--cassette", type=Path, help="replay this vcrpy cassette")
    parser.add_argument("--reply-text", default=DEFAULT_REPLY, help="assistant reply of default responses")
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    args = parser.parse_args(argv)

    stub = StubProvider(
        host=args.host, port=args.port, cassette=args.cassette, reply_text=args.reply_text, verbose=not args.quiet
    )
    stub.start()
    print(stub.base_url, flush=True)  # the caller reads this line to find the port

    # As the gateway's run loop: the handler takes no lock, the main thread sleeps in short steps.
    signalled: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda signum, _frame: signalled.append(signum))
    while not signalled:
        time.sleep(0.2)
    stub.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
