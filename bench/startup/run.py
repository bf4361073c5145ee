"""Start-up time and memory of an app that uses openai, with all four SDKs genai-cost supports
installed (openai, anthropic, google-genai, boto3): bare, with the official OpenTelemetry GenAI
instrumentation, with OpenLLMetry, with ``genai_cost.configure()``, and under
``opentelemetry-instrument``.

    .venv/bin/python bench/startup/run.py [--rounds 7] [--src DIR] [--label NAME]

``--src DIR`` runs genai-cost from another source tree (``DIR/src`` put first on ``PYTHONPATH``),
e.g. an earlier commit unpacked with ``git archive COMMIT src | tar -x -C DIR``: the "before"
column. Every measure is a fresh process (``worker.py`` in-process steps, ``app.py`` under the
launcher); variants are interleaved round by round so machine load hits all alike; medians.

Goals (issue 10): ``configure()`` in an app that imported openai costs at most a quarter of
``import openai``; the price data costs at most +15 MB RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
PYTHON = sys.executable
INSTRUMENT = str(Path(PYTHON).with_name("opentelemetry-instrument"))

IN_PROCESS = ["bare", "otel-sdk", "official", "openllmetry", "genai-cost", "genai-cost-first", "prices"]
IN_PROCESS += ["prices-no-openai"]
# Zero-code: the app under the launcher. Other openai/botocore instrumentations are switched off
# so the rows are genai-cost's own; "launcher only" switches genai-cost off too.
OTHERS_OFF = "openai,botocore,aiobotocore"
ZERO_CODE = {
    "python app.py": None,
    "opentelemetry-instrument, nothing enabled": {
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "*",
        "GENAI_COST_ENABLED": "false",
    },
    "opentelemetry-instrument, genai-cost": {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": OTHERS_OFF},
}


def environment(src: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GENAI_COST_", "PYTHON"))}
    env.update(OTEL_TRACES_EXPORTER="none", OTEL_METRICS_EXPORTER="none", OTEL_LOGS_EXPORTER="none")
    if src is not None:
        env["PYTHONPATH"] = str(src / "src")
    return env


def run_json(cmd: list[str], env: dict[str, str]) -> dict[str, object]:
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    wall_ms = (time.perf_counter() - t0) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{cmd} failed:\n{done.stderr[-3000:]}")
    out: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    out["wall_ms"] = wall_ms
    out["stderr_lines"] = len(done.stderr.splitlines())
    return out


def median(rows: list[dict[str, object]], key: str) -> float:
    values = [float(r[key]) for r in rows if key in r]  # type: ignore[arg-type]
    return statistics.median(values) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--src", type=Path, help="run genai-cost from DIR/src (a 'before' tree)")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    env = environment(args.src)
    results: dict[str, list[dict[str, object]]] = {v: [] for v in [*IN_PROCESS, *ZERO_CODE]}
    for _ in range(args.rounds):
        for variant in IN_PROCESS:
            results[variant].append(run_json([PYTHON, str(HERE / "worker.py"), variant], env))
        for name, extra in ZERO_CODE.items():
            cmd = [PYTHON, str(HERE / "app.py")] if extra is None else [INSTRUMENT, PYTHON, str(HERE / "app.py")]
            results[name].append(run_json(cmd, {**env, **(extra or {})}))

    label = args.label or (f"genai-cost from {args.src}" if args.src else "genai-cost from this checkout")
    print(f"## {label}: medians of {args.rounds} fresh processes per row\n")
    bare_import = median(results["bare"], "import_ms")
    print(
        "| in-process (app imports openai, then sets up) | import openai ms | set-up ms | set-up / import"
        " | RSS MB after | + RSS MB | SDKs imported |"
    )
    print("|---|---|---|---|---|---|---|")
    for variant in IN_PROCESS:
        rows = results[variant]
        step = median(rows, "step_ms")
        rss_before = median(rows, "rss_import") if variant != "prices-no-openai" else median(rows, "rss_start")
        rss_after = median(rows, "rss_prices") if "rss_prices" in rows[0] else median(rows, "rss_step")
        if variant.endswith("-first"):  # set-up before the app's import: patches go on inside that import
            rss_before = median(results["bare"], "rss_import")
        imp = median(rows, "import_ms")
        ratio = step / bare_import if step == step else float("nan")
        sdks = ",".join(rows[-1].get("sdks", []))  # type: ignore[arg-type]
        print(
            f"| {variant} | {imp:.0f} | {step:.0f} | {ratio:.2f} | {rss_after:.1f}"
            f" | {rss_after - rss_before:+.1f} | {sdks} |"
        )
    print(
        "\n| zero-code (`import openai` app) | process wall ms | import openai ms (patches inside)"
        " | RSS MB at end | stderr lines | SDKs imported |"
    )
    print("|---|---|---|---|---|---|")
    for name in ZERO_CODE:
        rows = results[name]
        sdks = ",".join(rows[-1].get("sdks", []))  # type: ignore[arg-type]
        print(
            f"| {name} | {median(rows, 'wall_ms'):.0f} | {median(rows, 'import_ms'):.0f} | "
            f"{median(rows, 'rss_end'):.1f} | {max(int(r['stderr_lines']) for r in rows)} | {sdks} |"  # type: ignore[call-overload]
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
