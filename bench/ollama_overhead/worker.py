"""One measurement in one fresh process; prints one JSON line. ``run.py`` drives it.

    python worker.py calls   VARIANT MODE [--warmup N] [--batches N] [--batch-size N]
    python worker.py startup VARIANT

VARIANT: bare | floor | genai-cost | genai-cost-unpriced | openllmetry
MODE:    chat (``client.chat``) | stream (``client.chat(stream=True)``, read to the end)

Every variant: the pipeline of ``bench/harness/pipeline.py``, the real ``ollama.Client`` over the
same in-process transport (``mock_ollama.py``), the same application code. ``genai-cost`` prices
the local model by a configured per-token price (status ``priced``); ``genai-cost-unpriced`` runs
without one (status ``unknown_model``, the default for a local model). The bare side of every
variant is the same client with the instrumentation's patches switched off, in the same process.
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

VARIANTS = ("bare", "floor", "genai-cost", "genai-cost-unpriced", "openllmetry")
MODES = ("chat", "stream")


def instrument(variant: str, provider) -> None:
    if variant in ("bare", "floor"):
        return
    if variant.startswith("genai-cost"):
        import genai_cost
        from genai_cost.instrumentation.ollama import OllamaInstrumentor
        from genai_cost.pricing import CustomPrice, PriceCatalog, PriceOverrides, set_catalog

        genai_cost.configure(tracer_provider=provider, instrument=False)
        if variant == "genai-cost":
            local = CustomPrice(model="llama3.2", provider="ollama", input_per_mtok=0.2, output_per_mtok=0.6)
            set_catalog(PriceCatalog(PriceOverrides(custom_models=(local,))))
        OllamaInstrumentor().instrument(tracer_provider=provider)
    elif variant == "openllmetry":
        os.environ["TRACELOOP_TRACE_CONTENT"] = "false"
        from opentelemetry.instrumentation.ollama import OllamaInstrumentor

        OllamaInstrumentor().instrument(tracer_provider=provider)
    else:
        raise SystemExit(f"unknown variant {variant}")


def make_call(mode: str, client):
    from mock_ollama import MESSAGES, MODEL

    if mode == "chat":

        def call() -> str:
            return client.chat(MODEL, MESSAGES).message.content

    else:

        def call() -> str:
            return "".join(chunk.message.content for chunk in client.chat(MODEL, MESSAGES, stream=True))

    return call


def make_floor_call(mode: str, client, provider):
    """What any instrumentation must at least do: one CLIENT span, current while the call runs,
    with 12 attributes (6 known before the call, 6 after it)."""
    from mock_ollama import MESSAGES, MODEL
    from opentelemetry.trace import SpanKind

    tracer = provider.get_tracer("bench.floor")
    start_attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "ollama",
        "gen_ai.request.model": MODEL,
        "gen_ai.request.stream": mode == "stream",
        "server.address": "127.0.0.1",
        "server.port": 11434,
    }

    def end(span, final) -> None:
        span.set_attributes(
            {
                "gen_ai.response.model": final.model,
                "gen_ai.response.finish_reasons": (final.done_reason,),
                "gen_ai.usage.input_tokens": final.prompt_eval_count,
                "gen_ai.usage.output_tokens": final.eval_count,
                "ollama.total_duration": final.total_duration,
                "ollama.eval_duration": final.eval_duration,
            }
        )

    def floor_call() -> str:
        with tracer.start_as_current_span("chat " + MODEL, kind=SpanKind.CLIENT, attributes=start_attributes) as span:
            if mode == "chat":
                response = client.chat(MODEL, MESSAGES)
                end(span, response)
                return response.message.content
            parts, final = [], None
            for chunk in client.chat(MODEL, MESSAGES, stream=True):
                parts.append(chunk.message.content)
                final = chunk
            end(span, final)
            return "".join(parts)

    return floor_call


def run_calls(args) -> dict:
    from mock_ollama import ANSWER, make_client

    provider, exporter = make_pipeline()
    client = make_client()
    bare_call = make_call(args.mode, client)
    bare_call()
    toggle = PatchToggle(("ollama", "httpx", "httpcore"))
    instrument(args.variant, provider)
    toggle.capture()
    call = make_floor_call(args.mode, client, provider) if args.variant == "floor" else bare_call
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
    import ollama  # noqa: F401  (before the clock, as an application has it)
    import opentelemetry.sdk.trace  # noqa: F401

    from mock_ollama import make_client

    provider, exporter = make_pipeline()
    return time_startup(
        bare_call=make_call(args.mode, make_client()),
        instrument=lambda: instrument(args.variant, provider),
        make_call=lambda: make_call(args.mode, make_client()),
        provider=provider,
        exporter=exporter,
    )


if __name__ == "__main__":
    main(VARIANTS, MODES, run_calls, run_startup)
