"""Spans to store rows, for both writers: OTLP export payloads (the gateway) and SDK spans (in process).

Both run on the store writer's background thread, never on a request or call path: the gateway
hands over the bytes it already serialised for forwarding, the SDK processor the finished spans.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from genai_cost import attributes as attr
from genai_cost.store.schema import DIMENSION_PREFIX, call_row, is_stored_call, row_dimensions

StoredCall = tuple[tuple[Any, ...], Mapping[str, str] | None]
_STATUS = attr.COST_STATUS
_SERVICE_NAME = "service.name"


def _service(resource_attributes: Iterable[Any]) -> str | None:
    for kv in resource_attributes:
        if kv.key == _SERVICE_NAME:
            return kv.value.string_value or None
    return None


def calls_from_otlp(payload: bytes) -> Iterator[StoredCall]:
    """The stored calls of one serialised ``ExportTraceServiceRequest`` (after pricing)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    request.ParseFromString(payload)
    from_bytes = int.from_bytes
    for resource_spans in request.resource_spans:
        service = _service(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                key_values = span.attributes
                # A key scan says "not a call" before any value is decoded (most spans are not).
                if not any(kv.key == _STATUS for kv in key_values):
                    continue
                attributes = {}
                for kv in key_values:
                    value = kv.value
                    kind = value.WhichOneof("value")
                    attributes[kv.key] = getattr(value, kind) if kind is not None else None
                if not is_stored_call(attributes):
                    continue
                row = call_row(
                    attributes,
                    start_ns=span.start_time_unix_nano,
                    end_ns=span.end_time_unix_nano,
                    trace_id=span.trace_id,
                    span_id=from_bytes(span.span_id, "big"),
                    service=service,
                )
                yield row, _dimensions(attributes)


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
            trace_id=context.trace_id.to_bytes(16, "big"),
            span_id=context.span_id,
            service=str(service) if service is not None else None,
        )
        yield row, _dimensions(attributes)
