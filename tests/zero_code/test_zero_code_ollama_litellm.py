"""Zero-code for the second-wave providers: ``opentelemetry-instrument python app.py`` prices an
app's Ollama calls (by the configured price of its local model) and its LiteLLM calls (routed to
OpenAI and Anthropic), over real OTLP/HTTP -- with OpenLLMetry's Ollama instrumentation active
too, whose span of the same call is marked duplicate so the trace's total counts it once."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from conftest import run_zero_code
from genai_prices import Usage, calc_price

from genai_cost.testing import StubProvider
from genai_cost.testing.otlp_receiver import OtlpReceiver

pytest.importorskip("ollama")
pytest.importorskip("litellm")

APP = textwrap.dedent(
    """
    import os
    import litellm, ollama
    from opentelemetry import trace

    tracer = trace.get_tracer("app")
    stub = os.environ["STUB_URL"]
    with tracer.start_as_current_span("handle request"):
        ollama.Client(host=stub).chat("llama3.2", [{"role": "user", "content": "hello"}])
        hi = [{"role": "user", "content": "hi"}]
        litellm.completion("openai/gpt-4o-mini", hi, api_base=stub + "/v1", api_key="k")
        litellm.completion(
            "anthropic/claude-haiku-4-5", [{"role": "user", "content": "hi"}], api_base=stub, api_key="k", max_tokens=50
        )
    print("app done")
    """
)
CONFIG = (
    "pricing:\n  custom_models:\n    - {model: llama3.2, provider: ollama, input_per_mtok: 0.2, output_per_mtok: 0.6}\n"
)


def test_ollama_and_litellm_calls_are_priced_zero_code(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "genai-cost.yaml").write_text(CONFIG)
    with OtlpReceiver() as receiver, StubProvider() as stub:
        done = run_zero_code(
            tmp_path / "app.py",
            receiver.endpoint,
            service="mixed-app",
            timeout=240,
            GENAI_COST_CONFIG=str(tmp_path / "genai-cost.yaml"),
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            STUB_URL=stub.url,
            # The official and OpenLLMetry openai packages register as `openai`: not this test's subject.
            OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai",
        )
        assert done.returncode == 0 and "app done" in done.stdout, done.stderr[-4000:]
        spans = receiver.wait_for_spans(lambda s: any(x.name == "handle request" for x in s))
        ollama_wire = next(r.response_body for r in stub.requests if r.path == "/api/chat")
    ours = {s.attributes["gen_ai.provider.name"]: s for s in spans if s.scope == "genai_cost"}
    assert set(ours) == {"ollama", "openai", "anthropic"}, [(s.name, s.scope) for s in spans]
    assert all(s.attributes["genai_cost.status"] == "priced" for s in ours.values())
    local = ours["ollama"].attributes
    assert local["genai_cost.amount"] == pytest.approx(
        ollama_wire["prompt_eval_count"] * 0.2e-6 + ollama_wire["eval_count"] * 0.6e-6, abs=1e-12
    )
    for provider in ("openai", "anthropic"):
        a = ours[provider].attributes
        usage = Usage(input_tokens=a["gen_ai.usage.input_tokens"], output_tokens=a["gen_ai.usage.output_tokens"])
        expected = calc_price(usage, a["gen_ai.response.model"], provider_id=provider).total_price
        assert a["genai_cost.amount"] == pytest.approx(float(expected), abs=1e-12)
    # OpenLLMetry's span of the Ollama call, if its instrumentation is installed, adds nothing.
    others = [s for s in spans if s.scope != "genai_cost" and "genai_cost.status" in s.attributes]
    assert all(s.attributes["genai_cost.status"] == "duplicate" for s in others), [
        (s.name, s.scope, s.attributes.get("genai_cost.status")) for s in others
    ]
    root = next(s for s in spans if s.name == "handle request").attributes
    assert root["genai_cost.trace.calls"] == 3
    assert root["genai_cost.trace.amount"] == pytest.approx(
        sum(s.attributes["genai_cost.amount"] for s in ours.values()), abs=1e-12
    )
