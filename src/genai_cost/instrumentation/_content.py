"""The one JSON spelling of captured prompts and completions, for every instrumentation."""

from __future__ import annotations

import json
from typing import Any


def to_json(value: Any) -> str:
    """Compact JSON, text kept as written (no ``\\u`` escapes); what JSON cannot hold becomes its str()."""
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _arguments(raw: Any) -> Any:
    """Tool-call arguments as the model wrote them: JSON text decoded, anything else kept."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def function_tool_calls(tool_calls: Any, get: Any) -> list[dict[str, Any]]:
    """Semconv ``tool_call`` parts from OpenAI-shaped tool calls (``id``, ``function.name`` and
    ``function.arguments``), as the openai-compatible SDKs (Mistral, Groq, Together) return them;
    ``get`` reads a field of an SDK object or dict (``_read.get``)."""
    parts = []
    for call in tool_calls or ():
        function = get(call, "function")
        parts.append(
            {
                "type": "tool_call",
                "id": get(call, "id"),
                "name": get(function, "name"),
                "arguments": _arguments(get(function, "arguments")),
            }
        )
    return parts
