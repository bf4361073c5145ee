"""Prompts and completions on the span only when OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
opts in, as semconv JSON; binary parts by kind and MIME type, never their bytes."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from gemini_support import PROMPT, attrs, gemini_client, instrumented, only_span
from google.genai import types

from genai_cost.testing import StubProvider

__all__ = ["instrumented"]

IMAGE = b"\x89PNG\r\n\x1a\n-not-really-a-png-"
CAPTURE = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"


@pytest.fixture
def capture(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CAPTURE, "true")


def test_nothing_is_captured_by_default(
    stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CAPTURE, raising=False)
    client = gemini_client(stub)
    config = types.GenerateContentConfig(system_instruction="Be brief.")
    client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT, config=config)
    a = attrs(only_span(span_exporter))
    assert not {"gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.system_instructions"} & set(a)


def test_input_output_and_system_instructions(capture: None, stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    contents: list[Any] = [
        types.Content(role="user", parts=[types.Part.from_text(text="Hi")]),
        {"role": "model", "parts": [{"text": "Hello."}]},
        PROMPT,
        types.Part.from_bytes(data=IMAGE, mime_type="image/png"),
    ]
    config = types.GenerateContentConfig(system_instruction="Be brief.")
    client.models.generate_content(model="gemini-2.0-flash", contents=contents, config=config)
    a = attrs(only_span(span_exporter))
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Hi"}]},
        {"role": "assistant", "parts": [{"type": "text", "content": "Hello."}]},
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": PROMPT},
                {"type": "blob", "modality": "image", "mime_type": "image/png"},
            ],
        },
    ]
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "This is a test."}], "finish_reason": "stop"}
    ]
    everything = " ".join(str(v) for v in a.values())
    assert base64.b64encode(IMAGE).decode()[:12] not in everything


def test_a_function_call_is_a_tool_call_part(capture: None, stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    declaration = {
        "name": "get_weather",
        "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}, "required": ["city"]},
    }
    config = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[declaration])])
    client.models.generate_content(model="gemini-2.0-flash", contents="Weather in Paris?", config=config)
    (message,) = json.loads(attrs(only_span(span_exporter))["gen_ai.output.messages"])
    assert message["parts"] == [{"type": "tool_call", "name": "get_weather", "arguments": {"city": "stub"}}]


async def test_a_stream_gathers_its_text(capture: None, stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    async for _ in await client.aio.models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT):
        pass
    a = attrs(only_span(span_exporter))
    assert json.loads(a["gen_ai.input.messages"]) == [{"role": "user", "parts": [{"type": "text", "content": PROMPT}]}]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "This is a test."}], "finish_reason": "stop"}
    ]
