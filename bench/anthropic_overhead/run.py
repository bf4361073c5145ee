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
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
sys.path.insert(0, str(BENCH))

from harness.driver import Table, log, precompile, rotated, run_worker, source_state, worker_env  # noqa: E402

WORKER = HERE / "worker.py"
VARIANTS = ("bare", "floor", "genai-cost", "genai-cost+sdk", "anthropic-sdk", "openllmetry", "openlit")
TABLE = Table(
    labels={
        "bare": "bare SDK call (mock transport, SDK tracing off)",
        "floor": "floor: + 1 hand-made span, 12 attributes",
        "genai-cost": "genai-cost (pricing; SDK tracing off)",
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


def python_for(variant: str) -> str:
    """OpenLIT pins anthropic<1, so it lives in its own venv (same versions otherwise, see setup.sh)."""
    if variant == "openlit":
        return os.environ.get("BENCH_OPENLIT_PYTHON", str(BENCH / ".venv-anthropic-openlit" / "bin" / "python"))
    return os.environ.get("BENCH_PYTHON", str(BENCH / ".venv-anthropic" / "bin" / "python"))


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
    env = worker_env(("TRACELOOP_", "OPENLIT_", "ANTHROPIC_"))
    began = time.monotonic()
    precompile({python_for(v) for v in variants}, HERE, BENCH / "harness")

    raw: list[dict] = []
    missing: dict[str, str] = {}

    def run(what: list[str], variant: str) -> dict:
        result = run_worker(python_for(variant), WORKER, what, env)
        result.setdefault("variant", variant)
        raw.append(result)
        return result

    startup_variants = [v for v in variants if v not in ("floor",)]
    for r in range(args.startup_runs + 1):  # the first pass warms file caches and is not kept
        for v in rotated(startup_variants, r):
            result = run(["startup", v], v)
            if r == 0:
                raw.pop()
                if "error" in result:
                    missing[v] = result["error"]
        startup_variants = [v for v in startup_variants if v not in missing]
    call_variants = [v for v in variants if v not in missing]
    for r in range(args.repeats):
        for mode in modes:
            for v in rotated(call_variants, r):
                batches = max(2, round(BATCHES[mode] * args.batch_scale))
                result = run(
                    [
                        "calls",
                        v,
                        mode,
                        "--warmup",
                        str(args.warmup),
                        "--batches",
                        str(batches),
                        "--batch-size",
                        str(BATCH_SIZE[mode]),
                    ],
                    v,
                )
                if "error" in result:
                    log(f"calls {r + 1}/{args.repeats} {mode} {v}: ERROR {result['error']}")
                else:
                    log(
                        f"calls {r + 1}/{args.repeats} {mode:6} {v:15}: {result['median_us']:8.1f} us/call, "
                        f"added {result['paired_added_us']:7.1f} us, spans/call {result['spans_per_call']:.2f}"
                    )

    elapsed = time.monotonic() - began
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "results": raw}, indent=1))
    info = (
        f"{args.repeats} processes per cell × {round(BATCHES['chat'] * args.batch_scale)} create / "
        f"{round(BATCHES['stream'] * args.batch_scale)} stream batch pairs of {BATCH_SIZE['chat']} / "
        f"{BATCH_SIZE['stream']} calls; start-up: {args.startup_runs} processes per variant; "
        f"total {elapsed / 60:.1f} min; genai-cost at {source_state()}"
    )
    print(TABLE.render(raw, [v for v in variants], missing, info))


if __name__ == "__main__":
    main()
