"""An in-process stand-in for Bedrock Runtime's Converse and ConverseStream, as a botocore
``before-send`` handler.

No socket, no thread: botocore serialises the request, signs it (SigV4), and parses the answer
(the REST-JSON parser, or the eventstream decoder) exactly as in production; only the HTTP send is
replaced by a canned response. What is left of a call's time is botocore's own work plus the
instrumentation's. Streaming: the eventstream frames (``messageStart``, 16 ``contentBlockDelta``,
``contentBlockStop``, ``messageStop``, ``metadata`` with usage) handed over one read at a time.
Bodies are built once, at import, with the stand-in's encoder (``genai_cost.testing.bedrock_wire``).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import botocore.config
from botocore.awsrequest import AWSResponse

from genai_cost.testing.bedrock_wire import encode_event
from harness.workload import ANSWER, ANSWER_PIECES, QUESTION, SYSTEM

__all__ = ["ANSWER", "INFERENCE", "MESSAGES", "REQUEST_MODEL", "SYSTEM_BLOCKS", "make_client"]

REQUEST_MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
MESSAGES = [{"role": "user", "content": [{"text": QUESTION}]}]
SYSTEM_BLOCKS = [{"text": SYSTEM}]
INFERENCE = {"maxTokens": 200}
USAGE = {"inputTokens": 31, "outputTokens": 19, "totalTokens": 50}
REQUEST_ID = "6f0c2f0e-0000-4000-8000-00000000bench"

_CONVERSE = json.dumps(
    {
        "output": {"message": {"role": "assistant", "content": [{"text": ANSWER}]}},
        "stopReason": "end_turn",
        "usage": USAGE,
        "metrics": {"latencyMs": 412},
    }
).encode()


_FRAMES = [
    encode_event("messageStart", {"role": "assistant"}),
    *(encode_event("contentBlockDelta", {"delta": {"text": p}, "contentBlockIndex": 0}) for p in ANSWER_PIECES),
    encode_event("contentBlockStop", {"contentBlockIndex": 0}),
    encode_event("messageStop", {"stopReason": "end_turn"}),
    encode_event("metadata", {"usage": USAGE, "metrics": {"latencyMs": 412}}),
]


class _Raw:
    """What botocore reads a response body from (``urllib3``'s response, in production)."""

    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    def stream(self, amt: int = 1024, decode_content: bool = False) -> Any:
        yield from self._chunks

    def read(self, amt: int | None = None) -> bytes:
        return b"".join(self._chunks)

    def close(self) -> None:
        pass


def _answer(request: Any, **kwargs: Any) -> AWSResponse:
    if request.url.endswith("/converse-stream"):
        headers = {"Content-Type": "application/vnd.amazon.eventstream", "x-amzn-RequestId": REQUEST_ID}
        return AWSResponse(request.url, 200, headers, _Raw(_FRAMES))
    headers = {
        "Content-Type": "application/json",
        "x-amzn-RequestId": REQUEST_ID,
        "Content-Length": str(len(_CONVERSE)),
    }
    return AWSResponse(request.url, 200, headers, _Raw([_CONVERSE]))


def make_client() -> Any:
    """A real bedrock-runtime client (dummy credentials) whose HTTP send is ``_answer``."""
    client = boto3.client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="AKIDBENCH",
        aws_secret_access_key="bench-secret",
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )
    client.meta.events.register("before-send.bedrock-runtime.*", _answer)
    return client
