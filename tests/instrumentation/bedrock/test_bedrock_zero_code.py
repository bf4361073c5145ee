"""Zero-code: ``opentelemetry-instrument python app.py`` finds ``genai_cost_bedrock`` (instruments
botocore) and a plain boto3 app's Bedrock calls leave the process priced, over real OTLP/HTTP."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from conftest import run_zero_code
from bedrock_support import genai_prices_usage, oracle

from genai_cost.instrumentation.bedrock import BedrockInstrumentor
from genai_cost.testing import StubProvider
from genai_cost.testing.otlp_receiver import OtlpReceiver

MODEL = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
APP = textwrap.dedent(
    f"""
    import boto3, botocore.config
    from opentelemetry import trace

    config = botocore.config.Config(retries={{"total_max_attempts": 1}})
    bedrock = boto3.client("bedrock-runtime", region_name="us-east-1", config=config)  # endpoint from env
    messages = [{{"role": "user", "content": [{{"text": "hi"}}]}}]
    with trace.get_tracer("app").start_as_current_span("handle request"):
        reply = bedrock.converse(modelId="{MODEL}", messages=messages)
        events = list(bedrock.converse_stream(modelId="{MODEL}", messages=messages)["stream"])
    print("app done", reply["stopReason"], len(events))
    """
)


def test_entry_point_names_the_instrumentor() -> None:
    [entry_point] = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "genai_cost_bedrock"]
    assert entry_point.load() is BedrockInstrumentor
    assert BedrockInstrumentor().instrumentation_dependencies() == ("botocore >= 1.34.116",)


def test_opentelemetry_instrument_prices_a_boto3_app(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    with OtlpReceiver() as receiver, StubProvider() as stub:
        done = run_zero_code(
            app,
            receiver.endpoint,
            service="boto3-app",
            drop=("AWS_",),
            OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="botocore",  # the official one, if installed
            AWS_ENDPOINT_URL_BEDROCK_RUNTIME=stub.url,
            AWS_ACCESS_KEY_ID="AKIDTEST",
            AWS_SECRET_ACCESS_KEY="test-secret",
        )
        assert done.returncode == 0 and "app done end_turn" in done.stdout, done.stderr[-4000:]
        spans = receiver.wait_for_spans(lambda s: any(x.name == "handle request" for x in s))
        sent = [r.response_body for r in stub.requests]

    ours = [s for s in spans if s.scope == "genai_cost"]
    assert [s.attributes.get("gen_ai.request.stream", False) for s in ours] == [False, True]
    usage = sent[0]["usage"]
    for span in ours:
        a = span.attributes
        assert a["gen_ai.provider.name"] == "aws.bedrock" and a["genai_cost.status"] == "priced"
        expected = oracle(MODEL, genai_prices_usage(usage["inputTokens"], usage["outputTokens"]))
        assert a["genai_cost.amount"] == pytest.approx(expected, abs=1e-9)
    root = next(s for s in spans if s.name == "handle request").attributes
    assert root["genai_cost.trace.calls"] == 2


def test_instrumenting_imports_no_botocore_until_the_app_does() -> None:
    script = textwrap.dedent(
        """
        import sys
        from opentelemetry.sdk.trace import TracerProvider
        from genai_cost.instrumentation.bedrock import BedrockInstrumentor

        BedrockInstrumentor().instrument(tracer_provider=TracerProvider())
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("botocore", "boto3")))
        import boto3, wrapt
        keys = {"aws_access_key_id": "a", "aws_secret_access_key": "b"}
        client = boto3.client("bedrock-runtime", region_name="us-east-1", **keys)
        print(isinstance(type(client).__dict__["converse"], wrapt.FunctionWrapper))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["[]", "True"]
