"""Fresh worker processes, interleaved, and the Markdown table of their results.

Each (variant, mode) runs in a fresh process, several times, the variant order rotating every
repeat; per cell: median over processes of each process's medians, IQR over processes.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def venv_python(variant: str, venv: str, openlit_venv: str) -> str:
    """The interpreter a variant runs on: OpenLIT pins old SDK majors, so each bench gives it a
    venv of its own (``harness/venvs.sh``); BENCH_PYTHON / BENCH_OPENLIT_PYTHON choose others."""
    if variant == "openlit":
        return os.environ.get("BENCH_OPENLIT_PYTHON", str(REPO / "bench" / openlit_venv / "bin" / "python"))
    if variant == "openai-v2":  # needs an older opentelemetry-util-genai than genai-openai (setup.sh)
        return str(REPO / "bench" / ".venv-openai-v2" / "bin" / "python")
    return os.environ.get("BENCH_PYTHON", str(REPO / "bench" / venv / "bin" / "python"))


def worker_env(clear_prefixes: tuple[str, ...]) -> dict[str, str]:
    env = dict(os.environ)
    # Imports must hit cached bytecode, as with any pip-installed package (this sandbox sets it).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # Every library on its defaults: no content capture, no config file, no exporter from OTEL_*.
    for key in list(env):
        if key.startswith(("OTEL_", "GENAI_COST_", *clear_prefixes)):
            del env[key]
    env["OTEL_LOGS_EXPORTER"] = "none"  # OpenLIT would install a console log exporter
    return env


def run_worker(python: str, worker: Path, args: list[str], env: dict[str, str], timeout: float = 240) -> dict:
    proc = subprocess.run(
        [python, str(worker), *args], capture_output=True, text=True, env=env, timeout=timeout, cwd=worker.parent
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    return json.loads(lines[-1])


def rotated(items: Sequence[str], shift: int) -> list[str]:
    shift %= len(items)
    return list(items[shift:]) + list(items[:shift])


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def quartiles(values: list[float]) -> tuple[float, float] | None:
    if len(values) < 2:
        return None
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def precompile(pythons: set[str], *paths: Path) -> None:
    """Cache bytecode for the editable genai-cost and the harness in every venv used."""
    for python in sorted(pythons):
        subprocess.run(
            [python, "-m", "compileall", "-q", str(REPO / "src" / "genai_cost"), *map(str, paths)],
            capture_output=True,
        )


def source_state() -> str:
    """Which genai-cost was measured: the commit, and whether src/ had uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "src"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "unknown"
    return f"{commit}{' + uncommitted changes in src/' if dirty else ''}"


def save_raw(path: Path, args: Any, raw: list[dict], elapsed_s: float) -> None:
    """Every raw result and the arguments that made them, for ``--json FILE``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = {k: str(v) for k, v in vars(args).items()}
    path.write_text(json.dumps({"args": settings, "elapsed_s": elapsed_s, "results": raw}, indent=1))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Runs:
    """The worker processes of one benchmark run and their raw results: start-up passes, then
    call cells, each in a fresh process, the variant order rotating every repeat."""

    def __init__(self, python_for: Callable[[str], str], worker: Path, env: dict[str, str]) -> None:
        self.python_for = python_for
        self.worker = worker
        self.env = env
        self.raw: list[dict] = []
        self.missing: dict[str, str] = {}

    def run(self, what: list[str], variant: str) -> dict:
        result = run_worker(self.python_for(variant), self.worker, what, self.env)
        result.setdefault("variant", variant)
        return result

    def startup(self, variants: Sequence[str], runs: int, options: Sequence[str] = ()) -> None:
        """A first untimed pass (file caches, bytecode; a variant that fails it is ``missing``),
        then ``runs`` kept passes."""
        for v in variants:
            result = self.run(["startup", v, *options], v)
            if "error" in result:
                self.missing[v] = result["error"]
                log(f"{v}: unavailable: {result['error']}")
        kept = [v for v in variants if v not in self.missing]
        for r in range(runs):
            for v in rotated(kept, r):
                result = self.run(["startup", v, *options], v)
                self.raw.append(result)
                log(f"startup {r + 1}/{runs} {v}: {result.get('import_instrument_ms', result.get('error'))}")

    def calls(
        self,
        variants: Sequence[str],
        modes: Sequence[str],
        repeats: int,
        *,
        batches: dict[str, int],
        batch_size: dict[str, int],
        scale: float = 1.0,
        options: Sequence[str] = (),
        stop_on_error: bool = False,
    ) -> None:
        """``repeats`` processes per (variant, mode) not ``missing``, each ``batches[mode]``
        (scaled, at least 2) batch pairs of ``batch_size[mode]`` calls."""
        kept = [v for v in variants if v not in self.missing]
        for r in range(repeats):
            for mode in modes:
                sizes = ["--batches", str(max(2, round(batches[mode] * scale))), "--batch-size", str(batch_size[mode])]
                for v in rotated(kept, r):
                    result = self.run(["calls", v, mode, *sizes, *options], v)
                    self.raw.append(result)
                    if "error" in result:
                        if stop_on_error:
                            raise SystemExit(f"calls {mode} {v}: {result['error']}")
                        log(f"calls {r + 1}/{repeats} {mode} {v}: ERROR {result['error']}")
                    else:
                        log(
                            f"calls {r + 1}/{repeats} {mode:6} {v:19}: {result['median_us']:8.1f} us/call, "
                            f"added {result['paired_added_us']:7.1f} us, spans/call {result['spans_per_call']:.2f}"
                        )


@dataclass(frozen=True)
class Table:
    """What a benchmark's table shows: its variants (``floor`` among them), modes and peers."""

    labels: dict[str, str]
    modes: dict[str, str]  # mode -> column title
    peers: tuple[str, ...]
    ours: str = "genai-cost"
    sample_scope: Callable[[str], str | None] = lambda variant: None

    def summarize(self, raw: list[dict], variants: Sequence[str]) -> dict[tuple[str, str], dict[str, Any]]:
        out: dict[tuple[str, str], dict[str, Any]] = {}
        for v in variants:
            for mode in self.modes:
                runs = [x for x in raw if x.get("kind") == "calls" and x.get("variant") == v and x.get("mode") == mode]
                runs = [x for x in runs if "error" not in x]
                if not runs:
                    continue
                added = [x["paired_added_us"] for x in runs]
                sample = runs[-1].get("sample_span") or {}
                out[(v, mode)] = {
                    "per_call": median([x["median_us"] for x in runs]),
                    "added": median(added),
                    "added_iqr": quartiles(added),
                    "spans": [x["spans_per_call"] for x in runs],
                    "attrs": sample.get("attributes", 0),
                    "processes": len(runs),
                }
            starts = [x for x in raw if x.get("kind") == "startup" and x.get("variant") == v and "error" not in x]
            if starts:
                out[(v, "startup")] = {
                    "import_instrument_ms": median([x["import_instrument_ms"] for x in starts]),
                    "first_call_ms": median([x["first_call_ms"] for x in starts]),
                }
        return out

    def render(self, raw: list[dict], variants: Sequence[str], missing: dict[str, str], info: str) -> str:
        s = self.summarize(raw, variants)

        def fmt(value: float | None, spec: str = ".0f") -> str:
            return "—" if value is None else format(value, spec)

        header = ["variant"]
        for title in self.modes.values():
            header += [f"{title}: µs/call", f"{title}: added µs (IQR)", f"{title}: × floor"]
        header += ["spans/call", "attrs/span", "import+instrument ms"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for v in variants:
            if v in missing:
                lines.append(f"| {self.labels[v]} | " + " | ".join(["not run"] * (len(header) - 1)) + " |")
                continue
            row = [f"**{self.labels[v]}**" if v == self.ours else self.labels[v]]
            spans: list[float] = []
            attrs: list[str] = []
            for mode in self.modes:
                cell, floor = s.get((v, mode)), s.get(("floor", mode))
                if cell is None:
                    row += ["—", "—", "—"]
                    continue
                spans += cell["spans"]
                if cell["attrs"]:
                    attrs.append(str(cell["attrs"]))
                if v == "bare":
                    row += [fmt(cell["per_call"]), "0 (A/A: " + fmt(cell["added"], "+.0f") + ")", "—"]
                    continue
                iqr = cell["added_iqr"]
                ratio = 1.0 if v == "floor" else cell["added"] / floor["added"] if floor and floor["added"] else None
                row += [
                    fmt(cell["per_call"]),
                    fmt(cell["added"]) + (f" ({iqr[0]:.0f}–{iqr[1]:.0f})" if iqr else ""),
                    f"{ratio:.2f}×" if ratio is not None else "—",
                ]
            low, high = (min(spans), max(spans)) if spans else (0.0, 0.0)
            row.append("—" if not spans else f"{low:.2f}" if high - low < 0.005 else f"{low:.2f}–{high:.2f}")
            row.append("/".join(attrs) if attrs else "—")
            start = s.get((v, "startup"))
            row.append(fmt(start["import_instrument_ms"]) if start and v not in ("bare", "floor") else "—")
            lines.append("| " + " | ".join(row) + " |")

        verdict = []
        for mode in self.modes:
            ours, floor = s.get((self.ours, mode)), s.get(("floor", mode))
            if not ours or not floor or not floor["added"]:
                continue
            ratio = ours["added"] / floor["added"]
            peers = {p: s[(p, mode)]["added"] for p in self.peers if (p, mode) in s}
            beaten = [p for p, a in peers.items() if ours["added"] >= a]
            goal = "met" if ratio <= 1.10 else f"MISSED by {ours['added'] - 1.10 * floor['added']:.0f} µs"
            verdict.append(
                f"{mode}: {self.ours} adds {ours['added']:.0f} µs = {ratio:.2f}× the floor (goal ≤ 1.10×: {goal}); "
                + (
                    "no peer measured"
                    if not peers
                    else "less than every peer"
                    if not beaten
                    else "NOT less than " + ", ".join(beaten)
                )
            )
        verdict += [f"{v}: not measured — {why}" for v, why in missing.items()]
        out = "\n".join(lines) + "\n\n" + info + "\n"
        return out + ("\n" + "\n".join(f"- {v}" for v in verdict) + "\n" if verdict else "")
