"""Price the GenAI spans of an ``ExportTraceServiceRequest`` in place.

The decision — price, de-duplicate, roll up to the local root — is ``CostDecider``'s, the same
object ``CostSpanProcessor`` uses on the SDK side. This module only translates: protobuf
``KeyValue`` lists to the attribute mapping the decider reads, and the decider's answer back to
``KeyValue`` edits. Every attribute the decider did not change keeps its original ``AnyValue``
message (compared by identity, never re-encoded), so the rest of the span is byte-identical.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from genai_cost import attributes as attr
from genai_cost.attributes import Status
from genai_cost.processor import CostDecider

_log = logging.getLogger(__name__)

# OTLP Span.flags: bit 8 says whether bit 9 (parent is remote) is known (SpanFlags in trace.proto).
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200
_ROLLUP_KEYS = (attr.TRACE_AMOUNT, attr.TRACE_CALLS)
_MISSING = object()


def any_value(value: Any) -> Any:
    """A scalar ``AnyValue`` as its Python value; arrays, maps and bytes stay messages (never priced)."""
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind is not None else None


def set_any_value(target: Any, value: Any) -> None:
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    else:
        target.string_value = str(value)


def apply_attributes(key_values: Any, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """Turn ``old`` into ``new`` on a repeated ``KeyValue``, touching only what changed."""
    changed = {}
    for key, value in new.items():
        previous = old.get(key, _MISSING)
        if previous is value:
            continue
        if previous is _MISSING:
            set_any_value(key_values.add(key=key).value, value)
        else:
            changed[key] = value
    removed = [key for key in old if key not in new]
    if not changed and not removed:
        return
    for index in range(len(key_values) - 1, -1, -1):
        kv = key_values[index]
        if kv.key in changed:
            kv.value.Clear()
            set_any_value(kv.value, changed[kv.key])
        elif kv.key in removed:
            del key_values[index]


@dataclass
class EnrichCounts:
    spans: int = 0
    priced: int = 0
    unpriced: int = 0
    duplicates: int = 0
    passed_priced: int = 0  # GenAI spans that arrived priced (left alone)
    errors: int = 0


class Enricher:
    def __init__(self, decider: CostDecider) -> None:
        self.decider = decider
        self._warned = False

    def enrich(self, request: Any) -> EnrichCounts:
        """Add cost attributes to every GenAI span of ``request`` (in place); count what happened."""
        counts = EnrichCounts()
        decide = self.decider.decide
        from_bytes = int.from_bytes
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                scope = scope_spans.scope.name or None
                for span in scope_spans.spans:
                    counts.spans += 1
                    key_values = span.attributes
                    attributes = {kv.key: any_value(kv.value) for kv in key_values}
                    parent = span.parent_span_id
                    flags = span.flags
                    try:
                        new = decide(
                            attributes,
                            scope,
                            from_bytes(span.trace_id, "big"),
                            from_bytes(span.span_id, "big"),
                            from_bytes(parent, "big") if parent else None,
                            bool(parent) and flags & _HAS_IS_REMOTE != 0 and flags & _IS_REMOTE != 0,
                            span.start_time_unix_nano or None,
                            span.end_time_unix_nano or None,
                        )
                        if attr.COST_STATUS in attributes or attr.COST_AMOUNT in attributes:
                            # Priced upstream (an SDK with our processor): left alone but for the
                            # trace roll-up, which this tier may see more of.
                            counts.passed_priced += 1
                            if new is None:
                                continue
                            new = {**attributes, **{k: new[k] for k in _ROLLUP_KEYS if k in new}}
                        elif new is None:
                            continue
                        else:
                            status = new.get(attr.COST_STATUS)
                            if status == Status.PRICED:
                                counts.priced += 1
                            elif status == Status.DUPLICATE:
                                counts.duplicates += 1
                            elif status is not None:
                                counts.unpriced += 1
                        apply_attributes(key_values, attributes, new)
                    except Exception:  # a bug of ours must not lose or mangle the span
                        counts.errors += 1
                        if not self._warned:
                            self._warned = True
                            _log.exception("genai-cost gateway: error while pricing a span; forwarded unchanged")
        return counts
