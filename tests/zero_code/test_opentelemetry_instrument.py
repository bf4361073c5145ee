"""Zero-code: ``opentelemetry-instrument python app.py`` with genai-cost installed exports priced
spans over real OTLP/HTTP to a real receiver in this test — with opentelemetry-distro's
configurator, and without any distro or configurator.

"Without a distro" runs in this same environment (which has opentelemetry-distro installed) by
pointing OTEL_PYTHON_DISTRO / OTEL_PYTHON_CONFIGURATOR at names no package provides: the
auto-instrumentation loader then takes exactly the path it takes when none is installed
(DefaultDistro, no configurator). Users set neither variable.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from genai_cost.testing import StubProvider
from genai_cost.testing.otlp_receiver import OtlpReceiver

APP = textwrap.dedent(
    """
    import anthropic, openai
    from opentelemetry import trace
    import genai_cost

    tracer = trace.get_tracer("app")
    client = openai.OpenAI(max_retries=0)             # OPENAI_BASE_URL / OPENAI_API_KEY from env
    claude = anthropic.Anthropic(max_retries=0)       # ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY
    with tracer.start_as_current_span("handle request"):
        with genai_cost.cost_context(feature="summarize", user="u-7"):
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
            claude.messages.create(
                model="claude-3-5-haiku-latest", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
            )
    print("app done")
    """
)

INSTRUMENT = Path(sys.executable).with_name("opentelemetry-instrument")


def run_app(
    tmp_path: Path, receiver: OtlpReceiver, stub: StubProvider, **extra_env: str
) -> subprocess.CompletedProcess[str]:
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GENAI_COST_", "OPENAI_", "ANTHROPIC_"))}
    env.update(
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_SERVICE_NAME="zero-code-app",
        OTEL_METRIC_EXPORT_INTERVAL="1000",
        OPENAI_BASE_URL=stub.base_url,
        OPENAI_API_KEY="sk-test",
        ANTHROPIC_BASE_URL=stub.url,
        ANTHROPIC_API_KEY="test",
        GENAI_COST_TEAM="platform",
        # The official and OpenLLMetry packages (installed for other tests) both register as
        # `openai`; ours is `genai_cost_openai`, so this switches only them off.
        OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai",
    )
    env.update(extra_env)
    return subprocess.run(
        [str(INSTRUMENT), sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, id="with-opentelemetry-distro"),
        pytest.param({"OTEL_PYTHON_DISTRO": "absent", "OTEL_PYTHON_CONFIGURATOR": "absent"}, id="without-distro"),
    ],
)
def test_priced_spans_reach_the_otlp_endpoint(tmp_path: Path, mode: dict[str, str]) -> None:
    with OtlpReceiver() as receiver, StubProvider() as stub:
        done = run_app(tmp_path, receiver, stub, **mode)
        assert done.returncode == 0 and "app done" in done.stdout, done.stderr[-4000:]
        spans = receiver.wait_for_spans(lambda s: any(x.name == "handle request" for x in s))
        assert receiver.wait_for(lambda r: "gen_ai.client.operation.cost" in r.metric_names, timeout=10), (
            receiver.metric_names
        )
    by_name = {s.name: s for s in spans}
    assert "handle request" in by_name, [s.name for s in spans]
    priced = [s for s in spans if s.attributes.get("genai_cost.status") == "priced"]
    assert {(s.attributes["gen_ai.provider.name"], s.scope) for s in priced} == {
        ("openai", "genai_cost"),
        ("anthropic", "genai_cost"),
    }, [(s.name, s.scope, s.attributes) for s in spans]
    # anthropic's own span of the same call is kept, and marked so it adds nothing to the sum.
    sdk_spans = [s for s in spans if s.scope == "com.anthropic.sdk.python"]
    assert [s.attributes.get("genai_cost.status") for s in sdk_spans] == ["duplicate"]
    assert "Failed to auto initialize" not in done.stderr
    for span in priced:
        a = span.attributes
        usage = Usage(
            input_tokens=a["gen_ai.usage.input_tokens"],
            output_tokens=a["gen_ai.usage.output_tokens"],
            cache_read_tokens=a.get("gen_ai.usage.cache_read.input_tokens", 0),
        )
        expected = calc_price(usage, a["gen_ai.response.model"], provider_id=a["gen_ai.provider.name"]).total_price
        assert a["genai_cost.amount"] == pytest.approx(float(expected), abs=1e-12)
        assert a["genai_cost.team"] == "platform"  # GENAI_COST_TEAM default
        assert a["genai_cost.feature"] == "summarize" and a["user.id"] == "u-7"  # cost_context
        assert span.resource["service.name"] == "zero-code-app"
    root = by_name["handle request"].attributes
    assert root["genai_cost.trace.calls"] == len(priced) == 2
    assert root["genai_cost.trace.amount"] == pytest.approx(
        sum(s.attributes["genai_cost.amount"] for s in priced), abs=1e-15
    )


def test_with_every_openai_instrumentation_active_each_call_is_priced_once(tmp_path: Path) -> None:
    with OtlpReceiver() as receiver, StubProvider() as stub:
        done = run_app(
            tmp_path,
            receiver,
            stub,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="",
        )
        assert done.returncode == 0, done.stderr[-4000:]
        spans = receiver.wait_for_spans(lambda s: any(x.name == "handle request" for x in s))
    openai_spans = [s for s in spans if s.attributes.get("gen_ai.provider.name") == "openai"]
    assert len(openai_spans) == 3  # ours, official, OpenLLMetry
    statuses = sorted(s.attributes["genai_cost.status"] for s in openai_spans)
    assert statuses == ["duplicate", "duplicate", "priced"]
    [priced] = [s for s in openai_spans if s.attributes["genai_cost.status"] == "priced"]
    assert priced.scope == "genai_cost"  # ours wraps the others and carries the price
    root = next(s for s in spans if s.name == "handle request").attributes
    assert root["genai_cost.trace.calls"] == 2


def test_broken_config_file_is_named_and_the_app_still_runs(tmp_path: Path) -> None:
    config = tmp_path / "genai-cost.yaml"
    config.write_text("pricing:\n  discounts:\n    - percent: 150\n")
    with OtlpReceiver() as receiver, StubProvider() as stub:
        done = run_app(
            tmp_path, receiver, stub, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", GENAI_COST_CONFIG=str(config)
        )
        assert done.returncode == 0 and "app done" in done.stdout, done.stderr[-4000:]
        spans = receiver.wait_for_spans(lambda s: any(x.name == "handle request" for x in s))
    assert f"{config}: pricing.discounts[0].percent: must be between 0.0 and 100.0, got 150" in done.stderr
    # said once, not once per instrumentor
    assert done.stderr.count("must be between 0.0 and 100.0") == 1, done.stderr
    # genai-cost stood down instead of pricing with half a configuration
    assert not any("genai_cost.amount" in s.attributes for s in spans)


def test_bad_environment_variable_is_named_once(tmp_path: Path) -> None:
    with OtlpReceiver() as receiver, StubProvider() as stub:
        done = run_app(
            tmp_path, receiver, stub, OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf", GENAI_COST_METRICS_USER_ID="maybe"
        )
    assert done.returncode == 0 and "app done" in done.stdout, done.stderr[-4000:]
    assert done.stderr.count("GENAI_COST_METRICS_USER_ID: expected true or false, got 'maybe'") == 1, done.stderr
