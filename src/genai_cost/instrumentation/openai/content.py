"""Prompts and completions as semconv JSON (``gen_ai.input.messages`` / ``gen_ai.output.messages``
/ ``gen_ai.system_instructions``), built only when the user opted in to content capture.

Messages come in as the caller wrote them (dicts) or as SDK objects (a Responses ``output`` item
passed back as input), so every read goes through ``_get``. Binary payloads (images, audio, files)
are recorded by reference or kind only: a span is no place for megabytes of base64.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from genai_cost.instrumentation._content import to_json


def _get(obj: Any, key: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _text(content: str) -> dict[str, Any]:
    return {"type": "text", "content": content}


def _part(item: Any) -> dict[str, Any] | None:
    """One content part of a chat message or a Responses input/output message."""
    if isinstance(item, str):
        return _text(item)
    kind = _get(item, "type")
    if kind in ("text", "input_text", "output_text"):
        text = _get(item, "text")
        return _text(text) if isinstance(text, str) else None
    if kind == "refusal":
        refusal = _get(item, "refusal")
        return _text(refusal) if isinstance(refusal, str) else None
    if kind == "image_url":
        url = _get(_get(item, "image_url"), "url")
        if isinstance(url, str) and not url.startswith("data:"):
            return {"type": "uri", "modality": "image", "uri": url}
        return {"type": "blob", "modality": "image"}
    if kind == "input_image":
        url = _get(item, "image_url")
        if isinstance(url, str) and not url.startswith("data:"):
            return {"type": "uri", "modality": "image", "uri": url}
        file_id = _get(item, "file_id")
        return (
            {"type": "file", "modality": "image", "file_id": file_id}
            if file_id
            else {"type": "blob", "modality": "image"}
        )
    if kind in ("input_audio",):
        return {"type": "blob", "modality": "audio"}
    if kind in ("file", "input_file"):
        file_id = _get(item, "file_id") or _get(_get(item, "file"), "file_id")
        return {"type": "file", "file_id": file_id} if file_id else {"type": "blob"}
    return {"type": str(kind)} if kind else None


def _parts(content: Any) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [_text(content)]
    if isinstance(content, Iterable) and not isinstance(content, bytes | Mapping):
        return [p for p in map(_part, content) if p is not None]
    part = _part(content)
    return [part] if part else []


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    parts = []
    for call in calls or ():
        function = _get(call, "function")
        parts.append(
            {
                "type": "tool_call",
                "id": _get(call, "id"),
                "name": _get(function, "name"),
                "arguments": _arguments(_get(function, "arguments")),
            }
        )
    return parts


# --- chat completions ------------------------------------------------------------------------


def chat_input(messages: Any) -> list[dict[str, Any]]:
    out = []
    for message in messages or ():
        role = _get(message, "role")
        if role == "tool":
            parts = [
                {
                    "type": "tool_call_response",
                    "id": _get(message, "tool_call_id"),
                    "response": _get(message, "content"),
                }
            ]
        else:
            parts = _parts(_get(message, "content")) + _tool_calls(_get(message, "tool_calls"))
        out.append({"role": role, "parts": parts})
    return out


def chat_output(choices: Any) -> list[dict[str, Any]]:
    out = []
    for choice in choices or ():
        message = _get(choice, "message")
        parts = _parts(_get(message, "content"))
        refusal = _get(message, "refusal")
        if isinstance(refusal, str):
            parts.append(_text(refusal))
        parts += _tool_calls(_get(message, "tool_calls"))
        out.append(
            {
                "role": _get(message, "role") or "assistant",
                "parts": parts,
                "finish_reason": _get(choice, "finish_reason"),
            }
        )
    return out


def streamed_output(
    texts: Mapping[int, list[str]], tools: Mapping[int, dict[int, dict[str, Any]]], finish: Mapping[int, str]
) -> list[dict[str, Any]]:
    """Output messages accumulated from stream deltas, per choice index."""
    out = []
    for index in sorted(set(texts) | set(tools) | set(finish)):
        parts: list[dict[str, Any]] = []
        if text := "".join(texts.get(index, ())):
            parts.append(_text(text))
        for _, call in sorted(tools.get(index, {}).items()):
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": call.get("name"),
                    "arguments": _arguments("".join(call.get("arguments", ()))),
                }
            )
        out.append({"role": "assistant", "parts": parts, "finish_reason": finish.get(index)})
    return out


# --- legacy completions ----------------------------------------------------------------------


def completion_input(prompt: Any) -> list[dict[str, Any]]:
    prompts = [prompt] if isinstance(prompt, str) else prompt if isinstance(prompt, list) else []
    return [{"role": "user", "parts": [_text(p)]} for p in prompts if isinstance(p, str)]


def completion_output(choices: Any) -> list[dict[str, Any]]:
    return [
        {"role": "assistant", "parts": [_text(_get(c, "text") or "")], "finish_reason": _get(c, "finish_reason")}
        for c in choices or ()
    ]


def streamed_completion_output(texts: Mapping[int, list[str]], finish: Mapping[int, str]) -> list[dict[str, Any]]:
    return [
        {"role": "assistant", "parts": [_text("".join(texts.get(i, ())))], "finish_reason": finish.get(i)}
        for i in sorted(set(texts) | set(finish))
    ]


# --- responses -------------------------------------------------------------------------------


def responses_input(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        return [{"role": "user", "parts": [_text(value)]}]
    out = []
    for item in value or ():
        kind = _get(item, "type")
        if kind == "function_call_output":
            out.append(
                {
                    "role": "tool",
                    "parts": [
                        {"type": "tool_call_response", "id": _get(item, "call_id"), "response": _get(item, "output")}
                    ],
                }
            )
        elif kind == "function_call":
            out.append({"role": "assistant", "parts": [_function_call(item)]})
        elif kind in (None, "message"):
            out.append({"role": _get(item, "role"), "parts": _parts(_get(item, "content"))})
        else:
            out.append({"role": "assistant", "parts": [{"type": str(kind)}]})
    return out


def _function_call(item: Any) -> dict[str, Any]:
    return {
        "type": "tool_call",
        "id": _get(item, "call_id"),
        "name": _get(item, "name"),
        "arguments": _arguments(_get(item, "arguments")),
    }


def responses_output(output: Any, finish_reason: str | None) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in output or ():
        kind = _get(item, "type")
        if kind == "message":
            parts += _parts(_get(item, "content"))
        elif kind == "function_call":
            parts.append(_function_call(item))
        elif kind == "reasoning":
            summary = " ".join(t for s in _get(item, "summary") or () if isinstance(t := _get(s, "text"), str))
            parts.append({"type": "reasoning", "content": summary})
        elif kind:
            parts.append({"type": str(kind)})
    return [{"role": "assistant", "parts": parts, "finish_reason": finish_reason}] if parts else []


def system_instructions(instructions: Any) -> str | None:
    return to_json([_text(instructions)]) if isinstance(instructions, str) and instructions else None
