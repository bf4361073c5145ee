"""Converse prompts and replies as semconv JSON (``gen_ai.input.messages``,
``gen_ai.output.messages``, ``gen_ai.system_instructions``), built only when the user opted in to
content capture. InvokeModel bodies are each model family's own format and are not recorded.

Converse content blocks are one-key dicts: ``{"text": ...}``, ``{"toolUse": {...}}``,
``{"toolResult": {...}}``, ``{"reasoningContent": {...}}``, ``{"image": {...}}`` ... Binary payloads
(images, documents, video) are recorded by kind only: a span is no place for their bytes.
"""

from __future__ import annotations

from typing import Any

from genai_cost import attributes as attr
from genai_cost.instrumentation._content import to_json

_BLOBS = {"image": "image", "document": "document", "video": "video", "audio": "audio"}


def _part(block: Any) -> dict[str, Any] | None:
    if not isinstance(block, dict):
        return None
    if isinstance(block.get("text"), str):
        return {"type": "text", "content": block["text"]}
    tool_use = block.get("toolUse")
    if isinstance(tool_use, dict):
        return {
            "type": "tool_call",
            "id": tool_use.get("toolUseId"),
            "name": tool_use.get("name"),
            "arguments": tool_use.get("input"),
        }
    tool_result = block.get("toolResult")
    if isinstance(tool_result, dict):
        response = [p for p in map(_part, tool_result.get("content") or ()) if p]
        return {"type": "tool_call_response", "id": tool_result.get("toolUseId"), "response": response}
    reasoning = block.get("reasoningContent")
    if isinstance(reasoning, dict):
        text = (reasoning.get("reasoningText") or {}).get("text")
        return {"type": "reasoning", "content": text} if isinstance(text, str) else None
    for key, modality in _BLOBS.items():
        if key in block:
            return {"type": "blob", "modality": modality}
    return None  # cachePoint, guardContent: no content of their own


def _message(message: Any, finish_reason: str | None = None) -> dict[str, Any] | None:
    if not isinstance(message, dict):
        return None
    out: dict[str, Any] = {
        "role": message.get("role"),
        "parts": [p for p in map(_part, message.get("content") or ()) if p],
    }
    if finish_reason is not None:
        out["finish_reason"] = finish_reason
    return out


def input_attributes(kwargs: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    messages = [m for m in map(_message, kwargs.get("messages") or ()) if m]
    if messages:
        out[attr.INPUT_MESSAGES] = to_json(messages)
    system = [p for p in map(_part, kwargs.get("system") or ()) if p]
    if system:
        out[attr.SYSTEM_INSTRUCTIONS] = to_json(system)
    return out


def output_attributes(message: Any, finish_reason: str | None) -> dict[str, Any]:
    reply = _message(message, finish_reason)
    return {attr.OUTPUT_MESSAGES: to_json([reply])} if reply else {}


def streamed_output_attributes(texts: list[str], finish_reason: str | None) -> dict[str, Any]:
    message = {"role": "assistant", "content": [{"text": "".join(texts)}]}
    return output_attributes(message, finish_reason)
