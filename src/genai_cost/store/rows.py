"""Spans to store rows, for both writers: OTLP export payloads (the gateway) and SDK spans (in process).

Both run on the store writer's background thread, never on a request or call path: the gateway
hands over the bytes it already serialised for forwarding, the SDK processor the finished spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from genai_cost.attributes import Status
from genai_cost.store.schema import (
    ATTRIBUTE_FIELDS,
    COLUMN_NAMES,
    DIMENSION_PREFIX,
    STATUS_INDEX,
    call_row,
    coerce,
    is_stored_call,
    row_dimensions,
)

StoredCall = tuple[tuple[Any, ...], Mapping[str, str] | None]
_SERVICE_NAME = "service.name"
_DIMENSION_BYTES = DIMENSION_PREFIX.encode()


def _service(resource_attributes: Iterable[Any]) -> str | None:
    for kv in resource_attributes:
        if kv.key == _SERVICE_NAME:
            return kv.value.string_value or None
    return None


def calls_from_otlp(payload: bytes) -> Iterator[StoredCall]:
    """The stored calls of one serialised ``ExportTraceServiceRequest`` (after pricing).

    The hot loop of the gateway's store path: each span's attributes are walked once, and only
    the values a column wants are decoded (a dict per span would cost twice as much).
    """
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(payload)
    from_bytes = int.from_bytes
    fields = ATTRIBUTE_FIELDS
    status_index = STATUS_INDEX
    width = len(COLUMN_NAMES)
    prefix = DIMENSION_PREFIX
    # No dimension key anywhere in the bytes: skip the per-attribute prefix test.
    has_dimensions = _DIMENSION_BYTES in payload
    skipped = Status.DUPLICATE
    for resource_spans in request.resource_spans:
        service = _service(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                row: list[Any] = [None] * width
                dimensions: dict[str, str] | None = None
                for kv in span.attributes:
                    key = kv.key
                    field = fields.get(key)
                    if field is not None:
                        value = kv.value
                        # A well-typed value is read from its own field in one step. An empty
                        # read is a default or another type: the oneof says which, then coerce.
                        found = getattr(value, field[1])
                        if not found:
                            kind = value.WhichOneof("value")
                            found = coerce(getattr(value, kind), field[2]) if kind is not None else None
                        row[field[0]] = found
                    elif has_dimensions and key.startswith(prefix):
                        value = kv.value
                        kind = value.WhichOneof("value")
                        if kind is not None:
                            if dimensions is None:
                                dimensions = {}
                            dimensions[key[len(prefix) :]] = str(getattr(value, kind))
                status = row[status_index]
                if status is None or status == skipped:
                    continue
                start, end = span.start_time_unix_nano, span.end_time_unix_nano
                row[0] = start // 1000
                row[1] = (end - start) / 1e6 if end else None
                row[2] = span.trace_id.hex()
                row[3] = from_bytes(span.span_id, "big")
                row[4] = service
                yield tuple(row), dimensions


def _dimensions(attributes: Mapping[str, Any]) -> Mapping[str, str] | None:
    # Cheap common case: no custom dimension key at all.
    return row_dimensions(attributes) if any(k.startswith(DIMENSION_PREFIX) for k in attributes) else None


def calls_from_spans(spans: Iterable[Any]) -> Iterator[StoredCall]:
    """The stored calls among finished SDK ``ReadableSpan`` objects."""
    for span in spans:
        attributes = span.attributes or {}
        if not is_stored_call(attributes):
            continue
        context = span.context
        resource = span.resource.attributes if span.resource is not None else {}
        service = resource.get(_SERVICE_NAME)
        row = call_row(
            attributes,
            start_ns=span.start_time or 0,
            end_ns=span.end_time or 0,
            trace_id=format(context.trace_id, "032x"),
            span_id=context.span_id,
            service=str(service) if service is not None else None,
        )
        yield row, _dimensions(attributes)
