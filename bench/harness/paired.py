"""Timed ABBA batches of an instrumented call and its bare twin, in one process.

This machine has slow spells longer than a batch, so separate processes for the two sides give
added times with ±50-150 µs of noise; alternating small batches in one process, each side's
median and the median of the per-pair differences, cuts that to a few µs. Spans are flushed after
every batch outside the timed part (the export thread never falls behind, nothing is dropped) and
counted per side.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

Call = Callable[[], Any]


def measure(
    side: Callable[[bool], Call],
    *,
    provider: Any,
    exporter: Any,
    expected: Any,
    warmup: int,
    batches: int,
    batch_size: int,
    settle: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    """``side(instrumented)`` switches to that side and returns its call; ``settle`` finishes work
    an instrumentation deferred to a thread of its own, outside the timed part."""
    for instrumented in (True, False):
        fn = side(instrumented)
        answer = fn()
        if answer != expected:
            raise SystemExit(f"{'instrumented' if instrumented else 'bare'} side: the caller got {answer!r}")
        for _ in range(warmup):
            fn()
    provider.force_flush()
    settle()

    clock = time.perf_counter_ns
    timed: dict[bool, list[float]] = {True: [], False: []}
    spans = {True: 0, False: 0}
    for pair in range(batches):
        for instrumented in (True, False) if pair % 2 == 0 else (False, True):
            fn = side(instrumented)
            counted = exporter.count
            start = clock()
            for _ in range(batch_size):
                fn()
            timed[instrumented].append((clock() - start) / batch_size / 1000)
            provider.force_flush()
            settle()
            spans[instrumented] += exporter.count - counted
    side(True)
    calls = batches * batch_size
    paired = [a - b for a, b in zip(timed[True], timed[False], strict=True)]
    return {
        "median_us": statistics.median(timed[True]),
        "bare_median_us": statistics.median(timed[False]),
        "paired_added_us": statistics.median(paired),
        "min_us": min(timed[True]),
        "batches": batches,
        "calls": calls,
        "spans_per_call": spans[True] / calls,
        "bare_spans_per_call": spans[False] / calls,
    }
