"""One measurement in one fresh process; prints one JSON line. ``run.py`` drives it.

    python worker.py calls   VARIANT MODE [--warmup N] [--batches N] [--batch-size N]
    python worker.py startup VARIANT

VARIANT: bare | floor | genai-cost | openllmetry
MODE:    chat (``chat.completions.create``) | stream (``stream=True``, read to the end)

Every variant: the pipeline of ``bench/harness/pipeline.py``, the real ``groq.Groq`` client over
the same in-process transport (``mock_groq.py``), the same application code. The bare side of
every variant is the same client with the instrumentation's patches switched off
(``bench/harness/toggle.py``), in the same process. No variant records message content.
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

VARIANTS = ("bare", "floor", "genai-cost", "openllmetry")
MODES = ("chat", "stream")


def instrument(variant: str, provider) -> None:
    """Import the instrumentation and switch it on (what ``startup`` times)."""
    if variant in ("bare", "floor"):
        return
    if variant == "genai-cost":
        import genai_cost
        from genai_cost.instrumentation.groq import GroqInstrumentor

        genai_cost.configure(tracer_provider=provider, instrument=False)  # pricing on, catalog loaded
        GroqInstrumentor().instrument(tracer_provider=provider)
    elif variant == "openllmetry":
        os.environ["TRACELOOP_TRACE_CONTENT"] = "false"
        from opentelemetry.instrumentation.groq import GroqInstrumentor

        GroqInstrumentor().instrument(tracer_provider=provider)
    else:
        raise SystemExit(f"unknown variant {variant}")


def make_call(mode: str, client):
    from harness.workload import SYSTEM
    from mock_groq import MESSAGES, REQUEST_MODEL

    completions = client.chat.completions  # `.create` looked up per call, as apps do
    messages = [{"role": "system", "content": SYSTEM}, *MESSAGES]
    if mode == "chat":

        def call() -> str:
            return completions.create(model=REQUEST_MODEL, max_tokens=200, messages=messages).choices[0].message.content

    else:

        def call() -> str:
            parts = []
            for chunk in completions.create(model=REQUEST_MODEL, max_tokens=200, messages=messages, stream=True):
                if chunk.choices and chunk.choices[0].delta.content:
                    parts.append(chunk.choices[0].delta.content)
            return "".join(parts)

    return call


def make_floor_call(mode: str, client, provider):
    """What any instrumentation must at least do: one CLIENT span, current while the call runs,
    with 12 attributes (6 known before the call, 6 after it)."""
    from harness.workload import SYSTEM
    from mock_groq import MESSAGES, REQUEST_MODEL
    from opentelemetry.trace import SpanKind

    tracer = provider.get_tracer("bench.floor")
    completions = client.chat.completions
    messages = [{"role": "system", "content": SYSTEM}, *MESSAGES]
    start_attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "groq",
        "gen_ai.request.model": REQUEST_MODEL,
        "gen_ai.request.max_tokens": 200,
        "server.address": "api.groq.com",
        "server.port": 443,
    }

    def end_attributes(model: str, response_id: str, finish: str, usage) -> dict:
        return {
            "gen_ai.response.model": model,
            "gen_ai.response.id": response_id,
            "gen_ai.response.finish_reasons": (finish,),
            "gen_ai.usage.input_tokens": usage.prompt_tokens,
            "gen_ai.usage.output_tokens": usage.completion_tokens,
            "groq.usage.total_time": usage.total_time or 0.0,
        }

    if mode == "chat":

        def floor_call() -> str:
            with tracer.start_as_current_span(
                "chat " + REQUEST_MODEL, kind=SpanKind.CLIENT, attributes=start_attributes
            ) as span:
                response = completions.create(model=REQUEST_MODEL, max_tokens=200, messages=messages)
                choice = response.choices[0]
                span.set_attributes(end_attributes(response.model, response.id, choice.finish_reason, response.usage))
                return choice.message.content

    else:

        def floor_call() -> str:
            with tracer.start_as_current_span(
                "chat " + REQUEST_MODEL, kind=SpanKind.CLIENT, attributes=start_attributes
            ) as span:
                parts = []
                last = None
                for chunk in completions.create(model=REQUEST_MODEL, max_tokens=200, messages=messages, stream=True):
                    if chunk.choices and chunk.choices[0].delta.content:
                        parts.append(chunk.choices[0].delta.content)
                    last = chunk
                span.set_attributes(
                    end_attributes(last.model, last.id, last.choices[0].finish_reason, last.x_groq.usage)
                )
                return "".join(parts)

    return floor_call


def run_calls(args) -> dict:
    import groq  # noqa: F401  (imported before set-up, as in startup)

    from mock_groq import ANSWER, make_client

    provider, exporter = make_pipeline()
    client = make_client()
    bare_call = make_call(args.mode, client)
    bare_call()  # the SDK imports its lazy modules now, so the snapshot below holds them
    toggle = PatchToggle(("groq", "httpx", "httpcore"), skip=("groq.types.",))
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
    import groq  # noqa: F401  (before the clock, as an application has it)
    import opentelemetry.sdk.trace  # noqa: F401

    from mock_groq import make_client

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
