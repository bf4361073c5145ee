"""Zero-code: ``opentelemetry-instrument python app.py`` finds ``genai_cost_mistral`` and a plain
mistralai app's calls (whole and streamed) leave the process priced, over real OTLP/HTTP."""

from __future__ import annotations

import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from conftest import genai_prices_cost, run_zero_code
from mistral_support import usage_of

from genai_cost.instrumentation.mistral import MistralInstrumentor
from genai_cost.testing import StubProvider
from genai_cost.testing.mistral_wire import PREFIX
from genai_cost.testing.otlp_receiver import OtlpReceiver

MODEL = "mistral-small-latest"
APP = textwrap.dedent(
    f"""
    import os
    try:
        from mistralai.client import Mistral
    except ImportError:
        from mistralai import Mistral
    from opentelemetry import trace

    client = Mistral(server_url=os.environ["APP_MISTRAL_URL"])  # MISTRAL_API_KEY from env
    messages = [{{"role": "user", "content": "hi"}}]
    with trace.get_tracer("app").start_as_current_span("handle request"):
        reply = client.chat.complete(model="{MODEL}", messages=messages)
        events = list(client.chat.stream(model="{MODEL}", messages=messages))
    print("app done", reply.choices[0].finish_reason, len(events))
    """
)


def test_entry_point_names_the_instrumentor() -> None:
    [entry_point] = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "genai_cost_mistral"]
    assert entry_point.load() is MistralInstrumentor


def test_opentelemetry_instrument_prices_a_mistral_app(tmp_path: Path) -> None:
    app = tmp_path / "app.py"
    app.write_text(APP)
    with OtlpReceiver() as receiver, StubProvider() as stub:
        done = run_zero_code(
            app,
            receiver.endpoint,
            service="mistral-app",
            drop=("MISTRAL_",),
            OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="mistralai",  # OpenLLMetry's, if installed
            APP_MISTRAL_URL=f"{stub.url}{PREFIX}",
            MISTRAL_API_KEY="test-key",
        )
        assert done.returncode == 0 and "app done stop" in done.stdout, done.stderr[-4000:]
        spans = receiver.wait_for_spans(lambda s: any(x.name == "handle request" for x in s))
        sent = [r.response_body for r in stub.requests]

    ours = [s for s in spans if s.scope == "genai_cost"]
    assert [s.attributes.get("gen_ai.request.stream", False) for s in ours] == [False, True]
    usages = [usage_of(sent[0]["usage"]), usage_of(next(c["usage"] for c in reversed(sent[1]) if c.get("usage")))]
    for span, usage in zip(ours, usages, strict=True):
        a = span.attributes
        assert a["gen_ai.provider.name"] == "mistral_ai" and a["genai_cost.status"] == "priced"
        assert a["genai_cost.amount"] == pytest.approx(genai_prices_cost(MODEL, usage, "mistral"), abs=1e-9)
    root = next(s for s in spans if s.name == "handle request").attributes
    assert root["genai_cost.trace.calls"] == 2
