"""An in-process stand-in for Groq's ``POST /openai/v1/chat/completions``, as an ``httpx``
transport: no socket, no thread, so what is left of a call's time is the SDK's own work plus the
instrumentation's. Non-streaming: a realistic completion with Groq's usage timings. Streaming:
16 content chunks handed to the SDK one network read at a time, the last carrying the usage in
``x_groq.usage`` as Groq sends it, then ``[DONE]``. Bodies are built once, at import.
"""

from __future__ import annotations

import json

import httpx
from harness.provider import mock_transport
from harness.workload import ANSWER, ANSWER_PIECES, QUESTION

REQUEST_MODEL = "llama-3.3-70b-versatile"
MESSAGES = [{"role": "user", "content": QUESTION}]
COMPLETION_ID = "chatcmpl-BENCH0000000000000000000001"
USAGE = {
    "prompt_tokens": 31,
    "completion_tokens": 19,
    "total_tokens": 50,
    "queue_time": 0.01,
    "prompt_time": 0.002,
    "completion_time": 0.03,
    "total_time": 0.042,
}
HEADERS = {"x-request-id": "req_01bench0000000000000000001"}
_HEAD = {"id": COMPLETION_ID, "created": 1_735_689_600, "model": REQUEST_MODEL, "system_fingerprint": "fp_bench"}

_COMPLETION = json.dumps(
    {
        **_HEAD,
        "object": "chat.completion",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "logprobs": None, "finish_reason": "stop"}
        ],
        "usage": USAGE,
        "x_groq": {"id": "req_01bench0000000000000000001"},
    }
).encode()


def _chunk(delta: dict, finish: str | None = None, **extra: object) -> bytes:
    body = {**_HEAD, "object": "chat.completion.chunk", **extra}
    body["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
    return b"data: " + json.dumps(body).encode() + b"\n\n"


_STREAM = (
    [_chunk({"role": "assistant", "content": ""}, x_groq={"id": "req_01bench0000000000000000001"})]
    + [_chunk({"content": piece}) for piece in ANSWER_PIECES]
    + [_chunk({}, "stop", x_groq={"id": "req_01bench0000000000000000001", "usage": USAGE})]
    + [b"data: [DONE]\n\n"]
)


def make_client():
    import groq

    transport = mock_transport(httpx, document=_COMPLETION, stream=_STREAM, headers=HEADERS)
    return groq.Groq(api_key="gsk_bench", http_client=httpx.Client(transport=transport))


__all__ = ["ANSWER", "MESSAGES", "REQUEST_MODEL", "make_client"]
