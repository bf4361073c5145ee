"""One measurement in one fresh process; prints one JSON line. ``run.py`` drives it.

    python worker.py calls   VARIANT MODE [--warmup N] [--batches N] [--batch-size N]
    python worker.py startup VARIANT

VARIANT: bare | floor | genai-cost | genai-cost+budget | genai-cost+sdk | anthropic-sdk | openllmetry | openlit
MODE:    chat (``messages.create``) | stream (``messages.create(stream=True)``, read to the end)

Every variant: the pipeline of ``bench/harness/pipeline.py``, the real ``anthropic.Anthropic``
client over the same in-process transport (``mock_anthropic.py``), the same application code.
anthropic 2.x traces itself whenever a global tracer provider is set, so every client is built
with ``open_telemetry=False`` except where that tracing is what is measured: ``anthropic-sdk``
(its own tracing alone) and ``genai-cost+sdk`` (genai-cost with it left on, the default: its span
is then marked ``duplicate``). The bare side of every variant is the untraced client with the
instrumentation's patches switched off (``bench/harness/toggle.py``), in the same process.
No variant records message content.
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
    "genai-cost+budget",
    "genai-cost+sdk",
    "anthropic-sdk",
    "openllmetry",
    "openlit",
)
# genai-cost+budget: one monthly in-memory budget every call is reserved against and settled on
# (as the harness and bench/openai_overhead set it up; its limit is never reached).
BENCH_BUDGET = {"name": "bench", "limit": 1e12, "window": "month"}
MODES = ("chat", "stream")
# Variants whose instrumented side is anthropic's own tracing (a client built with it on).
SDK_TRACED = ("genai-cost+sdk", "anthropic-sdk")


def instrument(variant: str, provider) -> None:
    """Import the instrumentation and switch it on (what ``startup`` times)."""
    if variant in ("bare", "floor", "anthropic-sdk"):
        return
    if variant in ("genai-cost", "genai-cost+sdk", "genai-cost+budget"):
        import genai_cost
        from genai_cost.instrumentation.anthropic import AnthropicInstrumentor

        budgets = [BENCH_BUDGET] if variant == "genai-cost+budget" else None
        # pricing on, catalog loaded
        genai_cost.configure(tracer_provider=provider, instrument=False, budgets=budgets, ledger="memory")
        AnthropicInstrumentor().instrument(tracer_provider=provider)
    elif variant == "openllmetry":
        os.environ["TRACELOOP_TRACE_CONTENT"] = "false"
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument(tracer_provider=provider)
    elif variant == "openlit":
        import openlit
        from openlit._instrumentors import MODULE_NAME_MAP

        openlit.init(
            disabled_instrumentors=[name for name in MODULE_NAME_MAP if name != "anthropic"],
            disable_metrics=True,
            disable_events=True,
            collect_gpu_stats=False,
            collect_system_metrics=False,
            # Without a local file it downloads prices from GitHub at init (20 s timeout).
            pricing_json=str(HERE / "openlit_pricing.json"),
            capture_message_content=False,
        )
    else:
        raise SystemExit(f"unknown variant {variant}")


def make_call(mode: str, client):
    from harness.workload import SYSTEM
    from mock_anthropic import MESSAGES, REQUEST_MODEL

    messages = client.messages  # `.create` looked up per call, as apps do (and patches apply)
    if mode == "chat":

        def call() -> str:
            return (
                messages.create(model=REQUEST_MODEL, max_tokens=200, system=SYSTEM, messages=MESSAGES).content[0].text
            )

    else:

        def call() -> str:
            parts = []
            for event in messages.create(
                model=REQUEST_MODEL, max_tokens=200, system=SYSTEM, messages=MESSAGES, stream=True
            ):
                if event.type == "content_block_delta":
                    parts.append(event.delta.text)
            return "".join(parts)

    return call


def make_floor_call(mode: str, client, provider):
    """What any instrumentation must at least do: one CLIENT span, current while the call runs,
    with 12 attributes (6 known before the call, 6 after it)."""
    from harness.workload import SYSTEM
    from mock_anthropic import MESSAGES, REQUEST_MODEL
    from opentelemetry.trace import SpanKind

    tracer = provider.get_tracer("bench.floor")
    messages = client.messages
    start_attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": REQUEST_MODEL,
        "gen_ai.request.max_tokens": 200,
        "server.address": "api.anthropic.com",
        "server.port": 443,
    }

    def end_attributes(
        model: str, message_id: str, stop: str, input_tokens: int, output_tokens: int, tier: str
    ) -> dict:
        return {
            "gen_ai.response.model": model,
            "gen_ai.response.id": message_id,
            "gen_ai.response.finish_reasons": (stop,),
            "gen_ai.usage.input_tokens": input_tokens,
            "gen_ai.usage.output_tokens": output_tokens,
            "anthropic.response.service_tier": tier,
        }

    if mode == "chat":

        def floor_call() -> str:
            with tracer.start_as_current_span(
                "chat " + REQUEST_MODEL, kind=SpanKind.CLIENT, attributes=start_attributes
            ) as span:
                message = messages.create(model=REQUEST_MODEL, max_tokens=200, system=SYSTEM, messages=MESSAGES)
                usage = message.usage
                span.set_attributes(
                    end_attributes(
                        message.model,
                        message.id,
                        message.stop_reason,
                        usage.input_tokens,
                        usage.output_tokens,
                        usage.service_tier or "",
                    )
                )
                return message.content[0].text

    else:

        def floor_call() -> str:
            with tracer.start_as_current_span(
                "chat " + REQUEST_MODEL, kind=SpanKind.CLIENT, attributes=start_attributes
            ) as span:
                parts = []
                start = delta = None
                for event in messages.create(
                    model=REQUEST_MODEL, max_tokens=200, system=SYSTEM, messages=MESSAGES, stream=True
                ):
                    kind = event.type
                    if kind == "content_block_delta":
                        parts.append(event.delta.text)
                    elif kind == "message_start":
                        start = event.message
                    elif kind == "message_delta":
                        delta = event
                span.set_attributes(
                    end_attributes(
                        start.model,
                        start.id,
                        delta.delta.stop_reason,
                        start.usage.input_tokens,
                        delta.usage.output_tokens,
                        start.usage.service_tier or "",
                    )
                )
                return "".join(parts)

    return floor_call


def run_calls(args) -> dict:
    import anthropic  # noqa: F401  (imported before set-up, as in startup)

    from mock_anthropic import ANSWER, make_client

    provider, exporter = make_pipeline()
    client = make_client(sdk_tracing=False)
    bare_call = make_call(args.mode, client)
    bare_call()  # the SDK imports its lazy modules now, so the snapshot below holds them
    toggle = PatchToggle(("anthropic", "httpx2", "httpcore2"), skip=("anthropic.types.",))
    instrument(args.variant, provider)
    toggle.capture()
    if args.variant == "floor":
        call = make_floor_call(args.mode, client, provider)
    elif args.variant in SDK_TRACED:
        call = make_call(args.mode, make_client(sdk_tracing=True))
    else:
        call = bare_call

    return measure_variant(
        args.variant,
        args,
        call=call,
        bare_call=bare_call,
        provider=provider,
        exporter=exporter,
        expected=ANSWER,
        toggle=toggle,
    )


def run_startup(args) -> dict:
    import anthropic  # noqa: F401  (before the clock, as an application has it)
    import opentelemetry.sdk.trace  # noqa: F401

    from mock_anthropic import make_client

    provider, exporter = make_pipeline()
    return time_startup(
        bare_call=make_call(args.mode, make_client(sdk_tracing=False)),
        instrument=lambda: instrument(args.variant, provider),
        make_call=lambda: make_call(args.mode, make_client(sdk_tracing=args.variant in SDK_TRACED)),
        provider=provider,
        exporter=exporter,
    )


if __name__ == "__main__":
    main(VARIANTS, MODES, run_calls, run_startup)
