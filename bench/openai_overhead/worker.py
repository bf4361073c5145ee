"""One measurement in one fresh process; prints one JSON line. ``run.py`` drives it.

    python worker.py calls   VARIANT MODE [--warmup N] [--batches N] [--batch-size N] [--content off|default]
    python worker.py startup VARIANT [--content off|default]

VARIANT: bare | floor | genai-cost | genai-cost-nobudget | genai-cost-inline | genai-cost-user | official
         | openai-v2 | openllmetry | openlit | openinference
MODE:    chat (non-streaming) | stream

Every variant: the pipeline of ``bench/harness/pipeline.py``, the real ``openai.OpenAI`` client
over the same in-process ``httpx2.MockTransport`` (``mock_openai.py``), the same application code.

``calls``: instrument, then ``bench/harness/paired.py``: timed ABBA batches of the instrumented
call against the bare call, made by switching the instrumentation's patches off
(``bench/harness/toggle.py``) in the same process. Besides spans, the requests that asked for
stream usage and the chunks the caller saw are counted per side.

``startup``: ``bench/harness/process.py``'s ``time_startup``: with openai, the OpenTelemetry SDK,
the client and one bare call done, the wall time of importing the instrumentation and
instrumenting (``instrument()``, or ``openlit.init()``), then of the first instrumented calls.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from harness.paired import measure_variant  # noqa: E402
from harness.pipeline import make_pipeline  # noqa: E402
from harness.process import main, time_startup  # noqa: E402
from harness.toggle import PatchToggle  # noqa: E402

VARIANTS = (
    "bare",
    "floor",
    "genai-cost",
    "genai-cost-nobudget",
    "genai-cost-inline",
    "genai-cost-user",
    "official",
    "openai-v2",
    "openllmetry",
    "openlit",
    "openinference",
)
# The in-memory budget genai-cost runs with: a monthly project-wide limit no benchmark reaches.
BENCH_BUDGET = {"name": "bench", "limit": 1_000_000.0, "window": "month", "action": "block"}
# genai-cost-user: set up as the harness (and a user) does it: configure() instruments every
# installed SDK it supports, one budget with the default action, and its metrics are not drained.
USER_BUDGET = {"name": "bench", "limit": 1e12, "window": "month"}
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


# --- variants: set-up -------------------------------------------------------------------------------


def instrument(variant: str, provider, content: str) -> None:
    """Import the instrumentation and switch it on (what ``startup`` times)."""
    if variant in ("bare", "floor"):
        return
    if variant == "genai-cost-user":
        import genai_cost

        genai_cost.configure(tracer_provider=provider, budgets=[USER_BUDGET], ledger="memory")
    elif variant in ("genai-cost", "genai-cost-inline", "genai-cost-nobudget"):
        import genai_cost
        from genai_cost.instrumentation.openai import OpenAIInstrumentor

        # Pricing on: the CostSpanProcessor wraps the export processor, catalog loaded. And,
        # except for -nobudget, one budget on an in-memory ledger that every call is reserved
        # against and settled on (its limit is never reached, so every call goes through).
        budgets = None if variant == "genai-cost-nobudget" else [BENCH_BUDGET]
        if variant == "genai-cost-inline":
            # Everything on the caller's thread, as every peer does: the span's end-of-call
            # attributes built on the call (not on the cost processor's thread) and, below, the
            # metrics recorded there.
            os.environ["GENAI_COST_COMPLETE_OFF_CALL"] = "false"
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
    elif variant == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

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


def patch_toggle() -> PatchToggle:
    """The openai/httpx2 modules an instrumentation may patch; not the thousands of data models."""
    return PatchToggle(("openai", "httpx2", "httpcore2"), skip=("openai.types.",))


def run_calls(args) -> dict:
    import openai  # noqa: F401  (imported before set-up, as in startup)

    from mock_openai import ANSWER, Counters, make_client

    content_env(args.variant, args.content)
    provider, exporter = make_pipeline()
    client = make_client()
    bare_call, stats = make_call("bare", args.mode, client, provider)
    bare_call()  # the SDK imports its lazy modules now, so the snapshot below holds them
    toggle = patch_toggle()
    instrument(args.variant, provider, args.content)
    toggle.capture()
    # The instrumented side: the floor is its own code; every other variant patched the SDK.
    call = make_call("floor", args.mode, client, provider, stats)[0] if args.variant == "floor" else bare_call

    result = measure_variant(
        args.variant,
        args,
        call=call,
        bare_call=bare_call,
        provider=provider,
        exporter=exporter,
        expected=ANSWER,
        toggle=toggle,
        counters=lambda: {
            "usage_requested": Counters.usage_requested,
            "chunks_seen": stats["chunks"],
            "usage_chunks_seen": stats["usage_chunks"],
        },
    )
    return {**result, "content": args.content}


def run_startup(args) -> dict:
    import openai  # noqa: F401  (before the clock, as an application has it)
    import opentelemetry.sdk.trace  # noqa: F401

    from mock_openai import make_client

    content_env(args.variant, args.content)
    provider, exporter = make_pipeline()
    client = make_client()
    return time_startup(
        bare_call=make_call("bare", args.mode, client, provider)[0],
        instrument=lambda: instrument(args.variant, provider, args.content),
        make_call=lambda: make_call(args.variant, args.mode, client, provider)[0],
        provider=provider,
        exporter=exporter,
    )


def content_option(parser) -> None:
    parser.add_argument("--content", choices=("off", "default"), default="off")


if __name__ == "__main__":
    main(VARIANTS, MODES, run_calls, run_startup, content_option)
