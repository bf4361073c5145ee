"""An in-process stand-in for Together's ``POST /v1/chat/completions``, as an ``httpx`` transport.
Non-streaming: a completion with Together's usage; streaming: 16 content chunks, the last one --
with ``finish_reason`` -- carrying the usage as Together sends it (no ``stream_options`` needed),
then ``[DONE]``. Bodies are built once, at import.
"""

from __future__ import annotations

import json

import httpx
from harness.provider import mock_transport
from harness.workload import ANSWER, ANSWER_PIECES

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
USAGE = {"prompt_tokens": 31, "completion_tokens": 19, "total_tokens": 50}
_HEAD = {"id": "o9bench000000000-bench", "created": 1_735_689_600, "model": MODEL}
_COMPLETION = json.dumps(
    {
        **_HEAD,
        "object": "chat.completion",
        "prompt": [],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
        "usage": USAGE,
    }
).encode()


def _chunk(content: str, finish: str | None = None, usage: dict | None = None) -> bytes:
    choice = {"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": finish}
    body = {**_HEAD, "object": "chat.completion.chunk", "choices": [choice], "usage": usage}
    return b"data: " + json.dumps(body).encode() + b"\n\n"


_STREAM = (
    [_chunk(piece) for piece in ANSWER_PIECES[:-1]] + [_chunk(ANSWER_PIECES[-1], "stop", USAGE)] + [b"data: [DONE]\n\n"]
)


def make_client():
    import together

    transport = mock_transport(httpx, document=_COMPLETION, stream=_STREAM)
    return together.Together(api_key="bench", max_retries=0, http_client=httpx.Client(transport=transport))
