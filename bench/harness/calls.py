"""``python bench/harness/calls.py BENCH VARIANT MODE N``: N calls of a provider bench's
application (``bench/<BENCH>_overhead/worker.py``) with VARIANT instrumenting, after a warm-up,
spans exported as in the bench. Run under callgrind by ``instructions.sh``: instruction counts per
call are repeatable whatever the machine's load, unlike any timing."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[1]


def main() -> None:
    name, variant, mode, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    sys.path[:0] = [str(BENCH_DIR / f"{name}_overhead"), str(BENCH_DIR)]
    from harness.pipeline import make_pipeline
    from harness.provider import _app_call, _floor_call, _instrument

    bench = importlib.import_module("worker").BENCH
    importlib.import_module(bench.sdk)
    provider, _ = make_pipeline()
    _instrument(bench, variant, provider)
    client = bench.client()
    call = _floor_call(bench, mode, client, provider) if variant == "floor" else _app_call(bench, mode, client)
    for _ in range(50):  # warm-up: lazy imports, caches, the price catalog
        call()
    provider.force_flush()
    for _ in range(count):
        call()
    provider.force_flush()
    provider.shutdown()


if __name__ == "__main__":
    main()
