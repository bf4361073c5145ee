"""Side-by-side overhead of Groq instrumentations; prints a Markdown table.

    bash bench/groq_overhead/setup.sh            # once: bench/.venv-groq
    python3 bench/groq_overhead/run.py           # a few minutes on a 2-core machine
    python3 bench/groq_overhead/run.py --quick   # faster, noisier

Variants: the bare SDK call over a mock transport; the floor (the same plus one hand-made span
with 12 attributes); genai-cost (pricing on, budgets off); OpenLLMetry
(opentelemetry-instrumentation-groq). Modes: ``chat.completions.create`` and ``stream=True``.
OpenLIT also instruments groq but pins old SDKs: not measured here.

Method: the OpenAI bench's (bench/README.md), through ``bench/harness``: each (variant, mode) in
fresh processes, interleaved with the variant order rotating; inside a process ABBA batches of
the instrumented call against a paired bare call.
"""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))

from harness.driver import Runs, Table, precompile, save_raw, source_state, venv_python, worker_env  # noqa: E402
from worker import VARIANTS  # noqa: E402  (the worker imports nothing but the standard library at first)

WORKER = HERE / "worker.py"
python_for = partial(venv_python, venv=".venv-groq", openlit_venv=".venv-groq")
TABLE = Table(
    labels={
        "bare": "bare SDK call (mock transport)",
        "floor": "floor: + 1 hand-made span, 12 attributes",
        "genai-cost": "genai-cost (pricing)",
        "openllmetry": "OpenLLMetry opentelemetry-instrumentation-groq 0.62.4",
    },
    modes={"chat": "create", "stream": "stream"},
    peers=("openllmetry",),
)
BATCH_SIZE = {"chat": 5, "stream": 3}
BATCHES = {"chat": 150, "stream": 120}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="processes per (variant, mode)")
    parser.add_argument("--batch-scale", type=float, default=1.0)
    parser.add_argument("--warmup", type=int, default=100, help="untimed calls per side per process")
    parser.add_argument("--startup-runs", type=int, default=5)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--modes", default=",".join(TABLE.modes))
    parser.add_argument("--quick", action="store_true", help="3 repeats, half the batches, 3 start-up runs")
    parser.add_argument("--json", type=Path, help="also write every raw result here")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.batch_scale, args.startup_runs = 3, 0.5, 3
    variants = [v for v in args.variants.split(",") if v]
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants: {', '.join(sorted(unknown))}")
    began = time.monotonic()
    precompile({python_for(v) for v in variants}, HERE, BENCH / "harness")
    runs = Runs(python_for, WORKER, worker_env(("TRACELOOP_", "GROQ_")))
    runs.startup([v for v in variants if v != "floor"], args.startup_runs)
    runs.calls(
        variants,
        modes,
        args.repeats,
        batches=BATCHES,
        batch_size=BATCH_SIZE,
        scale=args.batch_scale,
        options=["--warmup", str(args.warmup)],
    )
    elapsed = time.monotonic() - began
    if args.json:
        save_raw(args.json, args, runs.raw, elapsed)
    info = (
        f"{args.repeats} processes per cell × {round(BATCHES['chat'] * args.batch_scale)} create / "
        f"{round(BATCHES['stream'] * args.batch_scale)} stream batch pairs of {BATCH_SIZE['chat']} / "
        f"{BATCH_SIZE['stream']} calls; start-up: {args.startup_runs} processes per variant; "
        f"total {elapsed / 60:.1f} min; genai-cost at {source_state()}"
    )
    print(TABLE.render(runs.raw, variants, runs.missing, info))


if __name__ == "__main__":
    main()
