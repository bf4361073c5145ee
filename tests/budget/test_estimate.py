"""The pre-call estimate: input counted offline and conservatively, output at max_tokens."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from genai_cost.budget.estimate import IMAGE_TOKENS, MESSAGE_OVERHEAD_TOKENS, count_input_tokens, estimate_cost
from genai_cost.instrumentation.openai.request import budget_input_tokens


def test_text_is_one_token_per_three_utf8_bytes_rounded_up() -> None:
    assert count_input_tokens("abcdefg") == 3
    assert count_input_tokens("") == 0
    # CJK: three bytes a character, so about a token a character (what BPE gives it).
    assert count_input_tokens("日本語のテキスト") == 8


def test_english_is_overstated_not_understated() -> None:
    text = "The quick brown fox jumps over the lazy dog. " * 20  # ~200 tokens with o200k_base
    assert count_input_tokens(text) >= 200


def test_messages_count_text_plus_framing_and_images_a_fixed_size() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "what is in this picture?"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 300_000}},
            ],
        },
    ]
    counted = count_input_tokens(messages)
    text = count_input_tokens("user") + count_input_tokens("text") + count_input_tokens("what is in this picture?")
    assert counted == text + IMAGE_TOKENS + 2 * MESSAGE_OVERHEAD_TOKENS  # not 100k tokens of base64


def test_sdk_model_objects_count_like_their_dump() -> None:
    class Message(BaseModel):
        role: str
        content: str

    assert count_input_tokens([Message(role="user", content="hello there")]) == count_input_tokens(
        [{"role": "user", "content": "hello there"}]
    )


def test_an_openai_request_counts_everything_the_model_reads() -> None:
    kwargs = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": "hi"}],
        "tools": [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}],
        "temperature": 0.2,
    }
    assert budget_input_tokens(kwargs) == count_input_tokens(kwargs["messages"]) + count_input_tokens(kwargs["tools"])


def test_the_estimate_prices_input_and_output() -> None:
    assert estimate_cost("gpt-4o", 1000, 100, provider_name="openai") == pytest.approx(1000 * 2.5e-6 + 100 * 10e-6)
    assert estimate_cost("no-such-model-anywhere", 1000, 100) is None
    assert estimate_cost(None, 1000, 100) is None
