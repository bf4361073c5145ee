"""OTLP/HTTP request bodies to ``ExportTraceServiceRequest`` and back, with errors that name the problem.

Protobuf bodies are parsed by the official generated classes (upb), which keep unknown fields, so
what we forward is what we received plus our attributes. OTLP/JSON differs from protobuf's
canonical JSON mapping in one place that matters: trace and span ids are hex, not base64
(OTLP spec, "JSON Protobuf Encoding"); they are converted before parsing.
"""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PROTOBUF = "application/x-protobuf"
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


def gunzip(body: bytes, limit: int) -> bytes:
    """Inflate a gzip body without ever holding more than ``limit`` bytes (a gzip bomb is a 413)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise PayloadError(f"body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise too_large("the decompressed body", limit)
    if not inflater.eof:
        raise PayloadError("body is not valid gzip: truncated stream")
    return out


def decode_body(body: bytes, content_type: str | None, content_encoding: str | None, limit: int) -> Any:
    """Parse one OTLP/HTTP traces request body (``limit`` bounds the decompressed size)."""
    kind = media_type(content_type)
    encoding = (content_encoding or "identity").strip().lower()
    if encoding == "gzip":
        body = gunzip(body, limit)
    elif encoding != "identity":
        raise PayloadError(f"unsupported Content-Encoding {content_encoding!r}: use gzip or none", 415)
    return parse_json(body) if kind == JSON else parse_protobuf(body)


def parse_protobuf(body: bytes) -> Any:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise PayloadError(f"body is not a valid protobuf ExportTraceServiceRequest: {exc}") from None
    return request


def parse_json(body: bytes) -> Any:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"body is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise PayloadError("OTLP/JSON body must be an object with resourceSpans")
    try:
        _hex_ids_to_base64(document)
        return json_format.ParseDict(document, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except PayloadError:
        raise
    except (json_format.ParseError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        raise PayloadError(f"body is not a valid OTLP/JSON ExportTraceServiceRequest: {exc}") from None


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
