"""An in-process stand-in for Mistral's ``POST /v1/chat/completions``, as an ``httpx2`` transport
(mistralai 3.x's HTTP client). Non-streaming: a completion with Mistral's usage; streaming: 16
content chunks, the last one -- with ``finish_reason`` -- carrying the usage as Mistral sends it,
then ``[DONE]``. Bodies are built once, at import.
"""

from __future__ import annotations

import json

import httpx2
from harness.provider import mock_transport
from harness.workload import ANSWER, ANSWER_PIECES

MODEL = "mistral-small-latest"
RESPONSE_MODEL = "mistral-small-2506"
USAGE = {"prompt_tokens": 31, "completion_tokens": 19, "total_tokens": 50}
_HEAD = {"id": "cmpl-bench0000000000000000000001", "created": 1_735_689_600, "model": RESPONSE_MODEL}
_COMPLETION = json.dumps(
    {
        **_HEAD,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
).encode()


def _chunk(content: str, finish: str | None = None, **extra: object) -> bytes:
    choice = {"index": 0, "delta": {"content": content}, "finish_reason": finish}
    body = {**_HEAD, "object": "chat.completion.chunk", "choices": [choice], **extra}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


_STREAM = (
    [_chunk(piece) for piece in ANSWER_PIECES[:-1]]
    + [_chunk(ANSWER_PIECES[-1], "stop", usage=USAGE)]
    + [b"data: [DONE]\n\n"]
)


def make_client():
    from mistralai.client import Mistral

    transport = mock_transport(httpx2, document=_COMPLETION, stream=_STREAM)
    return Mistral(api_key="bench", client=httpx2.Client(transport=transport))
