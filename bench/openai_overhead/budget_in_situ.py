"""The budget decision's cost inside a real instrumented OpenAI call (issue 16: ≤ 10 µs).

    bench/.venv/bin/python bench/openai_overhead/budget_in_situ.py            # ~20 s
    bench/.venv/bin/python bench/openai_overhead/budget_in_situ.py --mode stream --setup bench
    bench/.venv/bin/python bench/openai_overhead/budget_in_situ.py --warm     # + the pieces in a warm loop

genai-cost set up as a user would (``configure(tracer_provider=..., budgets=[one monthly budget],
ledger="memory")``, or ``--setup bench``: worker.py's set-up), the real ``openai.OpenAI`` client
over the bench's ``httpx2.MockTransport``. ``instrumentation.budget_hook.enter`` (before the SDK
call: count the input, reserve, decide) and ``finish`` (after it: settle, the decision's span
attributes) are wrapped with ``perf_counter_ns`` where the lifecycle calls them, so what is timed
is the work the caller waits for, with the caches as the real call leaves them (``settle`` in
place of ``finish`` when the span is completed off the call, the default with a batch exporter:
the decision's span attributes are then written on the processor's thread). Per call: enter,
finish, and their sum; the script prints the median and the 10th percentile of each over
``--calls`` calls (after a warm-up), and a yardstick (a dict-and-float loop) to compare runs on a
shared machine by.

The timers add their own cost (two ``perf_counter_ns`` and a list append per wrapped call, about
0.2 µs on the standard machine); it is not subtracted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from harness.pipeline import make_pipeline  # noqa: E402

USER_BUDGET = {"name": "bench", "limit": 1e12, "window": "month"}


def yardstick() -> float:
    """µs for a small fixed piece of Python work (1000 dict-and-float steps, best of 5): how fast
    the machine is right now."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter_ns()
        total = 0.0
        for i in range(1000):
            d = {"a": i, "b": 2.0}
            total += d["a"] * d["b"]
        best = min(best, time.perf_counter_ns() - start)
    return best / 1000  # µs for the 1000 iterations


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("chat", "stream"), default="chat")
    parser.add_argument("--setup", choices=("user", "bench"), default="user")
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument(
        "--warm", action="store_true", help="also time the same pieces in a warm loop (caches hot), for comparison"
    )
    parser.add_argument("--no-gc", action="store_true", help="cyclic garbage collector off for the whole run")
    args = parser.parse_args()
    if args.no_gc:  # to tell collection pauses from the decision's own cost
        import gc

        gc.disable()

    import openai  # noqa: F401

    import genai_cost
    import worker
    from genai_cost.instrumentation import budget_hook
    from mock_openai import MESSAGES, REQUEST_MODEL, make_client

    provider, _exporter = make_pipeline()
    client = make_client()
    if args.setup == "user":
        genai_cost.configure(tracer_provider=provider, budgets=[USER_BUDGET], ledger="memory")
    else:
        worker.instrument("genai-cost", provider, "off")

    enters: list[int] = []
    finishes: list[int] = []
    real_enter, real_finish = budget_hook.enter, budget_hook.finish
    clock = time.perf_counter_ns

    last_enter: list[tuple] = []  # the last call's (call, guard, ask_budget), for --warm

    def timed_enter(*a):
        start = clock()
        out = real_enter(*a)
        enters.append(clock() - start)
        last_enter[:] = [a]
        return out

    def timed_finish(*a):
        start = clock()
        out = real_finish(*a)
        finishes.append(clock() - start)
        return out

    real_settle = budget_hook.settle

    def timed_settle(*a):
        start = clock()
        out = real_settle(*a)
        finishes.append(clock() - start)
        return out

    # A call whose span is completed off the call (batch export, the default) settles with
    # ``settle`` and leaves the decision's span attributes to the processor's thread; one
    # completed on the call (``GENAI_COST_COMPLETE_OFF_CALL=false``) uses ``finish``.
    budget_hook.enter, budget_hook.finish, budget_hook.settle = timed_enter, timed_finish, timed_settle

    completions = client.chat.completions
    if args.mode == "chat":

        def call():
            return completions.create(model=REQUEST_MODEL, messages=MESSAGES, max_tokens=200).choices[0].message.content

    else:

        def call():
            parts = []
            for chunk in completions.create(model=REQUEST_MODEL, messages=MESSAGES, max_tokens=200, stream=True):
                if chunk.choices:
                    parts.append(chunk.choices[0].delta.content or "")
            return "".join(parts)

    from genai_cost.metrics import cost_metrics

    for _ in range(args.warmup):
        call()
    provider.force_flush()
    cost_metrics().flush()
    enters.clear()
    finishes.clear()
    for i in range(args.calls):
        call()
        if i % 50 == 49:  # the export and metrics threads' work, outside the timed calls' waits
            provider.force_flush()
            cost_metrics().flush()
    if len(enters) != args.calls or len(finishes) != args.calls:
        raise SystemExit(f"expected {args.calls} enters and finishes, got {len(enters)} / {len(finishes)}")
    both = [e + f for e, f in zip(enters, finishes, strict=True)]

    def row(name: str, values: list[int]) -> str:
        ordered = sorted(values)
        p10 = ordered[len(ordered) // 10] / 1000
        return f"| {name} | {statistics.median(values) / 1000:.1f} | {p10:.1f} |"

    where = f"{args.mode}, set-up {args.setup}, {args.calls} calls" + (", GC off" if args.no_gc else "")
    print(f"budget decision in situ: {where}; yardstick {yardstick():.1f} µs")
    print("| part | median µs | p10 µs |")
    print("|---|---|---|")
    print(row("budget_hook.enter (count input, reserve, decide)", enters))
    print(row("budget_hook.settle / finish (settle; finish: + span attributes)", finishes))
    print(row("**enter + finish**", both))
    if args.warm:
        warm_table(*last_enter[0], real_enter, real_finish)


def warm_table(call, guard, ask_budget, enter, finish, repeats: int = 20_000) -> None:
    """The decision's pieces on the last call's own objects, each repeated in a tight loop: what
    they cost with their code and data in the CPU caches (best of 3 loops, µs per repetition)."""
    ask = ask_budget()
    attributes = call.attributes

    def reserve_and_settle():
        guard.settle(guard.reserve(attributes, input_tokens=ask.input_tokens, max_output_tokens=200), 0.0001)

    decision = guard.reserve(attributes, input_tokens=ask.input_tokens, max_output_tokens=200)
    guard.settle(decision, 0.0001)
    pieces = [
        ("guard.covers", lambda: guard.covers(attributes)),
        ("ask_budget() (count the input, build the ask)", ask_budget),
        ("guard.reserve + guard.settle", reserve_and_settle),
        ("decision.span_attributes()", decision.span_attributes),
        ("enter + finish, whole", lambda: finish(enter(call, guard, ask_budget), None, 0.0001, False, {})),
    ]
    print()
    print("| piece, warm loop | µs |")
    print("|---|---|")
    for name, piece in pieces:
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter_ns()
            for _ in range(repeats):
                piece()
            best = min(best, (time.perf_counter_ns() - start) / repeats / 1000)
        print(f"| {name} | {best:.2f} |")


if __name__ == "__main__":
    main()
