"""Reading OpenAI-shaped chat completions, whole and streamed, for the SDKs that copy that shape
(mistralai, groq, together): ``id``, ``model``, ``usage`` and ``choices`` of ``{index, message |
delta, finish_reason}``, tool calls as ``{id, function: {name, arguments}}``.

A provider module still reads its own usage (where it sits and what it counts differ: Groq's
``x_groq``, Together's per-chunk usage) and builds its own ``CallResult``; what is shared is walking
the choices and, when content capture is on, assembling what each choice said.
"""

from __future__ import annotations

from typing import Any

from genai_cost import attributes as attr
from genai_cost.instrumentation._content import function_tool_calls, to_json
from genai_cost.instrumentation._read import fields, get

# (role, semconv parts, finish reason) of one choice, for gen_ai.output.messages.
Choice = tuple[str, list[dict[str, Any]], "str | None"]


def _text_parts(content: Any) -> list[dict[str, Any]]:
    return [{"type": "text", "content": content}] if isinstance(content, str) and content else []


def content_parts(value: Any) -> list[dict[str, Any]]:
    """Message content as semconv parts: a string, or a list of ``text`` / ``image_url`` parts (and
    Mistral's ``thinking``). Images by URL only: a span is no place for base64."""
    if not isinstance(value, list | tuple):
        return _text_parts(value)
    parts: list[dict[str, Any]] = []
    for chunk in value:
        kind = get(chunk, "type")
        if kind == "text":
            parts.append({"type": "text", "content": get(chunk, "text")})
        elif kind == "thinking":
            thought = "".join(str(p.get("content") or "") for p in content_parts(get(chunk, "thinking")))
            parts.append({"type": "reasoning", "content": thought})
        elif kind == "image_url":
            url = get(chunk, "image_url")
            url = url if isinstance(url, str) else get(url, "url")
            if isinstance(url, str) and not url.startswith("data:"):
                parts.append({"type": "uri", "modality": "image", "uri": url})
            else:
                parts.append({"type": "blob", "modality": "image"})
    return parts


def message_parts(message: Any) -> list[dict[str, Any]]:
    """A message's content and tool calls as semconv parts."""
    return content_parts(get(message, "content")) + function_tool_calls(get(message, "tool_calls"), get)


def request_messages(messages: Any, attributes: dict[str, Any]) -> None:
    """``gen_ai.input.messages`` and ``gen_ai.system_instructions`` (system messages) from a
    request's messages, as the caller wrote them (dicts) or as SDK objects."""
    system: list[dict[str, Any]] = []
    others: list[dict[str, Any]] = []
    for message in messages if isinstance(messages, list | tuple) else ():
        role = get(message, "role")
        if role == "system":
            system += content_parts(get(message, "content"))
        elif role == "tool":
            response = {
                "type": "tool_call_response",
                "id": get(message, "tool_call_id"),
                "response": get(message, "content"),
            }
            others.append({"role": role, "parts": [response]})
        else:
            others.append({"role": role or "user", "parts": message_parts(message)})
    attributes[attr.INPUT_MESSAGES] = to_json(others)
    if system:
        attributes[attr.SYSTEM_INSTRUCTIONS] = to_json(system)


def read_choices(response: Any, capture: bool) -> tuple[tuple[str, ...], list[Choice] | None]:
    """A whole response's finish reasons, and its choices when content capture is on."""
    finishes: list[str] = []
    choices: list[Choice] | None = [] if capture else None
    for choice in get(response, "choices") or ():
        finish = get(choice, "finish_reason")
        finish = finish if isinstance(finish, str) and finish else None
        if finish:
            finishes.append(finish)
        if choices is not None:
            message = get(choice, "message")
            choices.append((get(message, "role") or "assistant", message_parts(message), finish))
    return tuple(finishes), choices


def output_messages(choices: list[Choice]) -> str:
    """``gen_ai.output.messages`` from the choices."""
    return to_json([{"role": role, "parts": parts, "finish_reason": finish or ""} for role, parts, finish in choices])


class _Assembled:
    """One choice's text and tool calls, from its deltas (only with content capture on)."""

    __slots__ = ("text", "calls")

    def __init__(self) -> None:
        self.text: list[str] = []
        # Tool-call deltas by their index: OpenAI-style servers split the arguments across chunks.
        self.calls: dict[int, dict[str, Any]] = {}

    def add(self, delta: Any) -> None:
        piece = get(delta, "content")
        if isinstance(piece, str):
            self.text.append(piece)
        for position, call in enumerate(get(delta, "tool_calls") or ()):
            index = get(call, "index")
            index = index if isinstance(index, int) else position
            merged = self.calls.setdefault(index, {"id": None, "function": {"name": None, "arguments": ""}})
            merged["id"] = get(call, "id") or merged["id"]
            function = get(call, "function")
            merged["function"]["name"] = get(function, "name") or merged["function"]["name"]
            arguments = get(function, "arguments")
            if isinstance(arguments, str):
                merged["function"]["arguments"] += arguments

    def parts(self) -> list[dict[str, Any]]:
        calls = [self.calls[i] for i in sorted(self.calls)]
        return _text_parts("".join(self.text)) + function_tool_calls(calls, get)


class ChunkReader:
    """What a stream of OpenAI-shaped chunks said so far: id, model, finish reasons, the last usage
    seen on a chunk, and (content capture on) each choice's text and tool calls."""

    __slots__ = ("response_id", "model", "usage", "_finishes", "_choices")

    def __init__(self, capture: bool) -> None:
        self.response_id: Any = None
        self.model: Any = None
        self.usage: Any = None
        self._finishes: dict[int, str] = {}
        self._choices: dict[int, _Assembled] | None = {} if capture else None

    def read(self, chunk: Any) -> None:
        # Runs on every chunk of every stream: several keys of one chunk, read in one step each
        # (``fields``: a pydantic chunk's own field dict with its extras -- usage is an undeclared
        # extra in some SDKs -- or the dict itself).
        read = fields(chunk)
        if self.response_id is None:
            self.response_id = read.get("id")
            self.model = read.get("model")
        usage = read.get("usage")
        if usage is not None:
            self.usage = usage
        for choice in read.get("choices") or ():
            index = get(choice, "index")
            index = index if isinstance(index, int) else 0
            finish = get(choice, "finish_reason")
            if isinstance(finish, str) and finish:
                self._finishes[index] = finish
            if self._choices is not None:
                assembled = self._choices.get(index)
                if assembled is None:
                    assembled = self._choices[index] = _Assembled()
                assembled.add(get(choice, "delta"))

    @property
    def finish_reasons(self) -> tuple[str, ...]:
        return tuple(self._finishes[i] for i in sorted(self._finishes))

    def choices(self) -> list[Choice] | None:
        if self._choices is None:
            return None
        return [("assistant", c.parts(), self._finishes.get(i)) for i, c in sorted(self._choices.items())]
