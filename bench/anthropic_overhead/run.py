"""Side-by-side overhead of Anthropic instrumentations; prints a Markdown table.

    bash bench/anthropic_overhead/setup.sh            # once: bench/.venv-anthropic, bench/.venv-anthropic-openlit
    python3 bench/anthropic_overhead/run.py           # ~6 minutes on a 2-core machine
    python3 bench/anthropic_overhead/run.py --quick   # ~2 minutes, noisier

Variants: the bare SDK call over a mock transport; the floor (the same plus one hand-made span
with 12 attributes); genai-cost (pricing on, budgets off, the SDK's own tracing off); genai-cost
with anthropic's own tracing left on (the default: two spans, the SDK's a ``duplicate``);
anthropic's own tracing alone; OpenLLMetry (opentelemetry-instrumentation-anthropic); OpenLIT.
Modes: ``messages.create`` and ``messages.create(stream=True)``.

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

from harness.driver import Runs, venv_python, Table, precompile, save_raw, source_state, worker_env  # noqa: E402
from worker import VARIANTS  # noqa: E402  (the worker imports nothing but the standard library at first)

WORKER = HERE / "worker.py"
# OpenLIT pins anthropic<1: its own venv (setup.sh), the same versions otherwise.
python_for = partial(venv_python, venv=".venv-anthropic", openlit_venv=".venv-anthropic-openlit")
TABLE = Table(
    labels={
        "bare": "bare SDK call (mock transport, SDK tracing off)",
        "floor": "floor: + 1 hand-made span, 12 attributes",
        "genai-cost": "genai-cost (pricing; SDK tracing off)",
        "genai-cost+budget": "genai-cost + in-memory budget (SDK tracing off)",
        "genai-cost+sdk": "genai-cost + anthropic's own tracing left on (2 spans, theirs `duplicate`)",
        "anthropic-sdk": "anthropic 2.14 built-in tracing alone",
        "openllmetry": "OpenLLMetry opentelemetry-instrumentation-anthropic 0.62.4",
        "openlit": "OpenLIT 1.45.0",
    },
    modes={"chat": "create", "stream": "stream"},
    peers=("anthropic-sdk", "openllmetry", "openlit"),
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
    runs = Runs(python_for, WORKER, worker_env(("TRACELOOP_", "OPENLIT_", "ANTHROPIC_")))
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
