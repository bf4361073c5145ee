"""The AWS Bedrock Runtime wire format, served by :class:`~genai_cost.testing.StubProvider`.

boto3 pointed at the stub (``endpoint_url=stub.url``, any credentials) signs, sends and parses
exactly as it does against AWS, including the binary ``application/vnd.amazon.eventstream``
framing of the two streaming operations, which :func:`encode_message` writes (botocore's
``EventStreamBuffer`` is the decoder it is checked against).

    client = boto3.client("bedrock-runtime", region_name="us-east-1", endpoint_url=stub.url,
                          aws_access_key_id="test", aws_secret_access_key="test",
                          config=botocore.config.Config(retries={"total_max_attempts": 1}))

Routes (``modelId`` percent-encoded, as botocore sends it): POST ``/model/{modelId}/converse``,
``/converse-stream``, ``/invoke``, ``/invoke-with-response-stream``. ``invoke`` bodies follow the
model family named in the id: Anthropic (messages API), Meta Llama, Amazon Nova, Amazon Titan
(text and embeddings), Mistral, Cohere (chat and embeddings).

Scripting with :meth:`StubProvider.enqueue` on these paths:

- ``usage``: forced token counts in Converse's names (``inputTokens``, ``outputTokens``,
  ``cacheReadInputTokens``, ``cacheWriteInputTokens``; input excludes cache, as Bedrock counts),
  rendered in each family's own fields; families without cache fields ignore the cache counts.
- ``status`` >= 400 alone: an AWS error (``x-amzn-ErrorType`` header + ``{"message"}`` body), so
  botocore raises ``ThrottlingException``, ``ValidationException``, ... (see ``AWS_ERRORS``).
- ``sse_events``: the stream's events, each ``{event_type: payload}``: ``{"metadata": {...}}`` on
  converse-stream, ``{"chunk": {...}}`` (the chunk's JSON) on invoke-with-response-stream, and
  ``{"throttlingException": {"message": ...}}`` style exception events on either.
- ``fail_after_events=N``: N eventstream messages, then the connection drops.
"""

from __future__ import annotations

import base64
import json
import re
import struct
import zlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from genai_cost.instrumentation.bedrock.models import family_of
from genai_cost.testing.stub_server import (
    RecordedRequest,
    ScriptedResponse,
    _Outgoing,
    _pieces,
    _prompt_tokens,
    _texts,
    _truncate,
    _vector,
)

__all__ = ["AWS_ERRORS", "WIRE", "BedrockWire", "aws_error", "encode_event", "encode_message"]

JSON = Any

_PATH = re.compile(r"^/model/(?P<model>[^/]+)/(?P<op>converse|converse-stream|invoke|invoke-with-response-stream)$")

#: HTTP status -> the error code Bedrock Runtime sends with it.
AWS_ERRORS: dict[int, str] = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}

_REQUEST_ID = "00000000-0000-4000-8000-{:012d}"
_LATENCY_MS = 120


# --- eventstream framing -----------------------------------------------------------------------


def _header(name: str, value: str) -> bytes:
    raw_name, raw_value = name.encode(), value.encode()
    # name length (1 byte), name, value type 7 (string), value length (2 bytes), value
    return struct.pack("!B", len(raw_name)) + raw_name + struct.pack("!BH", 7, len(raw_value)) + raw_value


def encode_message(headers: Mapping[str, str], payload: bytes) -> bytes:
    """One eventstream message: prelude (total and headers length, CRC), headers, payload, CRC."""
    raw_headers = b"".join(_header(k, v) for k, v in headers.items())
    total = 12 + len(raw_headers) + len(payload) + 4
    prelude = struct.pack("!II", total, len(raw_headers))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    message = prelude + raw_headers + payload
    return message + struct.pack("!I", zlib.crc32(message))


def encode_event(event_type: str, payload: JSON) -> bytes:
    """An eventstream event (or, for a ``...Exception`` type, an exception) with a JSON payload."""
    if event_type.endswith("Exception"):
        headers = {":message-type": "exception", ":exception-type": event_type, ":content-type": "application/json"}
    else:
        headers = {":message-type": "event", ":event-type": event_type, ":content-type": "application/json"}
    return encode_message(headers, json.dumps(payload, separators=(",", ":")).encode())


def _chunk(document: JSON) -> bytes:
    """An invoke-with-response-stream ``chunk``: the model's JSON, base64 in ``bytes``."""
    data = json.dumps(document, separators=(",", ":")).encode()
    return encode_event("chunk", {"bytes": base64.b64encode(data).decode()})


def _stream(events: Sequence[tuple[str, JSON]], op: str) -> _Outgoing:
    frames = [
        _chunk(payload) if kind == "chunk" and op.startswith("invoke") else encode_event(kind, payload)
        for kind, payload in events
    ]
    return _Outgoing(
        200,
        [("Content-Type", "application/vnd.amazon.eventstream")],
        chunks=frames,
        recorded=[{kind: payload} for kind, payload in events],
    )


def aws_error(status: int, message: str | None = None, code: str | None = None) -> tuple[list[tuple[str, str]], JSON]:
    """Headers and body of a Bedrock Runtime error response."""
    code = code or AWS_ERRORS.get(status, "InternalServerException" if status >= 500 else "ValidationException")
    document = {"message": message or f"stub {code}"}
    return [("Content-Type", "application/json"), ("x-amzn-ErrorType", f"{code}:http://internal.amazon.com/")], document


# --- token counts --------------------------------------------------------------------------------


class _Counts:
    """The call's token counts in Converse's terms, forced values on top of the estimates."""

    __slots__ = ("input", "output", "cache_read", "cache_write", "cache_details")

    def __init__(self, input_tokens: int, output_tokens: int, forced: Mapping[str, Any] | None) -> None:
        forced = forced or {}
        self.input = int(forced.get("inputTokens", input_tokens))
        self.output = int(forced.get("outputTokens", output_tokens))
        self.cache_read = int(forced.get("cacheReadInputTokens", 0))
        self.cache_write = int(forced.get("cacheWriteInputTokens", 0))
        # Cache writes by TTL, as Converse reports them: [{"ttl": "1h", "inputTokens": n}, ...].
        self.cache_details: list[dict[str, Any]] = list(forced.get("cacheDetails") or [])

    def converse(self) -> dict[str, Any]:
        usage: dict[str, Any] = {"inputTokens": self.input, "outputTokens": self.output}
        usage["totalTokens"] = self.input + self.output + self.cache_read + self.cache_write
        if self.cache_read:
            usage["cacheReadInputTokens"] = self.cache_read
        if self.cache_write:
            usage["cacheWriteInputTokens"] = self.cache_write
        if self.cache_details:
            usage["cacheDetails"] = self.cache_details
        return usage

    def ttl_split(self) -> dict[str, int]:
        """Anthropic's ``usage.cache_creation``: the same writes by TTL."""
        by_ttl = {d["ttl"]: d["inputTokens"] for d in self.cache_details}
        return {"ephemeral_5m_input_tokens": by_ttl.get("5m", 0), "ephemeral_1h_input_tokens": by_ttl.get("1h", 0)}

    def invocation_metrics(self) -> dict[str, int]:
        metrics = {
            "inputTokenCount": self.input,
            "outputTokenCount": self.output,
            "invocationLatency": _LATENCY_MS,
            "firstByteLatency": _LATENCY_MS // 4,
        }
        if self.cache_read:
            metrics["cacheReadInputTokenCount"] = self.cache_read
        if self.cache_write:
            metrics["cacheWriteInputTokenCount"] = self.cache_write
        return metrics

    def headers(self) -> list[tuple[str, str]]:
        headers = [
            ("X-Amzn-Bedrock-Input-Token-Count", str(self.input)),
            ("X-Amzn-Bedrock-Output-Token-Count", str(self.output)),
            ("X-Amzn-Bedrock-Invocation-Latency", str(_LATENCY_MS)),
        ]
        if self.cache_read:
            headers.append(("X-Amzn-Bedrock-Cache-Read-Input-Token-Count", str(self.cache_read)))
        if self.cache_write:
            headers.append(("X-Amzn-Bedrock-Cache-Write-Input-Token-Count", str(self.cache_write)))
        return headers


def _base_model(model_id: str) -> str:
    """``claude-3-haiku-20240307`` for ``arn:...:inference-profile/us.anthropic.claude-3-haiku-20240307-v1:0``."""
    ref = model_id.rsplit("/", 1)[-1]
    ref = ref.split("anthropic.", 1)[-1]
    return re.sub(r"-v\d+(:\d+)?$", "", ref)


# --- Converse ------------------------------------------------------------------------------------


def _converse_prompt(body: dict[str, Any]) -> int:
    return _prompt_tokens(items=body.get("messages") or [], extra=body.get("system") or [])


def _converse(
    body: dict[str, Any], text: str, forced: Mapping[str, Any] | None, stream: bool
) -> list[tuple[str, JSON]] | JSON:
    limit = (body.get("inferenceConfig") or {}).get("maxTokens")
    pieces, truncated = _truncate(_pieces(text), limit)
    counts = _Counts(_converse_prompt(body), len(pieces), forced)
    stop = "max_tokens" if truncated else "end_turn"
    if not stream:
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": "".join(pieces)}]}},
            "stopReason": stop,
            "usage": counts.converse(),
            "metrics": {"latencyMs": _LATENCY_MS},
        }
    events: list[tuple[str, JSON]] = [("messageStart", {"role": "assistant"})]
    events += [("contentBlockDelta", {"delta": {"text": p}, "contentBlockIndex": 0}) for p in pieces]
    events += [
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("messageStop", {"stopReason": stop}),
        ("metadata", {"usage": counts.converse(), "metrics": {"latencyMs": _LATENCY_MS}}),
    ]
    return events


# --- InvokeModel bodies, one builder per model family -------------------------------------------


def _prompt_of(body: dict[str, Any]) -> int:
    """Prompt tokens of any family's request body."""
    items = [
        body.get(k) for k in ("messages", "prompt", "inputText", "message", "texts", "chat_history") if body.get(k)
    ]
    system = body.get("system")
    return _prompt_tokens(items=items, extra=[system] if system else [])


def _limit_of(body: dict[str, Any]) -> Any:
    config = body.get("inferenceConfig") or body.get("textGenerationConfig") or {}
    for key in ("max_tokens", "max_gen_len", "max_new_tokens", "maxTokens", "maxTokenCount"):
        if key in body:
            return body[key]
        if key in config:
            return config[key]
    return None


class _Invocation:
    """What one invoke call answers, in its family's format (body, or stream chunks)."""

    def __init__(self, model: str, body: dict[str, Any], text: str, forced: Mapping[str, Any] | None, seq: int) -> None:
        self.model = model
        # An opaque application-inference-profile id: answer in the commonest family's format.
        self.family = family_of(model) or "anthropic"
        self.embedding = "embed" in model
        pieces, self.truncated = _truncate(_pieces(text), _limit_of(body))
        self.pieces = pieces
        self.text = "".join(pieces)
        self.counts = counts = _Counts(_prompt_of(body), 0 if self.embedding else len(pieces), forced)
        if self.family not in ("anthropic", "nova"):  # no prompt caching: no cache counts anywhere
            counts.cache_read = counts.cache_write = 0
        self.body = body
        self.seq = seq

    def document(self) -> JSON:
        c, text, seq = self.counts, self.text, self.seq
        if self.embedding:
            inputs = [t for t in _texts(self.body.get("texts") or self.body.get("inputText") or "")] or [""]
            if self.family == "cohere":
                return {
                    "id": f"emb-stub-{seq}",
                    "embeddings": [_vector(t, 8) for t in inputs],
                    "texts": inputs,
                    "response_type": "embeddings_floats",
                }
            return {"embedding": _vector(inputs[0], 8), "inputTextTokenCount": c.input}
        if self.family == "anthropic":
            return {**self._anthropic_message(), "content": [{"type": "text", "text": text}]}
        if self.family == "meta":
            stop = "length" if self.truncated else "stop"
            return {
                "generation": text,
                "prompt_token_count": c.input,
                "generation_token_count": c.output,
                "stop_reason": stop,
            }
        if self.family == "nova":
            return {
                "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
                "stopReason": self._stop("max_tokens", "end_turn"),
                "usage": self._nova_usage(),
            }
        if self.family == "titan":
            return {
                "inputTextTokenCount": c.input,
                "results": [
                    {"tokenCount": c.output, "outputText": text, "completionReason": self._stop("LENGTH", "FINISH")}
                ],
            }
        if self.family == "mistral":
            return {"outputs": [{"text": text, "stop_reason": self._stop("length", "stop")}]}
        return {
            "response_id": f"cohere-stub-{seq}",
            "generation_id": f"gen-stub-{seq}",
            "text": text,
            "finish_reason": self._stop("MAX_TOKENS", "COMPLETE"),
            "chat_history": [],
        }

    def chunks(self) -> list[JSON]:
        c, pieces = self.counts, self.pieces or [""]
        last = len(pieces) - 1
        if self.family == "anthropic":
            start = {**self._anthropic_message(), "content": [], "stop_reason": None}
            start["usage"] = {**start["usage"], "output_tokens": min(1, c.output)}
            chunks: list[JSON] = [
                {"type": "message_start", "message": start},
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ]
            chunks += [
                {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}} for p in pieces
            ]
            chunks += [
                {"type": "content_block_stop", "index": 0},
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self._stop("max_tokens", "end_turn")},
                    "usage": {"output_tokens": c.output},
                },
                {"type": "message_stop"},
            ]
        elif self.family == "meta":
            chunks = [
                {
                    "generation": p,
                    "prompt_token_count": c.input if i == 0 else None,
                    "generation_token_count": i + 1,
                    "stop_reason": self._stop("length", "stop") if i == last else None,
                }
                for i, p in enumerate(pieces)
            ]
        elif self.family == "nova":
            chunks = [{"messageStart": {"role": "assistant"}}]
            chunks += [{"contentBlockDelta": {"delta": {"text": p}, "contentBlockIndex": 0}} for p in pieces]
            chunks += [
                {"contentBlockStop": {"contentBlockIndex": 0}},
                {"messageStop": {"stopReason": self._stop("max_tokens", "end_turn")}},
                {"metadata": {"usage": self._nova_usage()}},
            ]
        elif self.family == "titan":
            chunks = [
                {
                    "outputText": p,
                    "index": 0,
                    "totalOutputTextTokenCount": i + 1,
                    "completionReason": self._stop("LENGTH", "FINISH") if i == last else None,
                    **({"inputTextTokenCount": c.input} if i == 0 else {}),
                }
                for i, p in enumerate(pieces)
            ]
        elif self.family == "mistral":
            chunks = [
                {"outputs": [{"text": p, "stop_reason": self._stop("length", "stop") if i == last else None}]}
                for i, p in enumerate(pieces)
            ]
        else:
            chunks = [{"is_finished": False, "event_type": "text-generation", "text": p} for p in pieces]
            chunks.append(
                {
                    "is_finished": True,
                    "event_type": "stream-end",
                    "finish_reason": self._stop("MAX_TOKENS", "COMPLETE"),
                    "response": {"response_id": f"cohere-stub-{self.seq}", "text": self.text},
                }
            )
        # Bedrock appends its own token counts to the model's last chunk.
        chunks[-1] = {**chunks[-1], "amazon-bedrock-invocationMetrics": c.invocation_metrics()}
        return chunks

    def _stop(self, truncated: str, complete: str) -> str:
        return truncated if self.truncated else complete

    def _anthropic_message(self) -> dict[str, Any]:
        c = self.counts
        return {
            "id": f"msg_bdrk_stub_{self.seq}",
            "type": "message",
            "role": "assistant",
            "model": _base_model(self.model),  # the base model, not the profile requested
            "stop_reason": self._stop("max_tokens", "end_turn"),
            "stop_sequence": None,
            "usage": {
                "input_tokens": c.input,
                "cache_creation_input_tokens": c.cache_write,
                "cache_read_input_tokens": c.cache_read,
                "cache_creation": c.ttl_split(),
                "output_tokens": c.output,
            },
        }

    def _nova_usage(self) -> dict[str, int]:
        c = self.counts
        usage = {"inputTokens": c.input, "outputTokens": c.output, "totalTokens": c.input + c.output}
        if c.cache_read:
            usage["cacheReadInputTokenCount"] = c.cache_read
        if c.cache_write:
            usage["cacheWriteInputTokenCount"] = c.cache_write
        return usage


# --- the plug-in the stub consults ------------------------------------------------------------------


class BedrockWire:
    """Answers Bedrock Runtime paths for :class:`StubProvider` (see ``stub_server.WIRE_MODULES``)."""

    def handles(self, path: str) -> bool:
        return path.startswith("/model/") and _PATH.match(path) is not None

    def respond(self, request: RecordedRequest, script: ScriptedResponse, stub: Any) -> _Outgoing:
        match = _PATH.match(request.path)
        assert match is not None
        model, op = unquote(match["model"]), match["op"]
        seq = stub._next_seq(f"bedrock-{op}")
        request_id = _REQUEST_ID.format(seq)
        if script.status >= 400 and script.sse_events is None:
            out = self._error(script.status)
        elif script.sse_events is not None:
            events = [next(iter(e.items())) for e in script.sse_events if isinstance(e, Mapping)]
            out = _stream(events, op)
        elif not isinstance(request.body, dict):
            out = self._error(400, "Malformed input request, please reformat your input and try again.")
        else:
            out = self._default(model, op, request.body, script, seq)
        out.headers += [("x-amzn-RequestId", request_id)]
        return out

    def _default(self, model: str, op: str, body: dict[str, Any], script: ScriptedResponse, seq: int) -> _Outgoing:
        text = script.text if script.text is not None else "This is a test."
        if op.startswith("converse"):
            reply = _converse(body, text, script.usage, stream=op == "converse-stream")
            if op == "converse-stream":
                return _stream(reply, op)
            return _Outgoing(200, [("Content-Type", "application/json")], json.dumps(reply).encode(), recorded=reply)
        invocation = _Invocation(model, body, text, script.usage, seq)
        if op == "invoke-with-response-stream":
            out = _stream([("chunk", c) for c in invocation.chunks()], op)
            out.headers.append(("X-Amzn-Bedrock-Content-Type", "application/json"))
            return out
        document = invocation.document()
        return _Outgoing(
            200,
            [("Content-Type", "application/json"), *invocation.counts.headers()],
            json.dumps(document).encode(),
            recorded=document,
        )

    @staticmethod
    def _error(status: int, message: str | None = None) -> _Outgoing:
        headers, document = aws_error(status, message)
        return _Outgoing(status, headers, json.dumps(document).encode(), recorded=document)


WIRE = BedrockWire()
