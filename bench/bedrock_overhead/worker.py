"""One measurement in one fresh process; prints one JSON line. ``run.py`` drives it.

    python worker.py calls   VARIANT MODE [--warmup N] [--batches N] [--batch-size N]
    python worker.py startup VARIANT

VARIANT: bare | floor | genai-cost | genai-cost+budget
MODE:    chat (``converse``) | stream (``converse_stream``, read to the end)

Every variant: the pipeline of ``bench/harness/pipeline.py``, a real boto3 ``bedrock-runtime``
client over the same in-process answer (``mock_bedrock.py``), the same application code.
genai-cost wraps the methods of bedrock-runtime client *classes* built after ``instrument()``, so
the bare side of each pair is a client built before instrumenting, the instrumented side one
built after (same configuration, same mock); ``PatchToggle`` is not needed. No variant records
message content.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from harness.paired import measure_variant  # noqa: E402
from harness.pipeline import make_pipeline  # noqa: E402
from harness.process import main, time_startup  # noqa: E402

VARIANTS = ("bare", "floor", "genai-cost", "genai-cost+budget")
# The in-memory budget of the +budget variant: a monthly limit no benchmark reaches, so every call
# is reserved against and settled on, and goes through.
BENCH_BUDGET = {"name": "bench", "limit": 1_000_000.0, "window": "month", "action": "block"}
MODES = ("chat", "stream")


def instrument(variant: str, provider) -> None:
    """Import the instrumentation and switch it on (what ``startup`` times)."""
    if variant.startswith("genai-cost"):
        import genai_cost
        from genai_cost.instrumentation.bedrock import BedrockInstrumentor

        budgets = [BENCH_BUDGET] if variant == "genai-cost+budget" else None
        # Pricing on (the CostSpanProcessor wraps the export processor, catalog loaded).
        genai_cost.configure(tracer_provider=provider, instrument=False, budgets=budgets, ledger="memory")
        BedrockInstrumentor().instrument(tracer_provider=provider)


def make_call(mode: str, client):
    from mock_bedrock import INFERENCE, MESSAGES, REQUEST_MODEL, SYSTEM_BLOCKS as SYSTEM

    if mode == "chat":

        def call() -> str:
            response = client.converse(
                modelId=REQUEST_MODEL, messages=MESSAGES, system=SYSTEM, inferenceConfig=INFERENCE
            )
            return response["output"]["message"]["content"][0]["text"]

    else:

        def call() -> str:
            response = client.converse_stream(
                modelId=REQUEST_MODEL, messages=MESSAGES, system=SYSTEM, inferenceConfig=INFERENCE
            )
            parts = []
            for event in response["stream"]:
                delta = event.get("contentBlockDelta")
                if delta is not None:
                    parts.append(delta["delta"]["text"])
            return "".join(parts)

    return call


def make_floor_call(mode: str, client, provider):
    """What any instrumentation must at least do: one CLIENT span, current while the call runs,
    with 12 attributes (6 known before the call, 6 after it)."""
    from mock_bedrock import INFERENCE, MESSAGES, REQUEST_MODEL, SYSTEM_BLOCKS as SYSTEM
    from opentelemetry.trace import SpanKind

    tracer = provider.get_tracer("bench.floor")
    start_attributes = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "aws.bedrock",
        "gen_ai.request.model": REQUEST_MODEL,
        "gen_ai.request.max_tokens": 200,
        "server.address": "bedrock-runtime.us-east-1.amazonaws.com",
        "server.port": 443,
    }

    def end_attributes(response: dict, stop: str, usage: dict) -> dict:
        return {
            "gen_ai.response.finish_reasons": (stop,),
            "gen_ai.usage.input_tokens": usage["inputTokens"],
            "gen_ai.usage.output_tokens": usage["outputTokens"],
            "gen_ai.usage.cache_read.input_tokens": usage.get("cacheReadInputTokens", 0),
            "gen_ai.usage.cache_write.input_tokens": usage.get("cacheWriteInputTokens", 0),
            "aws.request_id": response["ResponseMetadata"]["RequestId"],
        }

    if mode == "chat":

        def floor_call() -> str:
            with tracer.start_as_current_span(
                "chat " + REQUEST_MODEL, kind=SpanKind.CLIENT, attributes=start_attributes
            ) as span:
                response = client.converse(
                    modelId=REQUEST_MODEL, messages=MESSAGES, system=SYSTEM, inferenceConfig=INFERENCE
                )
                span.set_attributes(end_attributes(response, response["stopReason"], response["usage"]))
                return response["output"]["message"]["content"][0]["text"]

    else:

        def floor_call() -> str:
            with tracer.start_as_current_span(
                "chat " + REQUEST_MODEL, kind=SpanKind.CLIENT, attributes=start_attributes
            ) as span:
                response = client.converse_stream(
                    modelId=REQUEST_MODEL, messages=MESSAGES, system=SYSTEM, inferenceConfig=INFERENCE
                )
                parts = []
                stop = usage = None
                for event in response["stream"]:
                    delta = event.get("contentBlockDelta")
                    if delta is not None:
                        parts.append(delta["delta"]["text"])
                    elif "messageStop" in event:
                        stop = event["messageStop"]["stopReason"]
                    elif "metadata" in event:
                        usage = event["metadata"]["usage"]
                span.set_attributes(end_attributes(response, stop, usage))
                return "".join(parts)

    return floor_call


def run_calls(args) -> dict:
    from mock_bedrock import ANSWER, make_client

    provider, exporter = make_pipeline()
    bare_call = make_call(args.mode, make_client())
    bare_call()  # botocore loads its lazy pieces (parsers, the eventstream decoder) now
    instrument(args.variant, provider)
    if args.variant == "floor":
        call = make_floor_call(args.mode, make_client(), provider)
    else:
        call = make_call(args.mode, make_client())  # for genai-cost: a client built instrumented

    return measure_variant(
        args.variant,
        args,
        call=call,
        bare_call=bare_call,
        provider=provider,
        exporter=exporter,
        expected=ANSWER,
    )


def run_startup(args) -> dict:
    from mock_bedrock import make_client

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
