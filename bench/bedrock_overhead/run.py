"""Overhead of genai-cost on Bedrock Converse; prints a Markdown table.

    python3 bench/bedrock_overhead/run.py           # ~4 minutes on a 2-core machine
    python3 bench/bedrock_overhead/run.py --quick   # ~1.5 minutes, noisier

Variants: the bare boto3 call over an in-process answer (``mock_bedrock.py``: real serialising,
SigV4 signing and parsing, no socket); the floor (the same plus one hand-made span with 12
attributes); genai-cost (pricing on, budgets off); genai-cost with one in-memory budget.
Modes: ``converse`` and ``converse_stream``.
No peer is measured: the issue asks for these three.

Method: the OpenAI bench's (bench/README.md), through ``bench/harness``: each (variant, mode) in
fresh processes, interleaved with the variant order rotating; inside a process ABBA batches of
the instrumented call against a paired bare call. Runs on the project's own ``.venv`` (boto3 is
in the ``test`` extra), or ``BENCH_PYTHON``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))

from harness.driver import REPO, Runs, Table, precompile, source_state, worker_env  # noqa: E402

WORKER = HERE / "worker.py"
VARIANTS = ("bare", "floor", "genai-cost", "genai-cost+budget")
TABLE = Table(
    labels={
        "bare": "bare boto3 call (in-process answer)",
        "floor": "floor: + 1 hand-made span, 12 attributes",
        "genai-cost": "genai-cost (pricing; budgets off)",
        "genai-cost+budget": "genai-cost + one in-memory budget (reserve + settle per call)",
    },
    modes={"chat": "converse", "stream": "converse_stream"},
    peers=(),
)
BATCH_SIZE = {"chat": 5, "stream": 3}
BATCHES = {"chat": 150, "stream": 120}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="processes per (variant, mode)")
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="3 repeats, half the batches, 3 start-up runs")
    args = parser.parse_args()
    scale = 0.5 if args.quick else 1.0
    if args.quick:
        args.repeats, args.startup_runs = 3, 3
    python = os.environ.get("BENCH_PYTHON", str(REPO / ".venv" / "bin" / "python"))
    began = time.monotonic()
    precompile({python}, HERE, BENCH / "harness")
    runs = Runs(lambda variant: python, WORKER, worker_env(("AWS_",)))
    runs.startup(("bare", "genai-cost", "genai-cost+budget"), args.startup_runs)
    runs.calls(
        VARIANTS, TABLE.modes, args.repeats, batches=BATCHES, batch_size=BATCH_SIZE, scale=scale, stop_on_error=True
    )

    info = (
        f"{args.repeats} processes per cell × {round(BATCHES['chat'] * scale)} converse / "
        f"{round(BATCHES['stream'] * scale)} stream batch pairs of {BATCH_SIZE['chat']} / {BATCH_SIZE['stream']} "
        f"calls; start-up: {args.startup_runs} processes; total {(time.monotonic() - began) / 60:.1f} min; "
        f"genai-cost at {source_state()}"
    )
    print(TABLE.render(runs.raw, VARIANTS, runs.missing, info))


if __name__ == "__main__":
    main()
