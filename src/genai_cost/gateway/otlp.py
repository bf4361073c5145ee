"""OTLP/HTTP request bodies to ``ExportTraceServiceRequest`` and back, with errors that name the problem.

Protobuf bodies are parsed by the official generated classes (upb), which keep unknown fields, so
what we forward is what we received plus our attributes. OTLP/JSON differs from protobuf's
canonical JSON mapping in one place that matters: trace and span ids are hex, not base64
(OTLP spec, "JSON Protobuf Encoding"); they are converted before parsing. A request with some
undecodable spans keeps the others (``partial.py``: OTLP partial success).
"""

from __future__ import annotations

import base64
import json
import zlib
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from genai_cost.gateway.partial import Decoded, split_json, split_protobuf

PROTOBUF = "application/x-protobuf"
# A decoded request is held as about twice its bytes (upb's arena plus the serialized copy
# forwarded): what the memory limiter reserves before decoding (admission.py).
DECODED_FACTOR = 2
JSON = "application/json"


class PayloadError(Exception):
    """A request the gateway refuses: ``http_status`` and gRPC ``grpc_code`` (a ``grpc.StatusCode`` name)."""

    def __init__(self, message: str, http_status: int = 400, grpc_code: str = "INVALID_ARGUMENT") -> None:
        super().__init__(message)
        self.http_status = http_status
        self.grpc_code = grpc_code


def too_large(what: str, limit: int) -> PayloadError:
    return PayloadError(f"{what} exceeds the gateway's limit of {limit} bytes", 413, "RESOURCE_EXHAUSTED")


def media_type(content_type: str | None) -> str:
    """``application/x-protobuf`` or ``application/json``; anything else is a 415."""
    base = (content_type or "").split(";", 1)[0].strip().lower()
    if base in (PROTOBUF, "application/protobuf"):
        return PROTOBUF
    if base == JSON:
        return JSON
    raise PayloadError(
        f"unsupported Content-Type {content_type!r}: OTLP/HTTP takes {PROTOBUF} or {JSON}", 415, "INVALID_ARGUMENT"
    )


_INFLATE_STEP = 1024 * 1024


def gunzip(body: bytes, limit: int, hold: Callable[[int], None] | None = None) -> bytes:
    """Inflate a gzip body without ever holding more than ``limit`` bytes (a gzip bomb is a 413).

    ``hold`` is told each step's size before the next is inflated (the memory limiter's
    reservation: it raises to stop inflating)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    pieces = []
    size = 0
    pending = body
    try:
        while True:
            piece = inflater.decompress(pending, min(_INFLATE_STEP, limit + 1 - size))
            pending = inflater.unconsumed_tail
            size += len(piece)
            pieces.append(piece)
            if size > limit:
                raise too_large("the decompressed body", limit)
            if hold is not None:
                hold(len(piece))
            if inflater.eof or (not pending and not piece):
                break
    except zlib.error as exc:
        raise PayloadError(f"body is not valid gzip: {exc}") from None
    if not inflater.eof:
        raise PayloadError("body is not valid gzip: truncated stream")
    return b"".join(pieces)


def decode_body(
    body: bytes,
    content_type: str | None,
    content_encoding: str | None,
    limit: int,
    hold: Callable[[int], None] | None = None,
) -> Decoded:
    """Parse one OTLP/HTTP traces request body (``limit`` bounds the decompressed size; ``hold``
    reserves memory as it inflates and, ``DECODED_FACTOR``-fold, before it decodes)."""
    kind = media_type(content_type)
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        body = gunzip(body, limit, hold)
    elif encoding != "identity":
        raise PayloadError(f"unsupported Content-Encoding {content_encoding!r}: use gzip or none", 415)
    if hold is not None:
        hold(DECODED_FACTOR * len(body))
    return parse_json(body) if kind == JSON else parse_protobuf_partial(body)


def parse_protobuf_partial(body: bytes) -> Decoded:
    """Parse a request, keeping the spans that decode when some do not (OTLP partial success)."""
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
        return Decoded(request)
    except DecodeError as exc:
        first_error = exc
    try:
        decoded = split_protobuf(body)
    except DecodeError:  # the framing itself is broken: nothing to keep
        raise PayloadError(f"body is not a valid protobuf ExportTraceServiceRequest: {first_error}") from None
    return _keeps_something(decoded, "protobuf")


def _keeps_something(decoded: Decoded, encoding: str) -> Decoded:
    """A request none of whose spans decode is refused whole (400), as before partial success."""
    if decoded.rejected_spans and not any(ss.spans for rs in decoded.request.resource_spans for ss in rs.scope_spans):
        raise PayloadError(f"body is not a valid {encoding} ExportTraceServiceRequest: {decoded.error_message}")
    return decoded


def parse_json(body: bytes) -> Decoded:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PayloadError("OTLP/JSON body must be an object with resourceSpans")
    _hex_ids_to_base64(document)
    json_rejected, json_message = 0, ""
    try:
        request = json_format.ParseDict(document, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError, AttributeError, RecursionError):
        request, rejections = split_json(document, _parse_dict)
        json_rejected, json_message = rejections.spans, rejections.message()
    # What JSON accepted must also be what protobuf takes downstream (depth, UTF-8): the forwarded
    # form is checked here, not by the next hop, which would drop the whole batch.
    decoded = parse_protobuf_partial(request.SerializeToString())
    if not json_rejected:
        return decoded
    message = "; ".join(m for m in (json_message, decoded.error_message) if m)
    return _keeps_something(Decoded(decoded.request, json_rejected + decoded.rejected_spans, message), "OTLP/JSON")


def _parse_dict(document: dict[str, Any], message: Any) -> Any:
    return json_format.ParseDict(document, message, ignore_unknown_fields=True)


_ID_FIELDS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


def _hex_ids_to_base64(document: dict[str, Any]) -> None:
    for resource_spans in _objects(document.get("resourceSpans", document.get("resource_spans"))):
        for scope_spans in _objects(resource_spans.get("scopeSpans", resource_spans.get("scope_spans"))):
            for span in _objects(scope_spans.get("spans")):
                _convert_ids(span)
                for link in _objects(span.get("links")):
                    _convert_ids(link)


def _objects(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"OTLP/JSON: expected a list, got {type(value).__name__}")
    return [item for item in value if isinstance(item, dict)]


def _convert_ids(obj: dict[str, Any]) -> None:
    for key in _ID_FIELDS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise PayloadError(f"OTLP/JSON: {key} {value!r} is not hex") from None


def encode_status(message: str, code: int, kind: str) -> bytes:
    """An OTLP/HTTP error body: ``google.rpc.Status`` in the request's encoding."""
    from google.rpc.status_pb2 import Status

    status = Status(code=code, message=message)
    if kind == JSON:
        return json_format.MessageToJson(status, indent=None).encode()
    return status.SerializeToString()


def encode_response(decoded: Decoded, kind: str) -> bytes:
    """The ``ExportTraceServiceResponse`` for an accepted request: empty, or its partial success."""
    if not decoded.rejected_spans:
        return b"{}" if kind == JSON else b""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    response = ExportTraceServiceResponse()
    response.partial_success.rejected_spans = decoded.rejected_spans
    response.partial_success.error_message = decoded.error_message
    if kind == JSON:
        return json_format.MessageToJson(response, indent=None).encode()
    return response.SerializeToString()
