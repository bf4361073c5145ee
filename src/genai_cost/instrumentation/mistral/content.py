"""Prompts and completions as semconv JSON (``gen_ai.input.messages`` / ``gen_ai.output.messages``
/ ``gen_ai.system_instructions``), built only when the user opted in to content capture.

Messages come as the caller wrote them (dicts) or as mistralai model objects; content is a string or
a list of chunks (``text``, ``thinking`` for Magistral, ``image_url``). Images are recorded by
reference, never as base64.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_cost import attributes as attr
from genai_cost.instrumentation._content import function_tool_calls, to_json
from genai_cost.instrumentation._read import get, given


def _parts(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"type": "text", "content": value}] if value else []
    parts: list[dict[str, Any]] = []
    for chunk in value if isinstance(value, list | tuple) else ():
        kind = get(chunk, "type")
        if kind == "text":
            parts.append({"type": "text", "content": get(chunk, "text")})
        elif kind == "thinking":
            thought = "".join(str(p.get("content") or "") for p in _parts(get(chunk, "thinking")))
            parts.append({"type": "reasoning", "content": thought})
        elif kind == "image_url":
            url = get(chunk, "image_url")
            url = get(url, "url") if not isinstance(url, str) else url
            if isinstance(url, str) and not url.startswith("data:"):
                parts.append({"type": "uri", "modality": "image", "uri": url})
            else:
                parts.append({"type": "blob", "modality": "image"})
    return parts


def tool_call_parts(tool_calls: Any) -> list[dict[str, Any]]:
    return function_tool_calls(tool_calls, get)


def _message(message: Any) -> dict[str, Any]:
    role = get(message, "role")
    parts = _parts(get(message, "content"))
    parts += tool_call_parts(get(message, "tool_calls"))
    if role == "tool":
        parts = [
            {"type": "tool_call_response", "id": get(message, "tool_call_id"), "response": get(message, "content")}
        ]
    return {"role": role or "user", "parts": parts}


def request_content(operation: str, kwargs: Mapping[str, Any], attributes: dict[str, Any]) -> None:
    """The request's prompt: chat and agent messages (system messages apart), or a FIM prompt/suffix."""
    messages = given(kwargs.get("messages"))
    if messages is None:
        prompt, suffix = given(kwargs.get("prompt")), given(kwargs.get("suffix"))
        parts = [{"type": "text", "content": text} for text in (prompt, suffix) if isinstance(text, str)]
        attributes[attr.INPUT_MESSAGES] = to_json([{"role": "user", "parts": parts}])
        return
    system: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for message in messages if isinstance(messages, list | tuple) else ():
        if get(message, "role") == "system":
            system += _parts(get(message, "content"))
        else:
            others.append(_message(message))
    attributes[attr.INPUT_MESSAGES] = to_json(others)
    if system:
        attributes[attr.SYSTEM_INSTRUCTIONS] = to_json(system)


def choice_parts(message: Any) -> list[dict[str, Any]]:
    return _parts(get(message, "content")) + tool_call_parts(get(message, "tool_calls"))
