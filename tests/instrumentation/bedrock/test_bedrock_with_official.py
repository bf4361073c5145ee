"""With the official opentelemetry-instrumentation-botocore active too, each Bedrock call is still
priced exactly once: its span (a child of ours) is marked ``duplicate``, and the trace's total is
the true spend. The caller sees the same answers as without either."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from bedrock_support import MESSAGES, attrs, client, genai_prices_usage, genai_spans, instrumented, oracle, path
from opentelemetry import trace

from genai_cost.testing import StubProvider
from opentelemetry.instrumentation.botocore import BotocoreInstrumentor  # in the test extra: missing = fail, not skip


__all__ = ["client", "instrumented"]

MODEL = "us.amazon.nova-lite-v1:0"
# "...botocore.bedrock-runtime" in recent releases, "...botocore" in 0.51b0: a prefix covers both.
OFFICIAL_SCOPE = "opentelemetry.instrumentation.botocore"


@pytest.fixture
def official() -> Iterator[None]:
    BotocoreInstrumentor().instrument(tracer_provider=trace.get_tracer_provider())
    yield
    BotocoreInstrumentor().uninstrument()


def test_each_call_is_priced_once(official: None, client: Any, stub: StubProvider, span_exporter: Any) -> None:
    forced = {"inputTokens": 400, "outputTokens": 30}
    for op in ("converse", "converse-stream", "invoke", "invoke-with-response-stream"):
        stub.enqueue(path(MODEL, op), usage=forced)
    with trace.get_tracer("app").start_as_current_span("handle request"):
        reply = client.converse(modelId=MODEL, messages=MESSAGES)
        events = list(client.converse_stream(modelId=MODEL, messages=MESSAGES)["stream"])
        body = json.dumps({"messages": [{"role": "user", "content": [{"text": "hi"}]}]})
        invoked = json.loads(client.invoke_model(modelId=MODEL, body=body)["body"].read())
        chunks = list(client.invoke_model_with_response_stream(modelId=MODEL, body=body)["body"])

    assert reply["usage"]["inputTokens"] == 400 and "metadata" in events[-1]
    assert invoked["usage"]["inputTokens"] == 400 and len(chunks) > 3
    ours = genai_spans(span_exporter)
    assert [a["genai_cost.status"] for a in map(attrs, ours)] == ["priced"] * 4
    finished = span_exporter.get_finished_spans()
    theirs = [s for s in finished if s.instrumentation_scope.name.startswith(OFFICIAL_SCOPE)]
    assert len(theirs) == 4, [s.instrumentation_scope.name for s in finished]
    assert all(s.parent.span_id in {o.context.span_id for o in ours} for s in theirs)  # inside ours
    assert {attrs(s).get("genai_cost.status") for s in theirs} == {"duplicate"}
    expected = oracle(MODEL, genai_prices_usage(400, 30))
    root = attrs(next(s for s in finished if s.name == "handle request"))
    assert root["genai_cost.trace.calls"] == 4
    assert root["genai_cost.trace.amount"] == pytest.approx(4 * expected, abs=1e-9)
