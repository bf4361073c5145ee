"""Message content: never on the span unless OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
opts in; then Converse prompts and replies as semconv JSON, binary parts by kind only."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bedrock_support import attrs, client, instrumented, no_content_capture, only_span, path

from genai_cost.testing import StubProvider

__all__ = ["client", "instrumented", "no_content_capture"]

MODEL = "us.amazon.nova-pro-v1:0"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MESSAGES = [
    {
        "role": "user",
        "content": [{"text": "What is in this picture?"}, {"image": {"format": "png", "source": {"bytes": PNG}}}],
    },
    {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "lookup", "input": {"q": "cat"}}}]},
    {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "a cat"}]}}]},
]
SYSTEM = [{"text": "Answer briefly."}, {"cachePoint": {"type": "default"}}]
CONTENT_KEYS = ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions")


def test_no_content_by_default(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    client.converse(modelId=MODEL, messages=MESSAGES, system=SYSTEM)
    a = attrs(only_span(span_exporter))
    assert not [k for k in CONTENT_KEYS if k in a]
    assert "picture" not in json.dumps({k: str(v) for k, v in a.items()})


def test_converse_content_when_opted_in(
    client: Any, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    client.converse(modelId=MODEL, messages=MESSAGES, system=SYSTEM)

    a = attrs(only_span(span_exporter))
    assert json.loads(a["gen_ai.input.messages"]) == [
        {
            "role": "user",
            "parts": [{"type": "text", "content": "What is in this picture?"}, {"type": "blob", "modality": "image"}],
        },
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "t1", "name": "lookup", "arguments": {"q": "cat"}}],
        },
        {
            "role": "user",
            "parts": [{"type": "tool_call_response", "id": "t1", "response": [{"type": "text", "content": "a cat"}]}],
        },
    ]
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Answer briefly."}]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "This is a test."}], "finish_reason": "end_turn"}
    ]


def test_streamed_reply_when_opted_in(
    client: Any, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    stub.enqueue(path(MODEL, "converse-stream"), text="one two three")
    list(client.converse_stream(modelId=MODEL, messages=MESSAGES[:1])["stream"])

    a = attrs(only_span(span_exporter))
    assert json.loads(a["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "one two three"}], "finish_reason": "end_turn"}
    ]
