"""The prompt of a fill-in-the-middle or chat request as semconv JSON (``gen_ai.input.messages`` /
``gen_ai.system_instructions``), built only when the user opted in to content capture. Chat
messages are OpenAI-shaped (``_chat_shape``), with Magistral's ``thinking`` chunks among the parts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_cost import attributes as attr
from genai_cost.instrumentation._chat_shape import request_messages
from genai_cost.instrumentation._content import to_json
from genai_cost.instrumentation._read import given


def request_content(kwargs: Mapping[str, Any], attributes: dict[str, Any]) -> None:
    """Chat and agent messages (system messages apart), or a FIM prompt and suffix."""
    messages = given(kwargs.get("messages"))
    if messages is not None:
        request_messages(messages, attributes)
        return
    prompt, suffix = given(kwargs.get("prompt")), given(kwargs.get("suffix"))
    parts = [{"type": "text", "content": text} for text in (prompt, suffix) if isinstance(text, str)]
    attributes[attr.INPUT_MESSAGES] = to_json([{"role": "user", "parts": parts}])
