"""Timed ABBA batches of an instrumented call and its bare twin, in one process.

This machine has slow spells longer than a batch, so separate processes for the two sides give
added times with ±50-150 µs of noise; alternating small batches in one process, each side's
median and the median of the per-pair differences, cuts that to a few µs. Spans are flushed after
every batch outside the timed part (the export thread never falls behind, nothing is dropped) and
counted per side.
"""

from __future__ import annotations

import statistics
import sys
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
    counters: Callable[[], dict[str, int]] = dict,
) -> dict[str, Any]:
    """``side(instrumented)`` switches to that side and returns its call; ``settle`` finishes work
    an instrumentation deferred to a thread of its own, outside the timed part; ``counters``
    reads running totals a benchmark keeps besides spans (requests the transport saw, chunks the
    caller read), reported per instrumented call as ``<name>_per_call``."""
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
    counted_extra: dict[str, int] = dict.fromkeys(counters(), 0)
    for pair in range(batches):
        for instrumented in (True, False) if pair % 2 == 0 else (False, True):
            fn = side(instrumented)
            counted, extra = exporter.count, counters()
            start = clock()
            for _ in range(batch_size):
                fn()
            timed[instrumented].append((clock() - start) / batch_size / 1000)
            provider.force_flush()
            settle()
            spans[instrumented] += exporter.count - counted
            if instrumented:
                for name, total in counters().items():
                    counted_extra[name] += total - extra[name]
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
        **{f"{name}_per_call": total / calls for name, total in counted_extra.items()},
    }


def settle_genai_cost() -> None:
    """genai-cost queues its metric recordings to a thread of its own: drain it outside the
    timed part, so its work cannot land in the next (bare) batch."""
    from genai_cost.metrics import cost_metrics

    cost_metrics().flush()


def measure_variant(
    variant: str,
    args: Any,
    *,
    call: Call,
    bare_call: Call,
    provider: Any,
    exporter: Any,
    expected: Any,
    toggle: Any = None,
    counters: Callable[[], dict[str, int]] = dict,
) -> dict[str, Any]:
    """``measure`` for one worker's variant, then the provider shut down and what the worker
    reports besides the timings: the spans' scopes and a summary of one of the variant's own.
    With a ``PatchToggle``, the bare side is ``bare_call`` with the patches switched off."""
    # genai-cost-user leaves its metrics thread alone, as an application (and the harness) does.
    drains = variant.startswith("genai-cost") and variant != "genai-cost-user"
    settle = settle_genai_cost if drains else lambda: None

    def side(instrumented: bool) -> Call:
        if toggle is not None:
            toggle.set(instrumented)
        return call if instrumented else bare_call

    result = measure(
        side,
        provider=provider,
        exporter=exporter,
        expected=expected,
        warmup=args.warmup,
        batches=args.batches,
        batch_size=args.batch_size,
        settle=settle,
        counters=counters,
    )
    provider.shutdown()
    ours = "genai_cost" if variant.startswith("genai-cost") else None
    if ours is None and exporter.scopes:  # the floor's, or a peer's: the scope most spans came from
        ours = max(exporter.scopes, key=exporter.scopes.get)
    return {
        **result,
        "patches": len(toggle.changes) if toggle is not None else 0,
        "scopes": dict(exporter.scopes),
        "sample_span": exporter.samples.get(ours) if ours else None,
        "samples": exporter.samples,
        "python": sys.executable,
    }
