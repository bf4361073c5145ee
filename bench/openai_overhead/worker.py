"""One measurement in one fresh process; prints one JSON line. ``run.py`` drives it.

    python worker.py calls   VARIANT MODE [--warmup N] [--batches N] [--batch-size N] [--content off|default]
    python worker.py startup VARIANT [--content off|default]

VARIANT: bare | floor | genai-cost | genai-cost-nobudget | genai-cost-inline | official | openllmetry | openlit
         | openinference
MODE:    chat (non-streaming) | stream

Every variant gets the same set-up: an SDK ``TracerProvider`` (set as the global one) with a
``BatchSpanProcessor`` over an exporter that only counts spans, the real ``openai.OpenAI`` client
over the same in-process ``httpx2.MockTransport`` (``mock_openai.py``), and the same application
code. No ``MeterProvider``/``LoggerProvider`` is installed, so metrics and log events go to the
API's no-op providers for every variant alike.

``calls``: instrument, then alternate timed batches of the instrumented call and of the bare call
(ABBA order, ``--batches`` pairs of ``--batch-size`` calls). The bare batches run with the
instrumentation's patches switched off (``PatchToggle``: whatever attributes of the openai/httpx2
modules and classes instrumenting changed are swapped back and forth), so every process carries
its own paired control and the machine's slow spells, which last longer than a batch, hit both
sides alike. Results: median per-call time of each side and the median of the per-pair
differences ("added"). After every batch, outside the timed part, the provider is flushed (the
``BatchSpanProcessor`` queue never fills, so no span is dropped by a starved export thread) and
any work an instrumentation deferred to a thread of its own is finished (``settle``); spans are
counted per side.

``startup``: with openai, the OpenTelemetry SDK, the client and one bare call done (so the SDK's
lazily loaded modules are in), the wall time of importing the instrumentation and instrumenting
(``instrument()``, or ``openlit.init()``), then the first instrumented call's time.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import threading
import time
import types
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

VARIANTS = (
    "bare",
    "floor",
    "genai-cost",
    "genai-cost-nobudget",
    "genai-cost-inline",
    "official",
    "openllmetry",
    "openlit",
    "openinference",
)
# The in-memory budget genai-cost runs with: a monthly project-wide limit no benchmark reaches.
BENCH_BUDGET = {"name": "bench", "limit": 1_000_000.0, "window": "month", "action": "block"}
MODES = ("chat", "stream")


def content_env(variant: str, content: str) -> None:
    """``off``: no variant records prompts or completions (genai-cost's and the official
    instrumentation's default; the others are told). ``default``: each library as installed."""
    if content != "off":
        return
    if variant == "openllmetry":
        os.environ["TRACELOOP_TRACE_CONTENT"] = "false"
    elif variant == "openinference":
        os.environ["OPENINFERENCE_HIDE_INPUTS"] = "true"
        os.environ["OPENINFERENCE_HIDE_OUTPUTS"] = "true"
    # openlit: capture_message_content=False in instrument(); official and genai-cost: off unless
    # OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT asks, and run.py clears it.


# --- the common pipeline -------------------------------------------------------------------------


def make_pipeline():
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class CountingExporter(SpanExporter):
        """Counts spans; keeps the scope and attribute count of the last one (a sanity check)."""

        def __init__(self) -> None:
            self.count = 0
            self.scopes: Counter[str] = Counter()
            self.sample: dict | None = None
            self._lock = threading.Lock()

        def export(self, spans):
            with self._lock:
                self.count += len(spans)
                for span in spans:
                    self.scopes[span.instrumentation_scope.name if span.instrumentation_scope else "?"] += 1
                if spans:
                    last = spans[-1]
                    self.sample = {
                        "name": last.name,
                        "attributes": len(last.attributes or {}),
                        "events": len(last.events or ()),
                        "cost": (last.attributes or {}).get("genai_cost.amount"),
                        "status": (last.attributes or {}).get("genai_cost.status"),
                    }
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

    exporter = CountingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider, exporter


# --- variants: set-up -------------------------------------------------------------------------------


def instrument(variant: str, provider, content: str) -> None:
    """Import the instrumentation and switch it on (what ``startup`` times)."""
    if variant in ("bare", "floor"):
        return
    if variant in ("genai-cost", "genai-cost-inline", "genai-cost-nobudget"):
        import genai_cost
        from genai_cost.instrumentation.openai import OpenAIInstrumentor

        # Pricing on: the CostSpanProcessor wraps the export processor, catalog loaded. And,
        # except for -nobudget, one budget on an in-memory ledger that every call is reserved
        # against and settled on (its limit is never reached, so every call goes through).
        budgets = None if variant == "genai-cost-nobudget" else [BENCH_BUDGET]
        genai_cost.configure(tracer_provider=provider, instrument=False, budgets=budgets, ledger="memory")
        if variant == "genai-cost-inline":
            # Metrics recorded on the caller's thread, as every peer does, instead of handed to
            # genai-cost's daemon thread: all of its work lands in the timed part.
            from genai_cost.metrics import CostMetrics, set_cost_metrics

            set_cost_metrics(CostMetrics(deferred=False))
        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif variant == "official":
        from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif variant == "openllmetry":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif variant == "openinference":
        from openinference.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().instrument(tracer_provider=provider)
    elif variant == "openlit":
        import openlit
        from openlit._instrumentors import MODULE_NAME_MAP

        openlit.init(
            # OpenAI only: its other instrumentors (requests, urllib3, frameworks...) are not on
            # this call's path and would only add to its start-up.
            disabled_instrumentors=[name for name in MODULE_NAME_MAP if name != "openai"],
            disable_metrics=True,  # no MeterProvider of its own (the others record to the no-op one)
            disable_events=True,
            collect_gpu_stats=False,
            collect_system_metrics=False,
            # Without a local file it downloads prices from GitHub at init (20 s timeout).
            pricing_json=str(HERE / "openlit_pricing.json"),
            capture_message_content=content != "off",
        )
    else:
        raise SystemExit(f"unknown variant {variant}")


def settle(variant: str) -> None:
    """Finish work an instrumentation deferred to a thread of its own, outside the timed part,
    so it cannot land in the next (bare) batch. genai-cost queues its metric recordings."""
    if variant.startswith("genai-cost"):
        from genai_cost.metrics import cost_metrics

        cost_metrics().flush()


# --- the application code -------------------------------------------------------------------------


def make_call(variant: str, mode: str, client, provider, stats: dict | None = None):
    """The function the benchmark times: one chat completion, as an application would write it."""
    from mock_openai import MESSAGES, REQUEST_MODEL

    completions = client.chat.completions  # `.create` looked up per call, as apps do (and patches apply)
    stats = {"chunks": 0, "usage_chunks": 0} if stats is None else stats

    if mode == "chat":

        def call() -> str:
            response = completions.create(model=REQUEST_MODEL, messages=MESSAGES, max_tokens=200)
            return response.choices[0].message.content

    else:

        def call() -> str:
            parts = []
            for chunk in completions.create(model=REQUEST_MODEL, messages=MESSAGES, max_tokens=200, stream=True):
                stats["chunks"] += 1
                if chunk.choices:
                    parts.append(chunk.choices[0].delta.content or "")
                else:
                    stats["usage_chunks"] += 1
            return "".join(parts)

    if variant != "floor":
        return call, stats

    # The floor: what any instrumentation must at least do — one CLIENT span, current while the
    # call runs, with 12 attributes (6 known before the call, 6 after it).
    from opentelemetry.trace import SpanKind

    tracer = provider.get_tracer("bench.floor")
    start_attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": REQUEST_MODEL,
        "gen_ai.request.max_tokens": 200,
        "server.address": "api.openai.com",
        "server.port": 443,
    }

    if mode == "chat":

        def floor_call() -> str:
            with tracer.start_as_current_span(
                "chat " + REQUEST_MODEL, kind=SpanKind.CLIENT, attributes=start_attributes
            ) as span:
                response = completions.create(model=REQUEST_MODEL, messages=MESSAGES, max_tokens=200)
                usage = response.usage
                span.set_attributes(
                    {
                        "gen_ai.response.model": response.model,
                        "gen_ai.response.id": response.id,
                        "gen_ai.response.finish_reasons": (response.choices[0].finish_reason,),
                        "gen_ai.usage.input_tokens": usage.prompt_tokens,
                        "gen_ai.usage.output_tokens": usage.completion_tokens,
                        "openai.response.service_tier": response.service_tier or "",
                    }
                )
                return response.choices[0].message.content

    else:

        def floor_call() -> str:
            with tracer.start_as_current_span(
                "chat " + REQUEST_MODEL, kind=SpanKind.CLIENT, attributes=start_attributes
            ) as span:
                parts = []
                last = None
                finish = ""
                for chunk in completions.create(model=REQUEST_MODEL, messages=MESSAGES, max_tokens=200, stream=True):
                    stats["chunks"] += 1
                    last = chunk
                    if chunk.choices:
                        choice = chunk.choices[0]
                        parts.append(choice.delta.content or "")
                        finish = choice.finish_reason or finish
                usage = last.usage
                span.set_attributes(
                    {
                        "gen_ai.response.model": last.model,
                        "gen_ai.response.id": last.id,
                        "gen_ai.response.finish_reasons": (finish,),
                        "gen_ai.usage.input_tokens": usage.prompt_tokens if usage else 0,
                        "gen_ai.usage.output_tokens": usage.completion_tokens if usage else len(parts),
                        "openai.response.service_tier": last.service_tier or "",
                    }
                )
                return "".join(parts)

    return floor_call, stats


# --- the two measurements ---------------------------------------------------------------------------


class PatchToggle:
    """Switches an instrumentation's patches off and on again, whatever library made them.

    Snapshots every attribute of the ``openai``/``httpx2`` modules and of the classes defined in
    them before and after instrumenting, and swaps the ones that changed. With the patches off,
    the same process runs the bare SDK call: a paired control measured under the same conditions
    (interpreter, memory layout, CPU state) as the instrumented call, batch by batch.
    """

    PREFIXES = ("openai", "httpx2", "httpcore2")
    # Response/request data models: thousands of classes no instrumentation patches.
    SKIP = ("openai.types.",)

    def __init__(self) -> None:
        self.before = self._snapshot()
        self.changes: list[tuple[object, str, object, object]] = []

    @classmethod
    def _owners(cls):
        for name, module in list(sys.modules.items()):
            if module is None or not name.startswith(cls.PREFIXES) or name.startswith(cls.SKIP):
                continue
            yield module
            for value in list(vars(module).values()):
                # type(), not isinstance(): the SDK's lazy proxies would import on __class__.
                if issubclass(type(value), type) and vars(value).get("__module__") == name:
                    yield value

    @classmethod
    def _snapshot(cls) -> dict[tuple[int, str], tuple[object, object]]:
        out = {}
        for owner in cls._owners():
            for key, value in list(vars(owner).items()):
                out[(id(owner), key)] = (owner, value)
        return out

    def capture(self) -> None:
        known_owners = {owner_id for owner_id, _ in self.before}
        for key, (owner, value) in self._snapshot().items():
            name = key[1]
            if key[0] not in known_owners or issubclass(type(value), (types.ModuleType, type)):
                continue  # a module imported since, a submodule bound on its package, a lazy export
            if name.startswith(("__pydantic", "__signature__")):
                continue  # pydantic completing a model lazily
            old = self.before.get(key)
            if old is None:  # added (e.g. a method patched onto a subclass that inherited it)
                self.changes.append((owner, name, _ABSENT, value))
            elif old[1] is not value:
                self.changes.append((owner, name, old[1], value))

    def set(self, instrumented: bool) -> None:
        for owner, name, original, patched in self.changes:
            if instrumented:
                setattr(owner, name, patched)
            elif original is _ABSENT:
                if name in vars(owner):
                    delattr(owner, name)
            else:
                setattr(owner, name, original)


_ABSENT = object()


def run_calls(args) -> dict:
    import openai  # noqa: F401  (imported before set-up, as in startup)

    from mock_openai import ANSWER, Counters, make_client

    provider, exporter = make_pipeline()
    client = make_client()
    bare_call, stats = make_call("bare", args.mode, client, provider)
    bare_call()  # the SDK imports its lazy modules now, so the snapshot below holds them
    toggle = PatchToggle()
    instrument(args.variant, provider, args.content)
    toggle.capture()
    # The instrumented side: the floor is its own code; every other variant patched the SDK.
    call = make_call("floor", args.mode, client, provider, stats)[0] if args.variant == "floor" else bare_call

    def run(instrumented: bool) -> object:
        toggle.set(instrumented)
        return call if instrumented else bare_call

    fn = run(True)
    answer = fn()
    if answer != ANSWER:
        raise SystemExit(f"{args.variant}/{args.mode}: the caller got {answer!r}")
    for _ in range(args.warmup):
        fn()
    fn = run(False)
    for _ in range(args.warmup):
        fn()
    provider.force_flush()
    settle(args.variant)

    clock = time.perf_counter_ns
    batch_size = args.batch_size
    timed = {True: [], False: []}
    spans = {True: 0, False: 0}
    usage_requested = {True: 0, False: 0}
    chunks = {True: 0, False: 0}
    usage_chunks = {True: 0, False: 0}
    for pair in range(args.batches):
        # ABBA order: neither side always runs first.
        for instrumented in (True, False) if pair % 2 == 0 else (False, True):
            fn = run(instrumented)
            counted, usage_req = exporter.count, Counters.usage_requested
            seen, seen_usage = stats["chunks"], stats["usage_chunks"]
            start = clock()
            for _ in range(batch_size):
                fn()
            timed[instrumented].append((clock() - start) / batch_size / 1000)
            provider.force_flush()  # outside the timed part: the export thread never falls behind
            settle(args.variant)
            spans[instrumented] += exporter.count - counted
            usage_requested[instrumented] += Counters.usage_requested - usage_req
            chunks[instrumented] += stats["chunks"] - seen
            usage_chunks[instrumented] += stats["usage_chunks"] - seen_usage
    toggle.set(True)

    calls = args.batches * batch_size
    paired = [a - b for a, b in zip(timed[True], timed[False], strict=True)]
    provider.shutdown()
    return {
        "kind": "calls",
        "variant": args.variant,
        "mode": args.mode,
        "content": args.content,
        "median_us": statistics.median(timed[True]),
        "bare_median_us": statistics.median(timed[False]),
        "paired_added_us": statistics.median(paired),
        "min_us": min(timed[True]),
        "batches": args.batches,
        "calls": calls,
        "patches": len(toggle.changes),
        "spans_per_call": spans[True] / calls,
        "bare_spans_per_call": spans[False] / calls,
        "scopes": dict(exporter.scopes),
        "sample_span": exporter.sample,
        "usage_requested_per_call": usage_requested[True] / calls,
        "chunks_seen_per_call": chunks[True] / calls,
        "usage_chunks_seen_per_call": usage_chunks[True] / calls,
        "python": sys.executable,
    }


def run_startup(args) -> dict:
    # What every variant needs anyway, before the clock starts: openai, the OTel SDK, the client,
    # and one bare call, so the SDK's own lazily imported modules are loaded (an application's
    # first call would load them with or without instrumentation).
    import openai  # noqa: F401
    import opentelemetry.sdk.trace  # noqa: F401

    from mock_openai import make_client

    provider, exporter = make_pipeline()
    client = make_client()
    bare_call, _ = make_call("bare", args.mode, client, provider)
    start = time.perf_counter()
    bare_call()
    bare_first_s = time.perf_counter() - start
    gc.collect()
    start = time.perf_counter()
    instrument(args.variant, provider, args.content)
    setup_s = time.perf_counter() - start
    call, _ = make_call(args.variant, args.mode, client, provider)
    start = time.perf_counter()
    call()
    first_s = time.perf_counter() - start
    start = time.perf_counter()
    call()
    second_s = time.perf_counter() - start
    provider.force_flush()
    provider.shutdown()
    return {
        "kind": "startup",
        "variant": args.variant,
        "mode": args.mode,
        "import_instrument_ms": setup_s * 1000,
        "first_call_ms": first_s * 1000,
        "second_call_ms": second_s * 1000,
        "bare_first_call_ms": bare_first_s * 1000,
        "spans": exporter.count,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("calls", "startup"))
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("mode", choices=MODES, nargs="?", default="chat")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--batches", type=int, default=150, help="timed batch pairs (instrumented, bare)")
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--content", choices=("off", "default"), default="off")
    args = parser.parse_args()
    content_env(args.variant, args.content)
    try:
        result = run_calls(args) if args.what == "calls" else run_startup(args)
    except ImportError as exc:  # an instrumentation not installed (or not written yet)
        result = {"kind": args.what, "variant": args.variant, "mode": args.mode, "error": f"ImportError: {exc}"}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
