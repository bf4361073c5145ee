"""An in-process stand-in for the OpenAI chat completions endpoint, as an ``httpx2`` transport.

No socket, no thread: the SDK builds and sends its request and parses the answer exactly as in
production, and what is left of a call's time is the SDK's own work plus the instrumentation's.

* Non-streaming: a realistic ``chat.completion`` body (usage with cached and reasoning details).
* Streaming: SSE events handed to the SDK one network read at a time — a role chunk, content
  chunks, a finish chunk, and, only when the request asked for ``stream_options.include_usage``
  (genai-cost adds it; the peers do not), ``"usage": null`` on each of those chunks and a final
  usage-only chunk, as the API does — then ``[DONE]``.

Every body is built once, at import; a call pays only for parsing the request JSON to see whether
it streams and asked for usage, which every variant pays alike.
"""

from __future__ import annotations

import json

import httpx2
from harness.workload import ANSWER, ANSWER_PIECES, QUESTION, SYSTEM

REQUEST_MODEL = "gpt-4o-mini"
RESPONSE_MODEL = "gpt-4o-mini-2024-07-18"
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]

USAGE = {
    "prompt_tokens": 42,
    "completion_tokens": 19,
    "total_tokens": 61,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
COMPLETION_ID = "chatcmpl-BENCH0000000000000000000000001"
CREATED = 1763800000
FINGERPRINT = "fp_0ba0d124f1"

_COMMON_HEADERS = {
    "x-request-id": "req_0123456789abcdef0123456789abcdef",
    "openai-processing-ms": "412",
    "openai-version": "2020-10-01",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-remaining-tokens": "199950",
}
JSON_HEADERS = {**_COMMON_HEADERS, "content-type": "application/json"}
SSE_HEADERS = {**_COMMON_HEADERS, "content-type": "text/event-stream; charset=utf-8"}

CHAT_BODY = json.dumps(
    {
        "id": COMPLETION_ID,
        "object": "chat.completion",
        "created": CREATED,
        "model": RESPONSE_MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": ANSWER, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": USAGE,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
    }
).encode()


def _chunk(delta: dict, finish_reason: str | None = None, usage_field: bool = False) -> dict:
    chunk = {
        "id": COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": RESPONSE_MODEL,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    if usage_field:
        # With include_usage, the API puts "usage": null on every chunk before the usage chunk.
        chunk["usage"] = None
    return chunk


def _event(payload: dict | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


def _stream_body(usage_field: bool) -> list[bytes]:
    return [
        _event(_chunk({"role": "assistant", "content": "", "refusal": None}, usage_field=usage_field)),
        *(_event(_chunk({"content": piece}, usage_field=usage_field)) for piece in ANSWER_PIECES),
        _event(_chunk({}, "stop", usage_field=usage_field)),
    ]


_USAGE_CHUNK = _event(
    {
        "id": COMPLETION_ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": RESPONSE_MODEL,
        "service_tier": "default",
        "system_fingerprint": FINGERPRINT,
        "choices": [],
        "usage": USAGE,
    }
)
_DONE = _event("[DONE]")
STREAM_EVENTS = tuple([*_stream_body(False), _DONE])
STREAM_EVENTS_WITH_USAGE = tuple([*_stream_body(True), _USAGE_CHUNK, _DONE])


class Counters:
    """What the transport saw (a sanity check on the variants, read outside the timed part)."""

    requests = 0
    usage_requested = 0


def handler(request: httpx2.Request) -> httpx2.Response:
    Counters.requests += 1
    body = json.loads(request.content)
    if body.get("stream"):
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        Counters.usage_requested += include_usage
        events = STREAM_EVENTS_WITH_USAGE if include_usage else STREAM_EVENTS
        # An iterator body: the SDK reads and decodes it event by event, as off a socket.
        return httpx2.Response(200, headers=SSE_HEADERS, content=iter(events))
    return httpx2.Response(200, headers=JSON_HEADERS, content=CHAT_BODY)


def make_client():
    """The SDK client every variant uses: real ``openai.OpenAI`` over the mock transport."""
    import openai

    return openai.OpenAI(
        api_key="sk-bench-not-a-real-key",
        base_url="https://api.openai.com/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
    )
