"""An in-process stand-in for Ollama's ``POST /api/chat``, as an ``httpx`` transport.

No socket, no thread: the ollama SDK builds and sends its request and parses the answer exactly as
in production. Non-streaming: one JSON document; streaming: NDJSON, one line per answer piece and a
final ``done`` line with the counts, handed to the SDK one network read per line. Bodies are built
once, at import.
"""

from __future__ import annotations

import json

import httpx
from harness.provider import mock_transport
from harness.workload import ANSWER, ANSWER_PIECES, QUESTION

MODEL = "llama3.2"
MESSAGES = [{"role": "user", "content": QUESTION}]
CREATED = "2025-01-01T00:00:00.000000Z"
COUNTS = {
    "total_duration": 812_000_000,
    "load_duration": 10_000_000,
    "prompt_eval_count": 31,
    "prompt_eval_duration": 120_000_000,
    "eval_count": 19,
    "eval_duration": 680_000_000,
}


def _line(content: str, done: bool) -> dict:
    out = {"model": MODEL, "created_at": CREATED, "message": {"role": "assistant", "content": content}, "done": done}
    if done:
        out.update(done_reason="stop", **COUNTS)
    return out


CHAT_BODY = json.dumps(_line(ANSWER, True)).encode()
STREAM_LINES = [json.dumps(_line(p, False)).encode() + b"\n" for p in ANSWER_PIECES] + [
    json.dumps(_line("", True)).encode() + b"\n"
]


def make_client():
    import ollama

    transport = mock_transport(httpx, document=CHAT_BODY, stream=STREAM_LINES, stream_type="application/x-ndjson")
    return ollama.Client(host="http://127.0.0.1:11434", transport=transport)
