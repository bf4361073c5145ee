"""What every benchmark worker process does around its own calls: the command line, one JSON
line of result, and the start-up measurement."""

from __future__ import annotations

import argparse
import gc
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

Call = Callable[[], Any]


def time_startup(
    *, bare_call: Call, instrument: Callable[[], None], make_call: Callable[[], Call], provider: Any, exporter: Any
) -> dict[str, Any]:
    """With the SDK imported and one bare call done (its lazily imported modules loaded, as an
    application's first call would with or without instrumentation): the wall time of importing
    the instrumentation and instrumenting, then of the first and second instrumented calls."""
    start = time.perf_counter()
    bare_call()
    bare_first_s = time.perf_counter() - start
    gc.collect()
    start = time.perf_counter()
    instrument()
    setup_s = time.perf_counter() - start
    call = make_call()
    start = time.perf_counter()
    call()
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    call()
    second_s = time.perf_counter() - start
    provider.force_flush()
    provider.shutdown()
    return {
        "import_instrument_ms": setup_s * 1000,
        "first_call_ms": first_s * 1000,
        "second_call_ms": second_s * 1000,
        "bare_first_call_ms": bare_first_s * 1000,
        "spans": exporter.count,
    }


def main(
    variants: Sequence[str],
    modes: Sequence[str],
    run_calls: Callable[[argparse.Namespace], dict[str, Any]],
    run_startup: Callable[[argparse.Namespace], dict[str, Any]],
    options: Callable[[argparse.ArgumentParser], None] = lambda parser: None,
) -> None:
    """``worker.py calls|startup VARIANT [MODE] [--warmup N] [--batches N] [--batch-size N]``,
    plus whatever ``options`` adds for one benchmark."""
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("calls", "startup"))
    parser.add_argument("variant", choices=variants)
    parser.add_argument("mode", choices=modes, nargs="?", default=modes[0])
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--batches", type=int, default=150, help="timed batch pairs (instrumented, bare)")
    parser.add_argument("--batch-size", type=int, default=5)
    options(parser)
    args = parser.parse_args()
    try:
        result = run_calls(args) if args.what == "calls" else run_startup(args)
    except ImportError as exc:  # an instrumentation not installed in this venv
        result = {"error": f"ImportError: {exc}"}
    print(json.dumps({"kind": args.what, "variant": args.variant, "mode": args.mode, **result}), flush=True)
