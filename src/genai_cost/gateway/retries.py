"""Retried exports: what the gateway did to the GenAI spans it saw recently, to do it again.

An OTLP exporter that got no answer (a timeout, a reset connection) sends the same request again,
though the gateway may have taken the first one. Pricing the copy again would record its spend in
the budget ledger twice, count it twice in the cost metrics and add it twice to its trace's total.
So each GenAI span's edit (the attributes the gateway added, changed or removed, the events it
added) is kept under its (trace id, span id), and a span seen again is given the same edit without
asking the decider or the ledger: the copy forwarded is byte-identical to the first (downstream
keeps one of the two), and nothing is counted twice.

The window is a count of spans, oldest forgotten first, held in memory only: a retry that arrives
after more than ``limit`` newer GenAI spans, or after a gateway restart, is priced as new. It is
only used under the gateway's ingest lock (one request at a time), so it takes no lock of its own.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, NamedTuple


class SpanEdit(NamedTuple):
    """What enrichment did to one span: ``tail`` (attributes and events appended, in wire format)
    is merged, then ``changed`` values are set and ``removed`` keys dropped in place."""

    tail: bytes = b""
    changed: dict[str, Any] | None = None
    removed: tuple[str, ...] | None = None


UNCHANGED = SpanEdit()


class SeenSpans:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._edits: OrderedDict[bytes, SpanEdit] = OrderedDict()

    def __len__(self) -> int:
        return len(self._edits)

    def get(self, key: bytes) -> SpanEdit | None:
        """The edit made to the span with this ``trace_id + span_id``, if it is still remembered."""
        return self._edits.get(key)

    def remember(self, key: bytes, edit: SpanEdit) -> None:
        edits = self._edits
        edits[key] = edit
        if len(edits) > self.limit:
            edits.popitem(last=False)
