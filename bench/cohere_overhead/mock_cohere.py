"""An in-process stand-in for Cohere's ``POST /v2/chat``, as an ``httpx`` transport. Non-streaming:
a v2 chat response with its ``usage`` (``billed_units`` and ``tokens``); streaming (``chat_stream``):
Cohere's v2 events -- ``message-start``, ``content-start``, 16 ``content-delta``, ``content-end``,
``message-end`` with the finish reason and usage. Bodies are built once, at import.
"""

from __future__ import annotations

import json

import httpx
from harness.provider import mock_transport
from harness.workload import ANSWER, ANSWER_PIECES

MODEL = "command-a-03-2025"
RESPONSE_ID = "c14c80c3-18eb-4519-9460-6c92edd8cfb4"
USAGE = {
    "billed_units": {"input_tokens": 31, "output_tokens": 19},
    "tokens": {"input_tokens": 520, "output_tokens": 21},
}
_CHAT = json.dumps(
    {
        "id": RESPONSE_ID,
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": ANSWER}]},
        "usage": USAGE,
    }
).encode()


def _event(body: dict) -> bytes:
    return f"event: {body['type']}\ndata: {json.dumps(body)}\n\n".encode()


_STREAM = (
    [_event({"type": "message-start", "id": RESPONSE_ID, "delta": {"message": {"role": "assistant", "content": []}}})]
    + [_event({"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}})]
    + [
        _event({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": piece}}}})
        for piece in ANSWER_PIECES
    ]
    + [_event({"type": "content-end", "index": 0})]
    + [_event({"type": "message-end", "delta": {"finish_reason": "COMPLETE", "usage": USAGE}})]
)


def make_client():
    import cohere

    transport = mock_transport(httpx, document=_CHAT, stream=_STREAM)
    return cohere.ClientV2(api_key="bench", httpx_client=httpx.Client(transport=transport))
