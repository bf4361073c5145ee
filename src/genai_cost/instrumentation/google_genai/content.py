"""Prompts and completions as semconv JSON (``gen_ai.input.messages``, ``gen_ai.output.messages``,
``gen_ai.system_instructions``), built only when the user opted in to content capture.

google-genai takes ``contents`` in many shapes: a string, a ``Content`` (or its dict), a ``Part``,
or a list mixing them, where consecutive bare parts make one user turn (as the SDK's own
``t_contents`` groups them). Binary parts are recorded by kind and MIME type only, never their
bytes; files by URI.
"""

from __future__ import annotations

from typing import Any

from genai_cost.instrumentation._content import to_json
from genai_cost.instrumentation._read import get

__all__ = ["input_messages", "output_messages", "system_instructions", "to_json"]

_ROLES = {"user": "user", "model": "assistant", "function": "tool", "tool": "tool"}


def _field(part: Any, snake: str, camel: str) -> Any:
    value = get(part, snake)
    return get(part, camel) if value is None and isinstance(part, dict) else value


def _modality(mime_type: Any) -> str | None:
    return mime_type.split("/", 1)[0] if isinstance(mime_type, str) and "/" in mime_type else None


def _part(part: Any) -> dict[str, Any] | None:
    described = _describe(part)
    return {k: v for k, v in described.items() if v is not None} if described is not None else None


def _describe(part: Any) -> dict[str, Any] | None:
    if isinstance(part, str):
        return {"type": "text", "content": part}
    text = get(part, "text")
    if isinstance(text, str):
        return {"type": "reasoning" if get(part, "thought") else "text", "content": text}
    if (call := _field(part, "function_call", "functionCall")) is not None:
        return {"type": "tool_call", "id": get(call, "id"), "name": get(call, "name"), "arguments": get(call, "args")}
    if (reply := _field(part, "function_response", "functionResponse")) is not None:
        return {"type": "tool_call_response", "id": get(reply, "id"), "response": get(reply, "response")}
    if (blob := _field(part, "inline_data", "inlineData")) is not None:
        mime_type = _field(blob, "mime_type", "mimeType")
        return {"type": "blob", "modality": _modality(mime_type), "mime_type": mime_type}
    if (file := _field(part, "file_data", "fileData")) is not None:
        mime_type = _field(file, "mime_type", "mimeType")
        return {
            "type": "uri",
            "modality": _modality(mime_type),
            "mime_type": mime_type,
            "uri": _field(file, "file_uri", "fileUri"),
        }
    return None


def _parts(parts: Any) -> list[dict[str, Any]]:
    return [p for p in map(_part, parts or ()) if p is not None]


def _is_content(item: Any) -> bool:
    return get(item, "parts") is not None or get(item, "role") is not None


def input_messages(contents: Any) -> list[dict[str, Any]]:
    items = contents if isinstance(contents, list | tuple) else [contents]
    messages: list[dict[str, Any]] = []
    loose: list[Any] = []  # bare parts waiting to become one user turn

    def flush() -> None:
        if loose:
            messages.append({"role": "user", "parts": _parts(loose)})
            loose.clear()

    for item in items:
        if item is None:
            continue
        if _is_content(item):
            flush()
            role = get(item, "role")
            messages.append(
                {
                    "role": _ROLES.get(role, "user") if isinstance(role, str) else "user",
                    "parts": _parts(get(item, "parts")),
                }
            )
        else:
            loose.append(item)
    flush()
    return messages


def system_instructions(instruction: Any) -> list[dict[str, Any]]:
    if instruction is None:
        return []
    if _is_content(instruction):
        return _parts(get(instruction, "parts"))
    return _parts(instruction if isinstance(instruction, list | tuple) else [instruction])


def output_messages(candidates: Any, finish_reasons: dict[int, str]) -> list[dict[str, Any]]:
    out = []
    for position, candidate in enumerate(candidates or ()):
        index = get(candidate, "index")
        index = index if isinstance(index, int) else position
        parts = _parts(get(get(candidate, "content"), "parts"))
        out.append({"role": "assistant", "parts": parts, "finish_reason": finish_reasons.get(index)})
    return out
