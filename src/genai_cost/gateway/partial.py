"""OTLP partial success: when a request fails to decode, keep its good spans and count the bad ones.

An exporter drops a batch answered with 400 for good (OTLP spec: not retryable), so one span with
an invalid UTF-8 string, a lone surrogate in JSON or attribute values nested past protobuf's
depth limit (upb stops at 100 message levels: ~32 nested kvlists) would cost every other span of
its batch. Instead the request is split at the protobuf wire level — resource spans, scope
spans, spans — and each piece is decoded alone, wrapped in exactly the envelope it had (so the
depth limit is the one the whole request meets downstream). What decodes is kept, byte for
byte; what does not is counted and named in ``ExportTraceServiceResponse.partial_success``.

Only the failure path pays for this: a request that decodes whole is never split. A body whose
wire framing itself is broken (truncated, a length past the end) cannot be split and stays a 400.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NamedTuple

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

# Field numbers (opentelemetry/proto/collector/trace/v1/trace_service.proto, trace/v1/trace.proto):
# request.resource_spans = 1, ResourceSpans.scope_spans = 2, ScopeSpans.spans = 2, Span.span_id = 2.
_RESOURCE_SPANS = 1
_SCOPE_SPANS = 2
_SPANS = 2
_SPAN_ID = 2
_LENGTH_DELIMITED = 2


class Decoded(NamedTuple):
    """A decoded request and what was left out of it (OTLP ``partial_success``)."""

    request: Any
    rejected_spans: int = 0
    error_message: str = ""


class _Field(NamedTuple):
    number: int
    wire_type: int
    entry: bytes  # tag, length and payload: the field exactly as it was on the wire
    payload: bytes  # for length-delimited fields, the bytes inside; else empty


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise DecodeError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(data: bytes) -> Iterator[_Field]:
    """The top-level fields of one message, in order; DecodeError if the framing is broken."""
    position = 0
    while position < len(data):
        start = position
        tag, position = _varint(data, position)
        number, wire_type = tag >> 3, tag & 7
        payload = b""
        if wire_type == 0:
            _, position = _varint(data, position)
        elif wire_type == 1:
            position += 8
        elif wire_type == 5:
            position += 4
        elif wire_type == _LENGTH_DELIMITED:
            length, position = _varint(data, position)
            payload = data[position : position + length]
            position += length
        else:  # groups: not in OTLP
            raise DecodeError(f"unsupported wire type {wire_type}")
        if position > len(data) or number == 0:
            raise DecodeError("truncated field")
        yield _Field(number, wire_type, data[start:position], payload)


def _entry(number: int, payload: bytes) -> bytes:
    out = bytearray()
    for number_or_length in ((number << 3) | _LENGTH_DELIMITED, len(payload)):
        value = number_or_length
        while value > 0x7F:
            out.append((value & 0x7F) | 0x80)
            value >>= 7
        out.append(value)
    return bytes(out) + payload


def _decodes(request_bytes: bytes) -> bool:
    return _decode_error(request_bytes) is None


def _decode_error(request_bytes: bytes) -> str | None:
    """Why upb refuses these bytes ("String field had bad UTF-8", "...MaxDepth"), None if it takes them."""
    try:
        ExportTraceServiceRequest.FromString(request_bytes)
    except DecodeError as exc:
        return str(exc).rsplit("': ", 1)[-1]
    return None


def _count_spans(scope_spans_payload: bytes) -> int:
    try:
        return sum(1 for f in _fields(scope_spans_payload) if f.number == _SPANS)
    except DecodeError:
        return 1


def _span_id(span_payload: bytes) -> str:
    try:
        for field in _fields(span_payload):
            if field.number == _SPAN_ID and field.wire_type == _LENGTH_DELIMITED:
                return field.payload.hex()
    except DecodeError:
        pass
    return "?"


class _Rejections:
    def __init__(self) -> None:
        self.spans = 0
        self.examples: list[str] = []

    def add(self, spans: int, what: str) -> None:
        self.spans += spans
        if len(self.examples) < 3:
            self.examples.append(what)

    def message(self) -> str:
        if not self.spans:
            return ""
        more = ", ..." if self.spans > len(self.examples) else ""
        return f"{self.spans} span(s) rejected as undecodable: " + "; ".join(self.examples) + more


def split_protobuf(body: bytes) -> Decoded:
    """``body`` failed to decode whole: keep what decodes, count the rest. DecodeError if unsplittable."""
    rejections = _Rejections()
    kept = bytearray()
    for index, field in enumerate(_fields(body)):
        if field.number != _RESOURCE_SPANS or field.wire_type != _LENGTH_DELIMITED:
            if _decodes(field.entry):
                kept += field.entry
            continue
        if _decodes(field.entry):
            kept += field.entry
            continue
        kept_resource = _split_resource_spans(field.payload, index, rejections)
        if kept_resource is not None:
            kept += _entry(_RESOURCE_SPANS, kept_resource)
    request = ExportTraceServiceRequest.FromString(bytes(kept))
    return Decoded(request, rejections.spans, rejections.message())


def _split_resource_spans(payload: bytes, index: int, rejections: _Rejections) -> bytes | None:
    fields = list(_fields(payload))
    envelope = b"".join(f.entry for f in fields if f.number != _SCOPE_SPANS)
    scopes = [f for f in fields if f.number == _SCOPE_SPANS]
    if not _decodes(_entry(_RESOURCE_SPANS, envelope)):  # the resource itself is bad: all its spans go
        rejections.add(sum(_count_spans(s.payload) for s in scopes), f"the resource of resource_spans[{index}]")
        return None
    kept = bytearray(envelope)
    for scope_index, scope in enumerate(scopes):
        wrapped = _entry(_RESOURCE_SPANS, envelope + scope.entry)
        if _decodes(wrapped):
            kept += scope.entry
            continue
        scope_fields = list(_fields(scope.payload))
        scope_envelope = b"".join(f.entry for f in scope_fields if f.number != _SPANS)
        spans = [f for f in scope_fields if f.number == _SPANS]

        def in_place(scope_payload: bytes) -> bytes:
            return _entry(_RESOURCE_SPANS, envelope + _entry(_SCOPE_SPANS, scope_payload))

        if not _decodes(in_place(scope_envelope)):
            rejections.add(len(spans), f"the scope of resource_spans[{index}].scope_spans[{scope_index}]")
            continue
        good = bytearray(scope_envelope)
        for span in spans:
            error = _decode_error(in_place(scope_envelope + span.entry))
            if error is None:
                good += span.entry
            else:
                rejections.add(1, f"span {_span_id(span.payload)}: {error}")
        kept += _entry(_SCOPE_SPANS, bytes(good))
    return bytes(kept)


def split_json(document: dict[str, Any], parse_dict: Any) -> tuple[ExportTraceServiceRequest, _Rejections]:
    """An OTLP/JSON document that failed to parse whole, parsed span by span with ``parse_dict``."""
    rejections = _Rejections()
    request = ExportTraceServiceRequest()
    for index, resource_spans in enumerate(_list(document, "resourceSpans", "resource_spans")):
        scopes = _list(resource_spans, "scopeSpans", "scope_spans")
        shell = {k: v for k, v in resource_spans.items() if k not in ("scopeSpans", "scope_spans")}
        try:
            resource_message = parse_dict(shell, ResourceSpans())
        except Exception as exc:
            rejections.add(sum(len(_list(s, "spans")) for s in scopes), f"resource_spans[{index}]: {exc}")
            continue
        out = request.resource_spans.add()
        out.CopyFrom(resource_message)
        for scope_index, scope_spans in enumerate(scopes):
            spans = _list(scope_spans, "spans")
            try:
                scope_message = parse_dict({k: v for k, v in scope_spans.items() if k != "spans"}, ScopeSpans())
            except Exception as exc:
                rejections.add(len(spans), f"resource_spans[{index}].scope_spans[{scope_index}]: {exc}")
                continue
            scope_out = out.scope_spans.add()
            scope_out.CopyFrom(scope_message)
            for span in spans:
                try:
                    scope_out.spans.append(parse_dict(span, Span()))
                except Exception as exc:
                    rejections.add(1, f"span {span.get('spanId', span.get('span_id', '?'))!s}: {_short(exc)}")
    return request, rejections


def _short(exc: Exception) -> str:
    return str(exc).rsplit(": ", 1)[-1][:200]


def _list(obj: dict[str, Any], *keys: str) -> list[dict[str, Any]]:
    for key in keys:
        value = obj.get(key)
        if isinstance(value, list):
            return [item for item in value if isinstance(item, dict)]
    return []
