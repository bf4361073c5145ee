"""Zero-code: ``opentelemetry-instrument python app.py`` finds ``genai_cost_cohere`` and a plain
cohere app's calls (v2 chat, a v2 stream and a rerank) leave the process priced, or said to be
unpriced, over real OTLP/HTTP. Under ``opentelemetry-instrument`` the instrumentor is installed
before the app makes its client, so cohere's per-client method binding is no obstacle."""

from __future__ import annotations

import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from cohere_support import MODEL, usage_of
from conftest import genai_prices_cost, run_zero_code

from genai_cost.instrumentation.cohere import CohereInstrumentor
from genai_cost.testing import StubProvider
from genai_cost.testing.cohere_wire import PREFIX
from genai_cost.testing.otlp_receiver import OtlpReceiver

APP = textwrap.dedent(
    f"""
    import os
    import cohere
    from opentelemetry import trace

    client = cohere.ClientV2(api_key="test-key", base_url=os.environ["APP_COHERE_URL"])
    messages = [{{"role": "user", "content": "hi"}}]
    with trace.get_tracer("app").start_as_current_span("handle request"):
        reply = client.chat(model="{MODEL}", messages=messages)
        events = list(client.chat_stream(model="{MODEL}", messages=messages))
        client.rerank(model="rerank-v3.5", query="q", documents=["a", "b"])
    print("app done", reply.finish_reason, len(events))
    """
)


def test_entry_point_names_the_instrumentor() -> None:
    [entry_point] = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "genai_cost_cohere"]
    assert entry_point.load() is CohereInstrumentor


def _billed(body: object) -> dict:
    if isinstance(body, list):  # a stream: usage on its last event
        body = body[-1]
        body = body.get("response") or body.get("delta") or body
    return dict((body.get("usage") or body.get("meta"))["billed_units"])


def test_opentelemetry_instrument_prices_a_cohere_app(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    with OtlpReceiver() as receiver, StubProvider() as stub:
        done = run_zero_code(
            app,
            receiver.endpoint,
            service="cohere-app",
            drop=("CO_API",),
            OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="cohere",  # OpenLLMetry's, if installed
            APP_COHERE_URL=f"{stub.url}{PREFIX}",
        )
        assert done.returncode == 0 and "app done" in done.stdout, done.stderr[-4000:]
        assert "Traceback" not in done.stderr, done.stderr[-4000:]
        spans = receiver.wait_for_spans(lambda s: any(x.name == "handle request" for x in s))
        sent = [r.response_body for r in stub.requests]

    ours = [s for s in spans if s.scope == "genai_cost"]
    assert [s.attributes["gen_ai.operation.name"] for s in ours] == ["chat", "chat", "rerank"]
    for span, body in zip(ours[:2], sent[:2], strict=True):
        a = span.attributes
        assert a["gen_ai.provider.name"] == "cohere" and a["genai_cost.status"] == "priced"
        assert a["genai_cost.amount"] == pytest.approx(
            genai_prices_cost(MODEL, usage_of(_billed(body)), "cohere"), abs=1e-9
        )
    rerank = ours[2].attributes
    assert rerank["genai_cost.status"] == "unknown_model" and "genai_cost.amount" not in rerank  # never $0
    root = next(s for s in spans if s.name == "handle request").attributes  # the priced calls roll up
    assert root["genai_cost.trace.calls"] == 2
    assert root["genai_cost.trace.amount"] == pytest.approx(sum(s.attributes["genai_cost.amount"] for s in ours[:2]))
