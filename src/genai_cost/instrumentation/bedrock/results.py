"""Usage and results from Bedrock Runtime responses, whatever the model family's format.

Bedrock reports input tokens *without* cache reads and writes everywhere (Converse's
``inputTokens``, Anthropic's ``input_tokens``, Nova's ``inputTokens``, the invocation metrics'
``inputTokenCount``), so every count goes through ``TokenUsage.from_exclusive_cache``.

InvokeModel bodies are recognised by their keys rather than by the model id, so an opaque
application-inference-profile ARN is read as well as ``anthropic.claude-...``:

* Anthropic messages: ``usage.input_tokens`` / ``cache_read_input_tokens`` /
  ``cache_creation_input_tokens`` / ``output_tokens``; streamed in ``message_start`` (input and
  cache) and ``message_delta`` (cumulative output);
* Meta Llama: ``prompt_token_count``, ``generation_token_count`` (cumulative when streamed);
* Amazon Titan: ``inputTextTokenCount``, ``results[].tokenCount`` / ``totalOutputTextTokenCount``;
* Amazon Nova: ``usage`` (``metadata.usage`` when streamed) with ``inputTokens``,
  ``cacheReadInputTokenCount`` ...;
* OpenAI chat format (Mistral Large 2407+, gpt-oss): ``usage.prompt_tokens`` /
  ``completion_tokens``;
* Mistral (text completion) and Cohere: no counts in the body; the
  ``x-amzn-bedrock-*-token-count`` headers;
* every streamed family: ``amazon-bedrock-invocationMetrics`` in the last chunk, which is final --
  also when a guardrail intervened and that chunk is a text delta with the guardrail's message.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from genai_cost import attributes as attr
from genai_cost.instrumentation.lifecycle import CallResult
from genai_cost.usage import TokenUsage

_INVOCATION_METRICS = "amazon-bedrock-invocationMetrics"
_GUARDRAIL_ACTION = "amazon-bedrock-guardrailAction"

# Response headers (botocore lower-cases them) with the call's counts.
_HEADER_COUNTS = (
    ("x-amzn-bedrock-input-token-count", "input"),
    ("x-amzn-bedrock-output-token-count", "output"),
    ("x-amzn-bedrock-cache-read-input-token-count", "cache_read"),
    ("x-amzn-bedrock-cache-write-input-token-count", "cache_write"),
)


class Tally:
    """Token counts and results gathered from one response or stream, in Bedrock's terms."""

    __slots__ = (
        "input",
        "output",
        "cache_read",
        "cache_write",
        "cache_write_ttl",
        "seen",
        "finish_reasons",
        "response_id",
        "model",
    )

    def __init__(self) -> None:
        self.input = self.output = self.cache_read = self.cache_write = 0
        # (5-minute, 1-hour) shares of cache_write, where the response splits it (priced apart).
        self.cache_write_ttl: tuple[int, int] | None = None
        self.seen = False
        self.finish_reasons: list[str] = []
        self.response_id: str | None = None
        self.model: str | None = None

    def count(self, field: str, value: Any) -> None:
        if type(value) is int:
            setattr(self, field, value)
            self.seen = True

    def finish(self, reason: Any) -> None:
        if reason and isinstance(reason, str) and reason not in self.finish_reasons:
            self.finish_reasons.append(reason)

    def usage(self) -> TokenUsage | None:
        if not self.seen:
            return None
        return _usage(self.input, self.output, self.cache_read, self.cache_write, self.cache_write_ttl)

    def result(self, request_id: str | None = None) -> CallResult:
        attributes: dict[str, Any] = {attr.AWS_REQUEST_ID: request_id} if request_id else {}
        if self.model:
            # Shown, not priced: Anthropic's body names the base model, while the price depends on
            # the inference profile requested (global and regional profiles differ).
            attributes[attr.RESPONSE_MODEL] = self.model
        return CallResult(
            response_id=self.response_id,
            finish_reasons=tuple(self.finish_reasons),
            usage=self.usage(),
            attributes=attributes,
        )


def request_id_of(response: Mapping[str, Any]) -> str | None:
    metadata = response.get("ResponseMetadata")
    return metadata.get("RequestId") if isinstance(metadata, dict) else None


def headers_of(response: Mapping[str, Any]) -> Mapping[str, str]:
    metadata = response.get("ResponseMetadata")
    headers = metadata.get("HTTPHeaders") if isinstance(metadata, dict) else None
    return headers if isinstance(headers, dict) else {}


# --- Converse ------------------------------------------------------------------------------------


# Each convention's names for (uncached input, output, cache read, cache write).
CONVERSE_KEYS = ("inputTokens", "outputTokens", "cacheReadInputTokens", "cacheWriteInputTokens")
_ANTHROPIC_KEYS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
_NOVA_KEYS = ("inputTokens", "outputTokens", "cacheReadInputTokenCount", "cacheWriteInputTokenCount")
# No cache counts in this format on Bedrock (the models that speak it do not cache).
_CHAT_KEYS = ("prompt_tokens", "completion_tokens")
_METRICS_KEYS = ("inputTokenCount", "outputTokenCount", "cacheReadInputTokenCount", "cacheWriteInputTokenCount")
_FIELDS = ("input", "output", "cache_read", "cache_write")


def read_counts(tally: Tally, usage: Any, keys: tuple[str, ...]) -> None:
    """``keys``: the convention's names for (uncached input, output[, cache read, cache write])."""
    if isinstance(usage, dict):
        for field, key in zip(_FIELDS, keys, strict=False):
            tally.count(field, usage.get(key))


def _usage(uncached: int, output: int, cache_read: int, cache_write: int, ttl: tuple[int, int] | None) -> TokenUsage:
    five_minutes, one_hour = ttl if ttl and sum(ttl) <= cache_write else (0, 0)
    return TokenUsage(
        input_tokens=uncached + cache_read + cache_write,
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        cache_write_5m_tokens=five_minutes,
        cache_write_1h_tokens=one_hour,
    )


def cache_write_ttl(details: Any) -> tuple[int, int] | None:
    """Converse's ``cacheDetails``: cache writes by TTL, ``[{"ttl": "1h", "inputTokens": n}, ...]``."""
    if not isinstance(details, list) or not details:
        return None
    five_minutes = one_hour = 0
    for detail in details:
        if isinstance(detail, dict) and type(tokens := detail.get("inputTokens")) is int:
            if detail.get("ttl") == "1h":
                one_hour += tokens
            elif detail.get("ttl") == "5m":
                five_minutes += tokens
    return five_minutes, one_hour


def read_converse_usage(tally: Tally, usage: Any) -> None:
    if isinstance(usage, dict):
        read_counts(tally, usage, CONVERSE_KEYS)
        tally.cache_write_ttl = cache_write_ttl(usage.get("cacheDetails")) or tally.cache_write_ttl


def converse_result(response: Mapping[str, Any]) -> CallResult:
    # Every non-streamed Converse call comes through here: read the counts directly rather than
    # through a Tally (a third of the time).
    usage = response.get("usage")
    token_usage = None
    if isinstance(usage, dict):
        uncached, output = usage.get("inputTokens"), usage.get("outputTokens")
        if type(uncached) is int and type(output) is int:
            cache_read = usage.get("cacheReadInputTokens") or 0
            cache_write = usage.get("cacheWriteInputTokens") or 0
            ttl = cache_write_ttl(usage.get("cacheDetails")) if cache_write else None
            token_usage = _usage(uncached, output, cache_read, cache_write, ttl)
    stop = response.get("stopReason")
    request_id = request_id_of(response)
    return CallResult(
        finish_reasons=(stop,) if isinstance(stop, str) else (),
        usage=token_usage,
        attributes={attr.AWS_REQUEST_ID: request_id} if request_id else {},
    )


# --- InvokeModel bodies and stream chunks -------------------------------------------------------


def read_headers(tally: Tally, headers: Mapping[str, str]) -> None:
    for name, field in _HEADER_COUNTS:
        value = headers.get(name)
        if value is not None and value.isdigit():
            tally.count(field, int(value))


def _read_anthropic_usage(tally: Tally, usage: Any) -> None:
    if isinstance(usage, dict):
        read_counts(tally, usage, _ANTHROPIC_KEYS)
        split = usage.get("cache_creation")
        if isinstance(split, dict):
            five_minutes, one_hour = split.get("ephemeral_5m_input_tokens"), split.get("ephemeral_1h_input_tokens")
            if type(five_minutes) is int and type(one_hour) is int:
                tally.cache_write_ttl = (five_minutes, one_hour)


def _read_anthropic_message(tally: Tally, message: dict[str, Any]) -> None:
    tally.response_id = message.get("id") or tally.response_id
    tally.model = message.get("model") or tally.model
    _read_anthropic_usage(tally, message.get("usage"))
    tally.finish(message.get("stop_reason"))


def read_document(tally: Tally, doc: Any) -> None:
    """Read one InvokeModel body or one streamed chunk, of any family, into ``tally``."""
    if not isinstance(doc, dict):
        return
    kind = doc.get("type")
    if kind is not None:  # Anthropic messages
        if kind == "message":
            _read_anthropic_message(tally, doc)
        elif kind == "message_start" and isinstance(doc.get("message"), dict):
            _read_anthropic_message(tally, doc["message"])
        elif kind == "message_delta":
            _read_anthropic_usage(tally, doc.get("usage"))
            delta = doc.get("delta")
            if isinstance(delta, dict):
                tally.finish(delta.get("stop_reason"))
    elif "generation_token_count" in doc or "prompt_token_count" in doc:  # Meta Llama
        tally.count("input", doc.get("prompt_token_count"))
        tally.count("output", doc.get("generation_token_count"))
        tally.finish(doc.get("stop_reason"))
    elif "inputTextTokenCount" in doc or "totalOutputTextTokenCount" in doc or "results" in doc:  # Titan
        tally.count("input", doc.get("inputTextTokenCount"))
        tally.count("output", doc.get("totalOutputTextTokenCount"))
        results = doc.get("results")
        if isinstance(results, list) and results:
            tally.count("output", sum(r.get("tokenCount") or 0 for r in results if isinstance(r, dict)))
            for item in results:
                if isinstance(item, dict):
                    tally.finish(item.get("completionReason"))
        tally.finish(doc.get("completionReason"))
    elif "choices" in doc:  # OpenAI chat format: Mistral Large 2407+, gpt-oss, DeepSeek
        read_counts(tally, doc.get("usage"), _CHAT_KEYS)
        for item in doc["choices"] if isinstance(doc["choices"], list) else ():
            if isinstance(item, dict):
                tally.finish(item.get("finish_reason") or item.get("stop_reason"))
    elif "usage" in doc or "metadata" in doc or "stopReason" in doc or "messageStop" in doc:  # Nova
        read_counts(tally, doc.get("usage"), _NOVA_KEYS)
        metadata = doc.get("metadata")
        if isinstance(metadata, dict):
            read_counts(tally, metadata.get("usage"), _NOVA_KEYS)
        tally.finish(doc.get("stopReason"))
        stop = doc.get("messageStop")
        if isinstance(stop, dict):
            tally.finish(stop.get("stopReason"))
    elif "outputs" in doc:  # Mistral (text completion)
        for item in doc["outputs"] if isinstance(doc["outputs"], list) else ():
            if isinstance(item, dict):
                tally.finish(item.get("stop_reason"))
    else:  # Cohere
        tally.finish(doc.get("finish_reason"))
        generations = doc.get("generations")
        for item in generations if isinstance(generations, list) else ():
            if isinstance(item, dict):
                tally.finish(item.get("finish_reason"))
    if doc.get(_GUARDRAIL_ACTION) == "INTERVENED":  # as Converse reports it (stopReason)
        tally.finish("guardrail_intervened")
    metrics = doc.get(_INVOCATION_METRICS)
    # Bedrock's own final counts, after the model's, so they win.
    read_counts(tally, metrics, _METRICS_KEYS)
