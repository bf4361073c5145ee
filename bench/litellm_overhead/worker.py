"""One measurement in one fresh process; prints one JSON line. ``run.py`` drives it.

    python worker.py calls   VARIANT MODE [--warmup N] [--batches N] [--batch-size N]
    python worker.py startup VARIANT

VARIANT: bare | floor | genai-cost | litellm-otel
MODE:    chat (``litellm.completion``) | stream (``stream=True``, read to the end)

Every variant: the pipeline of ``bench/harness/pipeline.py``, ``litellm.completion("openai/...")``
over the OpenAI bench's in-process transport (``bench/openai_overhead/mock_openai.py``, handed to
LiteLLM as its ``client``), the same application code. ``litellm-otel`` is LiteLLM's own
OpenTelemetry callback, the peer that traces LiteLLM. The bare side of every variant is the same
call with the instrumentation's patches (or callback) switched off, in the same process.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "openai_overhead")]
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from harness.paired import measure_variant  # noqa: E402
from harness.pipeline import make_pipeline  # noqa: E402
from harness.process import main, time_startup  # noqa: E402
from harness.toggle import PatchToggle  # noqa: E402

VARIANTS = ("bare", "floor", "genai-cost", "litellm-otel")
MODES = ("chat", "stream")
MODEL = "openai/gpt-4o-mini"


class _Callbacks:
    """Switches LiteLLM's callback list the way PatchToggle switches patches."""

    def __init__(self, callbacks: list) -> None:
        self.callbacks = callbacks
        self.changes = callbacks  # what the harness counts as "patches"

    def set(self, instrumented: bool) -> None:
        import litellm

        litellm.callbacks = list(self.callbacks) if instrumented else []


def instrument(variant: str, provider):
    if variant in ("bare", "floor"):
        return None
    if variant == "genai-cost":
        import genai_cost
        from genai_cost.instrumentation.litellm import LiteLLMInstrumentor

        genai_cost.configure(tracer_provider=provider, instrument=False)
        LiteLLMInstrumentor().instrument(tracer_provider=provider)
        return None
    if variant == "litellm-otel":
        import litellm
        from litellm.integrations.opentelemetry import OpenTelemetry

        litellm.callbacks = [OpenTelemetry(tracer_provider=provider)]
        return _Callbacks(litellm.callbacks)
    raise SystemExit(f"unknown variant {variant}")


def make_call(mode: str, client):
    import litellm
    from mock_openai import MESSAGES

    if mode == "chat":

        def call() -> str:
            return litellm.completion(MODEL, MESSAGES, client=client).choices[0].message.content

    else:

        def call() -> str:
            return "".join(
                chunk.choices[0].delta.content or ""
                for chunk in litellm.completion(MODEL, MESSAGES, client=client, stream=True)
                if chunk.choices
            )

    return call


def make_floor_call(mode: str, client, provider):
    """One CLIENT span, current while the call runs, with 12 attributes (6 before, 6 after)."""
    from opentelemetry.trace import SpanKind

    tracer = provider.get_tracer("bench.floor")
    inner = make_call(mode, client)
    start_attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.stream": mode == "stream",
        "server.address": "api.openai.com",
        "server.port": 443,
    }
    end_attributes = {
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": "chatcmpl-bench",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 31,
        "gen_ai.usage.output_tokens": 19,
        "litellm.response_cost": 0.0,
    }

    def floor_call() -> str:
        with tracer.start_as_current_span(
            "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=start_attributes
        ) as span:
            answer = inner()
            span.set_attributes(end_attributes)
            return answer

    return floor_call


def run_calls(args) -> dict:
    import litellm  # noqa: F401
    from mock_openai import ANSWER, make_client

    provider, exporter = make_pipeline()
    client = make_client()
    bare_call = make_call(args.mode, client)
    bare_call()
    toggle = PatchToggle(("litellm",), skip=("litellm.types.", "litellm.llms."))
    switch = instrument(args.variant, provider)
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
        toggle=switch or toggle,
    )


def run_startup(args) -> dict:
    import litellm  # noqa: F401  (before the clock, as an application has it)
    import opentelemetry.sdk.trace  # noqa: F401
    from mock_openai import make_client

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
