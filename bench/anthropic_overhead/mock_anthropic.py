"""An in-process stand-in for Anthropic's ``POST /v1/messages``, as an ``httpx2`` transport.

No socket, no thread: the SDK builds and sends its request and parses the answer exactly as in
production, and what is left of a call's time is the SDK's own work plus the instrumentation's.
Non-streaming: a realistic ``message`` body. Streaming: the API's named SSE events handed to the
SDK one network read at a time -- ``message_start`` (input and cache counts), a text block with
16 deltas and a ``ping``, ``message_delta`` (cumulative usage, stop reason), ``message_stop``.
Bodies are built once, at import.
"""

from __future__ import annotations

import json

import httpx2
from harness.workload import ANSWER, ANSWER_PIECES, QUESTION

REQUEST_MODEL = "claude-haiku-4-5"
RESPONSE_MODEL = "claude-haiku-4-5-20251001"
MESSAGES = [{"role": "user", "content": QUESTION}]
MESSAGE_ID = "msg_01BENCH000000000000000001"

USAGE = {
    "input_tokens": 31,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
    "output_tokens": 19,
    "service_tier": "standard",
}
HEADERS = {
    "request-id": "req_011BENCH0000000000000001",
    "anthropic-organization-id": "00000000-0000-0000-0000-000000000000",
}
JSON_HEADERS = {**HEADERS, "content-type": "application/json"}
SSE_HEADERS = {**HEADERS, "content-type": "text/event-stream; charset=utf-8"}

_MESSAGE = {
    "id": MESSAGE_ID,
    "type": "message",
    "role": "assistant",
    "model": RESPONSE_MODEL,
    "content": [{"type": "text", "text": ANSWER}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": USAGE,
}
MESSAGE_BODY = json.dumps(_MESSAGE).encode()


def _event(payload: dict) -> bytes:
    return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode()


STREAM_EVENTS = (
    _event(
        {
            "type": "message_start",
            "message": {**_MESSAGE, "content": [], "stop_reason": None, "usage": {**USAGE, "output_tokens": 1}},
        }
    ),
    _event({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    _event({"type": "ping"}),
    *(
        _event({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})
        for piece in ANSWER_PIECES
    ),
    _event({"type": "content_block_stop", "index": 0}),
    _event(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {
                k: USAGE[k]
                for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens")
            },
        }
    ),
    _event({"type": "message_stop"}),
)


def handler(request: httpx2.Request) -> httpx2.Response:
    if json.loads(request.content).get("stream"):
        # An iterator body: the SDK reads and decodes it event by event, as off a socket.
        return httpx2.Response(200, headers=SSE_HEADERS, content=iter(STREAM_EVENTS))
    return httpx2.Response(200, headers=JSON_HEADERS, content=MESSAGE_BODY)


def make_client(*, sdk_tracing: bool):
    """The real ``anthropic.Anthropic`` over the mock transport; its own tracing on or off."""
    import anthropic

    return anthropic.Anthropic(
        api_key="sk-ant-bench-not-a-real-key",
        base_url="https://api.anthropic.com",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(handler)),
        open_telemetry=None if sdk_tracing else False,
    )
