"""Side-by-side overhead of OpenAI instrumentations; prints a Markdown table.

    bash bench/openai_overhead/setup.sh            # once: builds bench/.venv and bench/.venv-openlit
    python3 bench/openai_overhead/run.py           # ~8 minutes on a 2-core machine
    python3 bench/openai_overhead/run.py --quick   # ~2 minutes, noisier

Variants: the bare SDK call over a mock transport; the floor (the same plus one hand-made span
with 12 attributes); genai-cost (pricing and an in-memory budget; also pricing only, and with
metrics on the caller's thread; set up as a user does); the official
opentelemetry-instrumentation-genai-openai and the older official openai-v2; OpenLLMetry
(opentelemetry-instrumentation-openai); OpenLIT; OpenInference. Modes: non-streaming and streaming chat completions.

Method (see bench/README.md): each (variant, mode) runs in a fresh process (``worker.py``);
processes are interleaved, the variant order rotating each repeat. Inside a process, timed
batches of the instrumented call alternate (ABBA) with batches of the bare call, made by
switching the instrumentation's patches off, so each process measures its own added time
against a paired control. Per process: median batch; over processes: median of medians.
Spans are flushed after every batch, outside the timed part, and counted.
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

from harness.driver import Runs, venv_python, median, precompile, quartiles, save_raw, source_state, worker_env  # noqa: E402
from worker import MODES, VARIANTS  # noqa: E402  (the worker imports nothing but the standard library at first)

WORKER = HERE / "worker.py"
# OpenLIT pins openai<3: its own venv (setup.sh), the same versions otherwise.
python_for = partial(venv_python, venv=".venv", openlit_venv=".venv-openlit")

LABELS = {
    "bare": "bare SDK call (mock transport)",
    "floor": "floor: + 1 hand-made span, 12 attributes",
    "genai-cost": "genai-cost (pricing + in-memory budget)",
    "genai-cost-nobudget": "genai-cost, pricing only (no budget)",
    "genai-cost-inline": "genai-cost + budget, all of it on the call (span completed and metrics recorded on the caller's thread)",
    "genai-cost-user": "genai-cost + budget, set up as a user does (configure() only, metrics not drained)",
    "official": "official opentelemetry-instrumentation-genai-openai",
    "openai-v2": "official opentelemetry-instrumentation-openai-v2",
    "openllmetry": "OpenLLMetry opentelemetry-instrumentation-openai",
    "openlit": "OpenLIT",
    "openinference": "OpenInference openinference-instrumentation-openai",
}
PEERS = ("official", "openai-v2", "openllmetry", "openlit", "openinference")
# Small batches, many of them, alternating with bare batches: this machine's slow spells last
# longer than a batch (~5 ms), so they hit both sides of a pair alike.
BATCH_SIZE = {"chat": 5, "stream": 2}
BATCHES = {"chat": 150, "stream": 120}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7, help="processes per (variant, mode)")
    parser.add_argument(
        "--batch-scale", type=float, default=1.0, help="scale the batch pairs per process (chat 150, stream 120)"
    )
    parser.add_argument("--warmup", type=int, default=100, help="untimed calls per side per process")
    parser.add_argument(
        "--startup-runs", type=int, default=7, help="fresh processes per variant for import+instrument()"
    )
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument(
        "--content", choices=("off", "default"), default="off", help="off: no variant records message content (default)"
    )
    parser.add_argument("--quick", action="store_true", help="3 repeats, 10 batch pairs, 3 start-up runs")
    parser.add_argument("--json", type=Path, help="also write every raw result here")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.batch_scale, args.startup_runs, args.warmup = 3, 0.5, 3, 100
    variants = tuple(v for v in args.variants.split(",") if v)
    modes = tuple(m for m in args.modes.split(",") if m)
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v}")
    began = time.monotonic()
    precompile({python_for(v) for v in variants}, HERE, BENCH / "harness")
    runs = Runs(python_for, WORKER, worker_env(("TRACELOOP_", "OPENINFERENCE_", "OPENLIT_")))
    content = ["--content", args.content]
    # bare: the reference for "first call" (no set-up to time); floor and -inline: as bare / genai-cost.
    runs.startup([v for v in variants if v not in ("floor", "genai-cost-inline")], args.startup_runs, content)
    for sibling in ("genai-cost-inline", "genai-cost-nobudget"):
        if "genai-cost" in runs.missing and sibling in variants:
            runs.missing[sibling] = runs.missing["genai-cost"]
    runs.calls(
        variants,
        modes,
        args.repeats,
        batches=BATCHES,
        batch_size=BATCH_SIZE,
        scale=args.batch_scale,
        options=["--warmup", str(args.warmup), *content],
    )
    elapsed = time.monotonic() - began
    if args.json:
        save_raw(args.json, args, runs.raw, elapsed)
    print(render(runs.raw, variants, modes, runs.missing, args, elapsed))


def summarize(raw: list[dict], variants, modes) -> dict:
    out: dict = {}
    for v in variants:
        for mode in modes:
            runs = [
                x
                for x in raw
                if x.get("kind") == "calls" and x["variant"] == v and x["mode"] == mode and "error" not in x
            ]
            if not runs:
                continue
            added = [x["paired_added_us"] for x in runs]
            out[(v, mode)] = {
                "per_call": median([x["median_us"] for x in runs]),
                "bare": median([x["bare_median_us"] for x in runs]),
                "added": median(added),
                "added_iqr": quartiles(added),
                "spans": [x["spans_per_call"] for x in runs],
                "bare_spans": [x["bare_spans_per_call"] for x in runs],
                "attrs": runs[-1]["sample_span"]["attributes"] if runs[-1].get("sample_span") else 0,
                "events": runs[-1]["sample_span"]["events"] if runs[-1].get("sample_span") else 0,
                "usage_requested": median([x["usage_requested_per_call"] for x in runs]),
                "usage_chunks_seen": median([x["usage_chunks_seen_per_call"] for x in runs]),
                "cost": runs[-1]["sample_span"].get("cost") if runs[-1].get("sample_span") else None,
                "processes": len(runs),
            }
        starts = [x for x in raw if x.get("kind") == "startup" and x["variant"] == v and "error" not in x]
        if starts:
            out[(v, "startup")] = {
                "import_instrument_ms": median([x["import_instrument_ms"] for x in starts]),
                "first_call_ms": median([x["first_call_ms"] for x in starts]),
                "runs": len(starts),
            }
    return out


def render(raw, variants, modes, missing, args, elapsed) -> str:
    s = summarize(raw, variants, modes)

    def fmt(value, spec=".0f"):
        return "—" if value is None else format(value, spec)

    def spans_cell(values):
        if not values:
            return "—"
        low, high = min(values), max(values)
        return f"{low:.2f}" if abs(high - low) < 0.005 else f"{low:.2f}–{high:.2f}"

    header = ["variant"]
    for mode in modes:
        name = "chat" if mode == "chat" else "stream"
        header += [f"{name}: µs/call", f"{name}: added µs (IQR)", f"{name}: × floor"]
    header += ["spans/call", "attrs/span", "import+instrument ms", "first call ms"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for v in variants:
        if v in missing:
            lines.append(f"| {LABELS[v]} | " + " | ".join(["not run"] * (len(header) - 1)) + " |")
            continue
        row = [LABELS[v]]
        spans_all: list[float] = []
        attrs = []
        for mode in modes:
            cell = s.get((v, mode))
            floor = s.get(("floor", mode))
            if cell is None:
                row += ["—", "—", "—"]
                continue
            spans_all += cell["spans"]
            if cell["attrs"]:
                attrs.append(str(cell["attrs"]))
            if v == "bare":
                row += [fmt(cell["per_call"]), "0 (A/A: " + fmt(cell["added"], "+.0f") + ")", "—"]
                continue
            iqr = cell["added_iqr"]
            iqr_text = f" ({iqr[0]:.0f}–{iqr[1]:.0f})" if iqr else ""
            ratio = (
                cell["added"] / floor["added"]
                if floor and floor["added"] and v != "floor"
                else (1.0 if v == "floor" else None)
            )
            row += [
                fmt(cell["per_call"]),
                fmt(cell["added"]) + iqr_text,
                fmt(ratio, ".2f") + "×" if ratio is not None else "—",
            ]
        row.append(spans_cell(spans_all))
        row.append("/".join(attrs) if attrs else "—")
        st = s.get((v, "startup"))
        row.append(fmt(st["import_instrument_ms"]) if st and v != "bare" else "—")
        row.append(fmt(st["first_call_ms"], ".1f") if st else "—")
        lines.append("| " + " | ".join(row) + " |")

    notes = []
    for mode in modes:
        bares = [s[(v, mode)]["bare"] for v in variants if (v, mode) in s]
        if bares:
            notes.append(f"paired bare call ({mode}) across all processes: {min(bares):.0f}–{max(bares):.0f} µs")
    gc_cell = {m: s.get(("genai-cost", m)) for m in modes}
    verdict = []
    for mode in modes:
        floor = s.get(("floor", mode))
        for variant in ("genai-cost", "genai-cost-nobudget"):
            ours = s.get((variant, mode))
            if not ours or not floor:
                continue
            ratio = ours["added"] / floor["added"]
            peers = {p: s[(p, mode)]["added"] for p in PEERS if (p, mode) in s}
            beaten = [p for p, a in peers.items() if ours["added"] >= a]
            excess = ours["added"] - 1.10 * floor["added"]
            goal = "met" if ratio <= 1.10 else f"MISSED by {excess:.0f} µs"
            verdict.append(
                f"{mode}: {LABELS[variant]} adds {ours['added']:.0f} µs = {ratio:.2f}× the floor "
                f"(goal ≤ 1.10×: {goal}); "
                + ("less than every peer" if not beaten else "NOT less than " + ", ".join(beaten))
            )
        ours = gc_cell.get(mode)
        if not ours or not floor:
            continue
        if mode == "stream":
            verdict.append(
                f"stream: usage requested by genai-cost on {ours['usage_requested']:.0%} of calls; "
                f"usage-only chunks the caller saw: {ours['usage_chunks_seen']:.2f}/call"
            )
    st = s.get(("genai-cost", "startup"))
    if st:
        verdict.append(
            f"start-up: genai-cost import+instrument() {st['import_instrument_ms']:.0f} ms (goal ≤ 100 ms: "
            f"{'met' if st['import_instrument_ms'] <= 100 else 'MISSED'}); first call {st['first_call_ms']:.1f} ms"
        )
    for v, why in missing.items():
        verdict.append(f"{v}: not measured — {why}")
    info = (
        f"{args.repeats} processes per cell × {round(BATCHES['chat'] * args.batch_scale)} chat / "
        f"{round(BATCHES['stream'] * args.batch_scale)} stream batch pairs "
        f"of {BATCH_SIZE['chat']} / {BATCH_SIZE['stream']} calls, "
        f"start-up: {args.startup_runs} processes per variant; content capture: {args.content}; "
        f"total {elapsed / 60:.1f} min; genai-cost at {source_state()}"
    )
    out = "\n".join(lines) + "\n\n" + info + "\n"
    if verdict:
        out += "\n" + "\n".join(f"- {v}" for v in verdict) + "\n"
    if notes:
        out += "\n" + "\n".join(f"- {n}" for n in notes) + "\n"
    return out


if __name__ == "__main__":
    main()
