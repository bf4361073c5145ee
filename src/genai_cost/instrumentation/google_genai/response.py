"""What a google-genai response says: its usage as a ``TokenUsage``, and a ``CallResult``.

Gemini's ``usageMetadata`` counts differently from the semantic conventions, so this is where
the arithmetic happens (the same as genai-prices' own Google usage extractor):

* ``promptTokenCount`` includes ``cachedContentTokenCount`` (cache reads); the tokens of
  tool results fed back to the model (``toolUsePromptTokenCount``) are reported *beside* it and
  billed as input, so input = prompt + tool-use prompt;
* ``candidatesTokenCount`` excludes ``thoughtsTokenCount``, which is billed as output, so
  output = candidates + thoughts, and reasoning = thoughts;
* the ``*TokensDetails`` lists give per-modality counts; those with their own rates (audio,
  image, video; documents bill as images) go into the modality fields.
"""

from __future__ import annotations

import json
import re
from typing import Any

from genai_cost import attributes as attr
from genai_cost.attributes import Status
from genai_cost.instrumentation._read import get
from genai_cost.instrumentation.google_genai import content
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.usage import InvalidUsage, TokenUsage

# Vertex AI provisioned throughput is paid for by subscription, not per token.
_PROVISIONED = (
    Status.ESTIMATED,
    "Vertex AI provisioned throughput: billed by subscription, priced here at on-demand rates",
)


def _count(value: Any) -> int:
    if value is None:
        return 0
    if type(value) is float and value.is_integer():  # Vertex's embedding statistics are floats
        return int(value)
    return value  # type: ignore[no-any-return]  # anything else is TokenUsage's to reject


def _by_modality(details: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in details or ():
        modality = get(item, "modality")
        name = str(getattr(modality, "value", modality) or "").upper()
        if name == "DOCUMENT":
            name = "IMAGE"
        counts[name] = counts.get(name, 0) + _count(get(item, "token_count"))
    return counts


def content_usage(metadata: Any) -> TokenUsage | None:
    """``GenerateContentResponseUsageMetadata`` (or an embedding's ``UsageMetadata``) -> TokenUsage."""
    if metadata is None:
        return None
    prompt = get(metadata, "prompt_token_count")
    candidates = get(metadata, "candidates_token_count")
    if prompt is None and candidates is None:
        return None
    thoughts = _count(get(metadata, "thoughts_token_count"))
    prompt_modalities = _by_modality(get(metadata, "prompt_tokens_details"))
    tool_modalities = _by_modality(get(metadata, "tool_use_prompt_tokens_details"))
    output_modalities = _by_modality(get(metadata, "candidates_tokens_details"))
    cache_modalities = _by_modality(get(metadata, "cache_tokens_details"))

    def given_in(modality: str) -> int:
        return prompt_modalities.get(modality, 0) + tool_modalities.get(modality, 0)

    return TokenUsage(
        input_tokens=_count(prompt) + _count(get(metadata, "tool_use_prompt_token_count")),
        output_tokens=_count(candidates) + thoughts,
        cache_read_tokens=_count(get(metadata, "cached_content_token_count")),
        reasoning_tokens=thoughts,
        input_audio_tokens=given_in("AUDIO"),
        input_image_tokens=given_in("IMAGE"),
        input_video_tokens=given_in("VIDEO"),
        output_audio_tokens=output_modalities.get("AUDIO", 0),
        output_image_tokens=output_modalities.get("IMAGE", 0),
        output_video_tokens=output_modalities.get("VIDEO", 0),
        cache_audio_read_tokens=cache_modalities.get("AUDIO", 0),
    )


def _name(value: Any) -> str | None:
    """An SDK enum (or the string an unknown value stays as) in semconv's lower case."""
    value = getattr(value, "value", value)
    return value.lower() if isinstance(value, str) and value else None


def _usage_result(result: CallResult, read: Any) -> None:
    try:
        result.usage = read()
    except InvalidUsage as exc:
        result.status = (Status.INVALID_USAGE, str(exc))


def _index(candidate: Any, position: int) -> int:
    index = get(candidate, "index")
    return index if isinstance(index, int) else position


def _finish_reasons(candidates: Any) -> dict[int, str]:
    reasons = {}
    for position, candidate in enumerate(candidates or ()):
        if reason := _name(get(candidate, "finish_reason")):
            reasons[_index(candidate, position)] = reason
    return reasons


def generate_result(
    response: Any, capture: bool = False, streamed: tuple[dict[int, str], list[Any]] | None = None
) -> CallResult:
    """A ``GenerateContentResponse`` -> CallResult. For a stream, ``response`` is the last chunk
    with usage and ``streamed`` the finish reasons and candidates gathered from every chunk."""
    if get(response, "usage_metadata") is None and get(response, "candidates") is None:
        response = _raw_document(response) or response
    result = CallResult(response_model=get(response, "model_version"), response_id=get(response, "response_id"))
    reasons, candidates = streamed if streamed is not None else (_finish_reasons(get(response, "candidates")), None)
    result.finish_reasons = tuple(reasons[i] for i in sorted(reasons))
    metadata = get(response, "usage_metadata")
    _usage_result(result, lambda: content_usage(metadata))
    if result.status is None and "provisioned" in (_name(get(metadata, "traffic_type")) or ""):
        result.status = _PROVISIONED
    if capture:
        output = candidates if candidates is not None else get(response, "candidates")
        result.attributes[attr.OUTPUT_MESSAGES] = content.to_json(content.output_messages(output, reasons))
    return result


def _raw_document(response: Any) -> dict[str, Any] | None:
    """With ``config.should_return_http_response`` the caller gets only the HTTP response: its
    JSON body, in snake_case, reads like the parsed response would."""
    body = get(get(response, "sdk_http_response"), "body")
    if not isinstance(body, str) or not body:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    return _snake_keys(document) if isinstance(document, dict) else None


_CAMEL_HUMP = re.compile(r"(?<!^)(?=[A-Z])")


def _snake_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_CAMEL_HUMP.sub("_", k).lower(): _snake_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snake_keys(v) for v in value]
    return value


def _embedding_usage(response: Any) -> TokenUsage | None:
    usage = content_usage(get(response, "usage_metadata"))
    if usage is not None:
        return usage
    # Vertex's predict endpoint (text-embedding-00x) counts tokens per embedding.
    statistics = [get(e, "statistics") for e in get(response, "embeddings") or ()]
    counts = [get(s, "token_count") for s in statistics if s is not None]
    if not counts or any(c is None for c in counts):
        return None
    return TokenUsage(input_tokens=sum(_count(c) for c in counts))


def embed_result(response: Any) -> CallResult:
    result = CallResult()
    _usage_result(result, lambda: _embedding_usage(response))
    return result


class GenerateStreamObserver:
    """Follows ``generate_content_stream``: each chunk is a whole response whose usage is the
    total so far, so the last usage seen is the call's (or, cut short, what was billed so far).
    With content capture on, each candidate's parts are gathered (text pieces joined)."""

    __slots__ = ("_capture", "_last", "_usage_chunk", "_finish", "_parts")

    def __init__(self, capture: bool = False) -> None:
        self._capture = capture
        self._last: Any = None
        self._usage_chunk: Any = None
        self._finish: dict[int, str] = {}
        self._parts: dict[int, list[Any]] = {}

    def observe(self, chunk: Any) -> bool:
        self._last = chunk
        if get(chunk, "usage_metadata") is not None:
            self._usage_chunk = chunk
        for position, candidate in enumerate(get(chunk, "candidates") or ()):
            index = _index(candidate, position)
            if reason := _name(get(candidate, "finish_reason")):
                self._finish[index] = reason
            if self._capture:
                self._gather(self._parts.setdefault(index, []), get(get(candidate, "content"), "parts"))
        return True

    @staticmethod
    def _gather(gathered: list[Any], parts: Any) -> None:
        for part in parts or ():
            text = get(part, "text")
            previous = gathered[-1] if gathered else None
            if (
                isinstance(text, str)
                and isinstance(previous, dict)
                and previous.get("thought") == bool(get(part, "thought"))
            ):
                previous["text"] += text
            elif isinstance(text, str):
                gathered.append({"text": text, "thought": bool(get(part, "thought"))})
            else:
                gathered.append(part)

    def result(self) -> CallResult:
        candidates = [{"index": i, "content": {"parts": parts}} for i, parts in sorted(self._parts.items())]
        result = generate_result(self._usage_chunk, self._capture, (self._finish, candidates))
        last = self._last
        if last is not None:
            result.response_model = get(last, "model_version") or result.response_model
            result.response_id = get(last, "response_id") or result.response_id
        return result
