"""Price the GenAI spans of an ``ExportTraceServiceRequest`` in place.

The decision — price, de-duplicate, roll up to the local root — is ``CostDecider``'s, the same
object ``CostSpanProcessor`` uses on the SDK side. This module only translates: protobuf
``KeyValue`` lists to the attribute mapping the decider reads, and the decider's answer back to
``KeyValue`` edits. Every attribute the decider did not change keeps its original ``AnyValue``
message (compared by identity, never re-encoded), so the rest of the span is byte-identical.

The gateway calls it in three steps so that its ingest lock (which keeps the decider's state to
batches it accepts) is never held while a big span is read or edited: ``read`` decodes the
attribute values of the spans that may be GenAI (no shared state), ``enrich(..., defer=True)``
asks the decider under the lock, and ``apply`` writes the answers into the spans afterwards.
A 6.6 MB span of 400,000 attributes then holds the lock for the decision only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from itertools import islice as _islice
from itertools import repeat as _repeat
from operator import attrgetter
from operator import is_ as _is
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from genai_cost import attributes as attr
from genai_cost.attributes import Status
from genai_cost.gateway.retries import UNCHANGED, SeenSpans, SpanEdit
from genai_cost.gateway.wire import (
    SPAN_EVENT,
    any_value,
    double_prefixes,
    encode_attribute,
    length_delimited,
    pack_double,
    set_any_value,
)
from genai_cost.processor import CostDecider
from genai_cost.span_reader import GENAI_MARKER_KEYS

if TYPE_CHECKING:
    from genai_cost.gateway.budgets import SpendAccounting
    from genai_cost.gateway.spend_metrics import SpendCounters

_log = logging.getLogger(__name__)

# OTLP Span.flags: bit 8 says whether bit 9 (parent is remote) is known, bit 9 that it is
# (SpanFlags in trace.proto). Unknown counts as local, as the SDK's own processor would see it.
_REMOTE_PARENT = 0x100 | 0x200
_ROLLUP_KEYS = (attr.TRACE_AMOUNT, attr.TRACE_CALLS)
_MISSING = object()


def apply_attributes(span: Any, old: Mapping[str, Any], new: Mapping[str, Any]) -> SpanEdit:
    """Turn ``old`` into ``new`` on a span's attributes, touching only what changed; return the
    edit, which replays it on a retried copy of the span."""
    count = len(old)
    # The common case, a priced span: ``new`` is ``old`` (same keys in the same order, the very
    # same value objects) followed by the cost attributes. Checked and encoded with C-level
    # loops (map, islice) rather than a Python step per attribute.
    if (
        len(new) > count
        and all(map(_is, map(new.get, old, _repeat(_MISSING)), old.values()))
        and list(_islice(new, count)) == list(old)
    ):
        edit = SpanEdit(_encode_entries(_islice(new.items(), count, None)), None, None)
        span.MergeFromString(edit.tail)
        return edit
    appended = []
    changed = {}
    for key, value in new.items():
        previous = old.get(key, _MISSING)
        if previous is value:
            continue
        if previous is _MISSING:
            appended.append(encode_attribute(key, value))
        else:
            changed[key] = value
    removed = tuple(key for key in old if key not in new)
    edit = SpanEdit(b"".join(appended), changed or None, removed or None)
    replay_edit(span, edit)
    return edit


def _encode_entries(items: Iterable[tuple[str, Any]]) -> bytes:
    """``encode_attribute`` over many entries; a double (every amount) inline: its key's fixed
    prefix and 8 bytes."""
    prefixes = double_prefixes
    pack = pack_double
    parts = []
    for key, value in items:
        if type(value) is float and key in prefixes:
            parts.append(prefixes[key] + pack(value))
        else:
            parts.append(encode_attribute(key, value))
    return b"".join(parts)


def replay_edit(span: Any, edit: SpanEdit) -> None:
    if edit.tail:
        span.MergeFromString(edit.tail)
    changed = edit.changed or {}
    removed = edit.removed or ()
    if not changed and not removed:
        return
    key_values = span.attributes
    for index in range(len(key_values) - 1, -1, -1):
        kv = key_values[index]
        if kv.key in changed:
            kv.value.Clear()
            set_any_value(kv.value, changed[kv.key])
        elif kv.key in removed:
            del key_values[index]


_keys_of = attrgetter("key")


def _decode(key_values: Any) -> dict[str, Any]:
    """Every attribute's scalar value (arrays, maps and bytes stay messages). ``any_value``
    inlined, its None check left to the rare empty value's TypeError: this loop is the hot path."""
    attributes = {}
    try:
        for kv in key_values:
            value = kv.value
            attributes[kv.key] = getattr(value, value.WhichOneof("value"))
    except TypeError:  # an AnyValue with nothing set
        return {kv.key: any_value(kv.value) for kv in key_values}
    return attributes


def _events_since(span: Any, count: int) -> bytes:
    """The span's events after its first ``count``, as ``Span.events`` entries in wire format."""
    return b"".join(length_delimited(SPAN_EVENT, event.SerializeToString()) for event in span.events[count:])


class SpansRead(NamedTuple):
    """``Enricher.read``: a request's spans, their scope names and decoded GenAI attributes."""

    spans: list[Any]
    scopes: list[str | None]
    decoded: list[dict[str, Any] | None]


class PendingEdit(NamedTuple):
    span: Any
    attributes: dict[str, Any]
    new: dict[str, Any]
    seen_key: bytes | None


@dataclass
class EnrichCounts:
    spans: int = 0
    priced: int = 0
    unpriced: int = 0
    duplicates: int = 0
    passed_priced: int = 0  # GenAI spans that arrived priced (left alone)
    errors: int = 0
    retried: int = 0  # GenAI spans seen before (a retried export): given their first edit again
    pending: list[PendingEdit] | None = None  # with enrich(defer=True): edits for ``apply``


class Enricher:
    def __init__(
        self,
        decider: CostDecider,
        accounting: SpendAccounting | None = None,
        seen: SeenSpans | None = None,
        spend: SpendCounters | None = None,
    ) -> None:
        self.decider = decider
        self.accounting = accounting  # budgets: the spend of priced spans, settled in the ledger
        self.seen = seen  # recent GenAI spans' edits, so a retried export is not priced twice
        self.spend = spend  # the /metrics spend and call counters (a retried span is not counted again)
        self._warned = False

    def read(self, request: Any) -> SpansRead:
        """Each span, its scope name, and the decoded attribute values of those that carry a GenAI
        key (None for the others), in request order. No shared state: callers run this outside
        their lock. Parallel lists rather than a tuple per span keep the collector's work down."""
        markers = GENAI_MARKER_KEYS
        spans: list[Any] = []
        scopes: list[str | None] = []
        decoded: list[dict[str, Any] | None] = []
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                scope = scope_spans.scope.name or None
                for span in scope_spans.spans:
                    spans.append(span)
                    scopes.append(scope)
                    # Most spans of a trace are HTTP, DB, queue spans: a key scan says "not
                    # GenAI" without decoding a value.
                    key_values = span.attributes
                    decoded.append(None if markers.isdisjoint(map(_keys_of, key_values)) else _decode(key_values))
        return SpansRead(spans, scopes, decoded)

    def enrich(self, request: Any, reads: SpansRead | None = None, *, defer: bool = False) -> EnrichCounts:
        """Add cost attributes to every GenAI span of ``request`` (in place); count what happened.

        ``reads``: ``read(request)``, done beforehand outside the caller's lock. ``defer``: leave
        the edits in ``counts.pending`` for ``apply`` (also outside the lock)."""
        counts = EnrichCounts(pending=[] if defer else None)
        decider = self.decider
        decide = decider.decide
        from_bytes = int.from_bytes
        accounting = self.accounting
        seen = self.seen
        spend = self.spend
        spans, scopes, decoded = self.read(request) if reads is None else reads
        # Spans whose cost goes to the budget ledger: written back once the whole request is
        # accounted (one ledger operation per request, not per span).
        to_account: list[tuple[Any, dict[str, Any], dict[str, Any]]] = []
        for span, scope, attributes in zip(spans, scopes, decoded, strict=True):
            parent = span.parent_span_id
            is_local_root = not parent or span.flags & _REMOTE_PARENT == _REMOTE_PARENT
            counts.spans += 1
            # A local root may owe a trace total though it is no GenAI span.
            candidate = attributes is not None or (is_local_root and decider.traces)
            # A root given its trace's total is remembered too: on a retry no total is left
            # in the decider to tell it is one.
            if not candidate and not (is_local_root and seen is not None):
                continue
            seen_key = None
            if seen is not None:
                seen_key = span.trace_id + span.span_id
                edit = seen.get(seen_key)
                if edit is not None:
                    counts.retried += 1
                    replay_edit(span, edit)
                    continue
                if not candidate:
                    continue
            if attributes is None:
                attributes = _decode(span.attributes)
            try:
                new = decide(
                    attributes,
                    scope,
                    from_bytes(span.trace_id, "big"),
                    from_bytes(span.span_id, "big"),
                    from_bytes(parent, "big") if parent else None,
                    bool(parent) and is_local_root,
                    span.start_time_unix_nano or None,
                    span.end_time_unix_nano or None,
                )
                if spend is not None:  # what is forwarded: as it arrived if priced upstream
                    spend.observe(new if new is not None and attr.COST_STATUS not in attributes else attributes)
                if attr.COST_STATUS in attributes or attr.COST_AMOUNT in attributes:
                    # Priced upstream (an SDK with our processor): left alone but for the
                    # trace roll-up, which this tier may see more of, and the budget
                    # decision when the gateway accounts such spans (account_prepriced).
                    counts.passed_priced += 1
                    account = (
                        accounting is not None
                        and accounting.counts(attributes, False)
                        and (new is None or new.get(attr.COST_STATUS) != Status.DUPLICATE)
                    )
                    if new is None and not account:
                        if seen_key is not None:
                            seen.remember(seen_key, UNCHANGED)  # type: ignore[union-attr]
                        continue
                    rollup = {k: new[k] for k in _ROLLUP_KEYS if k in new} if new is not None else {}
                    new = {**attributes, **rollup}
                    if account:
                        to_account.append((span, attributes, new))
                        continue
                elif new is None:
                    continue  # not GenAI, no trace total: nothing to do again on a retry
                else:
                    status = new.get(attr.COST_STATUS)
                    if status == Status.PRICED:
                        counts.priced += 1
                        if accounting is not None and accounting.counts(new, True):
                            to_account.append((span, attributes, new))
                            continue
                    elif status == Status.DUPLICATE:
                        counts.duplicates += 1
                    elif status is not None:
                        counts.unpriced += 1
                if counts.pending is not None:
                    counts.pending.append(PendingEdit(span, attributes, new, seen_key))
                    continue
                edit = apply_attributes(span, attributes, new)
                if seen_key is not None:
                    seen.remember(seen_key, edit)  # type: ignore[union-attr]
            except Exception:  # a bug of ours must not lose or mangle the span
                counts.errors += 1
                self._warn_once("genai-cost gateway: error while pricing a span; forwarded unchanged")
        if to_account and accounting is not None:
            self._account(accounting, to_account, counts)
        return counts

    def apply(self, pending: list[PendingEdit]) -> list[tuple[bytes, SpanEdit]]:
        """Write deferred edits into their spans; what ``remember`` must keep for retried copies."""
        remembered = []
        for span, attributes, new, seen_key in pending:
            try:
                edit = apply_attributes(span, attributes, new)
            except Exception:
                self._warn_once("genai-cost gateway: error while pricing a span; forwarded unchanged")
                continue
            if seen_key is not None:
                remembered.append((seen_key, edit))
        return remembered

    def remember(self, edits: list[tuple[bytes, SpanEdit]]) -> None:
        if self.seen is not None:
            for key, edit in edits:
                self.seen.remember(key, edit)

    def _warn_once(self, message: str) -> None:
        if not self._warned:
            self._warned = True
            _log.exception(message)

    def _account(
        self, accounting: SpendAccounting, spans: list[tuple[Any, dict[str, Any], dict[str, Any]]], counts: EnrichCounts
    ) -> None:
        events_before = [len(span.events) for span, _, _ in spans]
        try:
            accounting.account([(span, new) for span, _, new in spans])
        except Exception:  # a bug of ours costs the budget attributes, never the price
            counts.errors += 1
            if not self._warned:
                self._warned = True
                _log.exception("genai-cost gateway: error while accounting spend; spans forwarded priced, unaccounted")
        seen = self.seen
        for (span, attributes, new), events in zip(spans, events_before, strict=True):
            edit = apply_attributes(span, attributes, new)
            if seen is not None:
                # The budget's threshold events are part of what a retried copy must carry.
                seen.remember(span.trace_id + span.span_id, edit._replace(tail=edit.tail + _events_since(span, events)))
