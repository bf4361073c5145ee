"""Where genai-cost's added time per OpenAI call goes.

    bench/.venv/bin/python bench/openai_overhead/profile_genai_cost.py --micro --skip-ablations  # ~1.5 min
    bench/.venv/bin/python bench/openai_overhead/profile_genai_cost.py                           # ~4 min

``--micro`` (the reliable sizes): genai-cost's own work with the SDK taken out — the real wrapper
around a stub returning a pre-parsed response (chat) or replaying pre-parsed chunks (stream) —
against the floor's hand-made span around the same stub. Every configuration lives in the same
process (each with its own genai_cost module instance) and they are timed in interleaved rounds,
best round each: repeatable to a few µs.

Ablations (end to end, noisier: ±30 µs per part with 3 processes): each configuration in a fresh
process, measured like ``worker.py`` — small batches alternating (ABBA) with the bare call:

* ``full``              genai-cost as configured by the benchmark (pricing on, an in-memory budget,
                        metrics deferred)
* ``no-budget``         the budget guard taken away (pricing only)
* ``no-processor``      the CostSpanProcessor taken out of the provider (the BSP gets spans directly)
* ``no-pricing``        ``PriceCatalog.price`` memoised (the benchmark's usage never changes)
* ``no-metrics``        the metrics recorder a no-op
* ``no-attribution``    attribution look-ups (context, baggage, defaults) answering {}
* ``caller-asks-usage`` (stream) the application itself asks for ``stream_options.include_usage``
                        (so does the bare side): genai-cost neither rewrites the request nor
                        withholds a chunk, and the SDK's cost of the extra chunk cancels out
* ``bare-usage-chunk``  (stream, no genai-cost) the bare call with vs without asking for usage:
                        what the SDK spends parsing what genai-cost asks for

Then a cProfile of the real instrumented call (genai-cost in full): functions of genai-cost,
wrapt and the OpenTelemetry SDK by own time, µs per call (cProfile inflates small functions:
read it for ranking, ``--micro`` for sizes).

The switches patch genai-cost at run time inside this benchmark process only; nothing in src/
changes.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import pstats
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # this bench, and bench/harness

ABLATIONS = {
    "chat": ["full", "no-budget", "no-processor", "no-pricing", "no-metrics", "no-attribution"],
    "stream": [
        "full",
        "no-budget",
        "no-processor",
        "no-pricing",
        "no-metrics",
        "no-attribution",
        "caller-asks-usage",
        "bare-usage-chunk",
    ],
}


def apply(switch: str, provider) -> None:
    """Switch one part of genai-cost off (after configure() + instrument())."""
    if switch in ("full", "caller-asks-usage", "bare-usage-chunk"):
        return
    if switch == "no-budget":  # pricing only: the in-memory budget's guard taken away
        from genai_cost.budget import install_guard

        install_guard(None)
        return
    if switch == "no-processor":
        from genai_cost.processor import CostSpanProcessor

        active = provider._active_span_processor
        unwrapped = []
        for processor in active._span_processors:
            if isinstance(processor, CostSpanProcessor):
                downstream = processor.downstream
                unwrapped += list(getattr(downstream, "_span_processors", (downstream,)))
            else:
                unwrapped.append(processor)
        active._span_processors = tuple(unwrapped)
    elif switch == "no-pricing":
        from genai_cost.pricing.catalog import PriceCatalog

        real_price = PriceCatalog.price
        memo: dict = {}

        def fixed_price(self, model, usage, **kwargs):  # the benchmark's usage never changes
            key = (model, kwargs.get("provider_name"))
            cost = memo.get(key)
            if cost is None:
                cost = memo[key] = real_price(self, model, usage, **kwargs)
            return cost

        PriceCatalog.price = fixed_price  # type: ignore[method-assign]
    elif switch == "no-metrics":
        from genai_cost import metrics

        class NoMetrics:
            def __getattr__(self, name):
                return lambda *args, **kwargs: None

        metrics.set_cost_metrics(NoMetrics())  # type: ignore[arg-type]
    elif switch == "no-attribution":
        import genai_cost.context as context
        import genai_cost.instrumentation.lifecycle as lifecycle
        import genai_cost.processor as processor

        empty = lambda *args, **kwargs: {}  # noqa: E731
        for module in (context, lifecycle, processor):
            for name in ("current_attribution", "baggage_attribution", "default_attribution"):
                if hasattr(module, name):
                    setattr(module, name, empty)
    else:
        raise SystemExit(f"unknown switch {switch}")


def measure(mode: str, switch: str, batches: int, batch_size: int, warmup: int) -> dict:
    """One configuration, paired against the bare call in this process (worker.py's method)."""
    import worker
    from harness import paired
    from mock_openai import ANSWER, MESSAGES, REQUEST_MODEL, make_client

    provider, exporter = worker.make_pipeline()
    client = make_client()
    completions = client.chat.completions
    ask_usage = switch in ("caller-asks-usage",)

    def bare_like(include_usage: bool):
        if mode == "chat":
            return lambda: (
                completions.create(model=REQUEST_MODEL, messages=MESSAGES, max_tokens=200).choices[0].message.content
            )
        extra = {"stream_options": {"include_usage": True}} if include_usage else {}

        def call():
            parts = []
            for chunk in completions.create(
                model=REQUEST_MODEL, messages=MESSAGES, max_tokens=200, stream=True, **extra
            ):
                if chunk.choices:
                    parts.append(chunk.choices[0].delta.content or "")
            return "".join(parts)

        return call

    bare = bare_like(ask_usage)
    bare()
    toggle = worker.patch_toggle()
    if switch == "bare-usage-chunk":
        on, off = bare_like(True), bare_like(False)
        settle = lambda: None  # noqa: E731
    else:
        worker.instrument("genai-cost", provider, "off")
        toggle.capture()
        apply(switch, provider)
        on = off = bare

        def settle():
            from genai_cost.metrics import cost_metrics

            flush = getattr(cost_metrics(), "flush", None)
            if flush:
                flush()

    def side(instrumented: bool):
        toggle.set(instrumented)
        return on if instrumented else off

    result = paired.measure(
        side,
        provider=provider,
        exporter=exporter,
        expected=ANSWER,
        warmup=warmup,
        batches=batches,
        batch_size=batch_size,
        settle=settle,
    )
    return {"mode": mode, "switch": switch, "added_us": result["paired_added_us"], "bare_us": result["bare_median_us"]}


def cprofile(mode: str, calls: int) -> str:
    import worker
    from mock_openai import make_client

    provider, _exporter = worker.make_pipeline()
    worker.instrument("genai-cost", provider, "off")
    client = make_client()
    call, _ = worker.make_call("genai-cost", mode, client, provider)
    for _ in range(300):
        call()
    provider.force_flush()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        call()
    profiler.disable()
    provider.force_flush()
    stats = pstats.Stats(profiler)
    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = filename.replace("\\", "/")
        if "/genai_cost/" in where:
            where = "genai_cost/" + where.split("/genai_cost/", 1)[1]
        elif "/site-packages/" in where:
            where = where.split("/site-packages/", 1)[1]
        else:
            where = os.path.basename(where)
        rows.append((tt / calls * 1e6, ct / calls * 1e6, nc / calls, f"{where}:{line}:{func}"))
    ours = [r for r in rows if r[3].startswith(("genai_cost/", "wrapt/", "opentelemetry/"))]
    out = [f"cProfile, {mode}, {calls} calls: own µs/call, cumulative µs/call, calls/call, function"]
    out += [f"{a:8.1f} {b:9.1f} {c:6.1f}  {name}" for a, b, c, name in sorted(ours, reverse=True)[:30]]
    out.append("")
    out.append("cumulative, genai-cost only (top 25):")
    ours_cum = [r for r in rows if r[3].startswith("genai_cost/")]
    out += [f"{a:8.1f} {b:9.1f} {c:6.1f}  {name}" for a, b, c, name in sorted(ours_cum, key=lambda r: -r[1])[:25]]
    return "\n".join(out)


def micro(mode: str, only: str | None = None, calls: int = 0, thread_cpu: bool = False) -> str:
    """genai-cost's own work per call, with the SDK taken out: the wrapper around a stub that
    returns a pre-parsed response (chat) or replays pre-parsed chunks (stream), against the
    floor's hand-made span around the same stub. Best of 9 runs of 400 calls, GC on, spans
    flushed between runs: sizes to within a µs or two, which the end-to-end runs cannot give.
    Each ``-x`` row switches one part off (same switches as the ablations)."""
    import openai
    from opentelemetry.trace import SpanKind

    import worker
    from mock_openai import MESSAGES, REQUEST_MODEL, make_client

    client = make_client()
    completions = client.chat.completions
    kwargs = {"model": REQUEST_MODEL, "messages": MESSAGES, "max_tokens": 200}
    if mode == "chat":
        completion = completions.create(**kwargs)

        def stub(*args, **kw):
            return completion

    else:
        kwargs["stream"] = True
        with_usage = list(completions.create(**kwargs, stream_options={"include_usage": True}))
        without = list(completions.create(**kwargs))

        class ReplayStream(openai.Stream):
            def __init__(self, items):
                self._items = iter(items)

            def __next__(self):
                return next(self._items)

            def __iter__(self):
                return self

            def close(self):
                pass

        def stub(*args, **kw):
            asked = (kw.get("stream_options") or {}).get("include_usage")
            return ReplayStream(with_usage if asked else without)

    def consume(result):
        if mode == "chat":
            return result.choices[0].message.content
        return "".join(c.choices[0].delta.content or "" for c in result if c.choices)

    def build(switch: str | None):
        import importlib

        for name in list(sys.modules):  # a fresh genai-cost for every configuration
            if name == "genai_cost" or name.startswith("genai_cost."):
                del sys.modules[name]
        provider, _exporter = worker.make_pipeline()
        gc_mod = importlib.import_module("genai_cost")
        gc_mod.configure(tracer_provider=provider, instrument=False, budgets=[worker.BENCH_BUDGET], ledger="memory")
        w = importlib.import_module("genai_cost.instrumentation.openai.wrappers")
        if switch:
            apply(switch, provider)
        tracer = provider.get_tracer("genai_cost", gc_mod.__version__)
        wrapper = w.sync_call(tracer, w.CHAT, lambda: True)
        return provider, (lambda: consume(wrapper(stub, completions, (), dict(kwargs))))

    def floor():
        provider, _exporter = worker.make_pipeline()
        tracer = provider.get_tracer("bench.floor")
        start = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": REQUEST_MODEL,
            "gen_ai.request.max_tokens": 200,
            "server.address": "api.openai.com",
            "server.port": 443,
        }

        def run():
            with tracer.start_as_current_span("chat " + REQUEST_MODEL, kind=SpanKind.CLIENT, attributes=start) as span:
                text = consume(stub(**kwargs))
                span.set_attributes(
                    {
                        "gen_ai.response.model": "m",
                        "gen_ai.response.id": "i",
                        "gen_ai.response.finish_reasons": ("stop",),
                        "gen_ai.usage.input_tokens": 42,
                        "gen_ai.usage.output_tokens": 19,
                        "openai.response.service_tier": "default",
                    }
                )
                return text

        return provider, run

    def drain_for(module_prefix_metrics):
        def drain():
            flush = getattr(module_prefix_metrics.cost_metrics(), "flush", None)
            if flush:
                flush()

        return drain

    if only is not None:  # --instructions: one configuration's calls, untimed, for callgrind
        if only == "floor":
            provider, fn = floor()
            settle = lambda: None  # noqa: E731
        else:
            provider, fn = build(None if only == "full" else only)
            drain_metrics = drain_for(sys.modules["genai_cost.metrics"])

            def settle() -> None:
                # Spans completed off the call: let the processor's own thread do it (sleeping
                # here), so its work is counted on its thread, not on the caller's.
                for processor in provider._active_span_processor._span_processors:
                    deferred = getattr(processor, "_deferred", None)
                    while deferred is not None and deferred._queue:
                        time.sleep(0.005)
                drain_metrics()

        for _ in range(300):
            fn()
        provider.force_flush()
        settle()
        gc.collect()
        for i in range(calls):
            fn()
            if i % 100 == 99:
                settle()
        settle()
        return ""

    configs = [
        (
            "the stub alone (no instrumentation)",
            worker.make_pipeline()[0],
            lambda: consume(stub(**kwargs)),
            lambda: None,
        )
    ]
    provider, fn = floor()
    configs.append(("floor: hand-made span, 12 attributes", provider, fn, lambda: None))
    for switch in ["full", "no-budget", "no-processor", "no-pricing", "no-metrics", "no-attribution"]:
        provider, fn = build(None if switch == "full" else switch)
        configs.append((f"genai-cost, {switch}", provider, fn, drain_for(sys.modules["genai_cost.metrics"])))

    # Every configuration coexists (each its own genai_cost module instance); they are timed in
    # rounds, so a slow spell of the machine hits them all, and the best round of each counts.
    for _, provider, fn, settle in configs:
        for _ in range(200):
            fn()
        provider.force_flush()
        settle()
    timings: dict[str, list[float]] = {name: [] for name, *_ in configs}
    # --thread-cpu: the caller's thread's CPU time (what the call itself costs; work handed to
    # genai-cost's threads, spans completed off the call and metrics, is not counted, nor is the
    # time the caller waits for the GIL while they run); otherwise wall time, with the metrics
    # recordings drained inside the timed part (work this call caused).
    clock = time.thread_time_ns if thread_cpu else time.perf_counter_ns
    for _ in range(25):
        for name, provider, fn, settle in configs:
            start = clock()
            for _ in range(200):
                fn()
            if not thread_cpu:
                settle()
            timings[name].append((clock() - start) / 200 / 1000)
            settle()
            provider.force_flush()
    rows = [(name, min(values)) for name, values in timings.items()]
    stub_only = rows[0][1]
    out = [f"| {mode}: configuration | µs per call | added over the stub |", "|---|---|---|"]
    for name, value in rows:
        out.append(f"| {name} | {value:.1f} | {value - stub_only:.1f} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("chat", "stream", "both"), default="both")
    parser.add_argument("--repeats", type=int, default=3, help="processes per ablation")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: MODE:SWITCH in this process
    parser.add_argument("--no-cprofile", action="store_true")
    parser.add_argument("--micro", action="store_true", help="only the SDK-free component timings (~1 min)")
    parser.add_argument("--skip-ablations", action="store_true", help="only the cProfile (and --micro if given)")
    parser.add_argument(
        "--thread-cpu", action="store_true", help="--micro: time the caller's thread's CPU, not the wall clock"
    )
    parser.add_argument(
        "--instructions",
        metavar="CONFIG:N",
        help="run N untimed SDK-free calls of one --micro configuration (full, no-budget, floor ...) "
        "and exit: what instructions.sh counts under callgrind",
    )
    args = parser.parse_args()
    if args.instructions:
        config, _, count = args.instructions.partition(":")
        micro("stream" if args.mode == "stream" else "chat", only=config, calls=int(count or 0))
        return
    if args.micro:
        for mode in ("chat", "stream") if args.mode == "both" else (args.mode,):
            print(micro(mode, thread_cpu=args.thread_cpu))
            print()
        if not args.skip_ablations:
            return
    if args.one:
        mode, switch = args.one.split(":")
        batches, size = (150, 5) if mode == "chat" else (120, 2)
        print(json.dumps(measure(mode, switch, batches, size, 100)), flush=True)
        return

    from harness.driver import run_worker, worker_env

    env = worker_env(())
    modes = ("chat", "stream") if args.mode == "both" else (args.mode,)
    results: dict[tuple[str, str], list[float]] = {}
    for r in range(0 if args.skip_ablations else args.repeats):
        for mode in modes:
            for switch in ABLATIONS[mode]:
                result = run_worker(sys.executable, Path(__file__), ["--one", f"{mode}:{switch}"], env)
                if "error" in result:
                    print(f"{mode} {switch}: failed: {result['error']}", file=sys.stderr)
                    continue
                results.setdefault((mode, switch), []).append(result["added_us"])
                print(
                    f"{r + 1}/{args.repeats} {mode:6} {switch:18} added {result['added_us']:7.1f} µs", file=sys.stderr
                )
    if results:
        print("| mode | configuration | added µs over bare (median of processes) | vs full |")
        print("|---|---|---|---|")
    for mode in modes if results else ():
        full = statistics.median(results.get((mode, "full"), [float("nan")]))
        for switch in ABLATIONS[mode]:
            values = results.get((mode, switch))
            if not values:
                continue
            added = statistics.median(values)
            delta = "—" if switch in ("full", "bare-usage-chunk") else f"{added - full:+.0f}"
            print(f"| {mode} | {switch} | {added:.0f} | {delta} |")
    if not args.no_cprofile:
        for mode in modes:
            print()
            print("```")
            print(cprofile(mode, 2000 if mode == "chat" else 800))
            print("```")


if __name__ == "__main__":
    main()
