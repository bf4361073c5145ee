"""anthropic 2.x traces itself (span ``anthropic.messages.create``, scope ``com.anthropic.sdk.python``).
With both on, a trace must still sum to the true spend: exactly one span per call carries the
amount -- ours, which holds the budget decision -- and the SDK's is a ``duplicate`` of it, or is not
made at all when ``sdk_tracing="off"``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic_support import (
    MESSAGES,
    MODEL,
    RICH_USAGE,
    SDK_SCOPE,
    SNAPSHOT,
    TOLERANCE,
    attrs,
    genai_spans,
    instrument,
    instrumented,
    no_content_capture,
    oracle,
    uninstrumented,
    usage_of,
    wire_usage,
)
from opentelemetry import trace

from genai_cost.instrumentation.anthropic import AnthropicInstrumentor
from genai_cost.instrumentation.anthropic.sdk_tracing import sdk_tracing_mode
from genai_cost.testing import StubProvider

__all__ = ["instrumented", "no_content_capture"]


def three_calls(claude: anthropic.Anthropic, stub: StubProvider, usage: dict[str, Any] = RICH_USAGE) -> float:
    """create, create(stream=True) and the .stream() helper under one parent; their true cost."""
    expected = 0.0
    with trace.get_tracer("app").start_as_current_span("handle request"):
        stub.enqueue("/v1/messages", usage=usage)
        claude.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        expected += oracle(SNAPSHOT, usage_of(wire_usage(stub)))
        list(claude.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES, stream=True))
        expected += oracle(SNAPSHOT, usage_of(wire_usage(stub)))
        with claude.messages.stream(model=MODEL, max_tokens=64, messages=MESSAGES) as stream:
            stream.get_final_message()
        expected += oracle(SNAPSHOT, usage_of(wire_usage(stub)))
    return expected


def trace_sum(exporter: Any) -> float:
    return sum(float(s.attributes.get("genai_cost.amount", 0.0)) for s in exporter.get_finished_spans())


def root(exporter: Any) -> dict[str, Any]:
    return attrs(next(s for s in exporter.get_finished_spans() if s.name == "handle request"))


def test_sdk_tracing_on_its_spans_are_duplicates(stub: StubProvider, span_exporter: Any) -> None:
    claude = anthropic.Anthropic(base_url=stub.url, api_key="test", max_retries=0)
    expected = three_calls(claude, stub)

    ours = genai_spans(span_exporter)
    theirs = genai_spans(span_exporter, SDK_SCOPE)
    assert len(ours) == len(theirs) == 3
    our_ids = {f"{s.context.span_id:016x}" for s in ours}
    for span in theirs:
        a = attrs(span)
        assert a["genai_cost.status"] == "duplicate", a.get("genai_cost.status.detail")
        assert a["genai_cost.duplicate_of"] in our_ids
        assert "genai_cost.amount" not in a and "gen_ai.usage.cost" not in a
        assert span.parent is not None and f"{span.parent.span_id:016x}" in our_ids  # nested in ours
    assert all(attrs(s)["genai_cost.status"] == "priced" for s in ours)
    assert trace_sum(span_exporter) == pytest.approx(expected, abs=TOLERANCE)
    assert root(span_exporter)["genai_cost.trace.amount"] == pytest.approx(expected, abs=TOLERANCE)
    assert root(span_exporter)["genai_cost.trace.calls"] == 3


def test_sdk_tracing_off_by_the_user(stub: StubProvider, span_exporter: Any) -> None:
    claude = anthropic.Anthropic(base_url=stub.url, api_key="test", max_retries=0, open_telemetry=False)
    expected = three_calls(claude, stub)
    assert genai_spans(span_exporter, SDK_SCOPE) == []
    assert len(genai_spans(span_exporter)) == 3
    assert trace_sum(span_exporter) == pytest.approx(expected, abs=TOLERANCE)
    assert root(span_exporter)["genai_cost.trace.calls"] == 3


def test_only_the_sdk_tracing_it_is_priced_alone(stub: StubProvider, span_exporter: Any) -> None:
    # The SDK's span records no server tool use, so web searches are left out here: one reason
    # ours, which prices them, is the span that carries the amount when both are on.
    no_tools = {k: v for k, v in RICH_USAGE.items() if k != "server_tool_use"}
    with uninstrumented():
        claude = anthropic.Anthropic(base_url=stub.url, api_key="test", max_retries=0)
        expected = three_calls(claude, stub, no_tools)
    assert genai_spans(span_exporter) == []
    theirs = genai_spans(span_exporter, SDK_SCOPE)
    assert len(theirs) == 3 and all(attrs(s)["genai_cost.status"] == "priced" for s in theirs)
    assert trace_sum(span_exporter) == pytest.approx(expected, abs=TOLERANCE)


@pytest.fixture
def sdk_tracing_off() -> Iterator[None]:
    AnthropicInstrumentor().uninstrument()
    instrument(sdk_tracing="off")
    yield
    AnthropicInstrumentor().uninstrument()
    instrument()


def test_our_sdk_tracing_off_switch(sdk_tracing_off: None, stub: StubProvider, span_exporter: Any) -> None:
    claude = anthropic.Anthropic(base_url=stub.url, api_key="test", max_retries=0)
    expected = three_calls(claude, stub)
    assert genai_spans(span_exporter, SDK_SCOPE) == []
    assert len(genai_spans(span_exporter)) == 3
    assert trace_sum(span_exporter) == pytest.approx(expected, abs=TOLERANCE)


def test_sdk_tracing_comes_back_after_uninstrument(stub: StubProvider, span_exporter: Any) -> None:
    AnthropicInstrumentor().uninstrument()
    instrument(sdk_tracing="off")
    AnthropicInstrumentor().uninstrument()
    try:
        claude = anthropic.Anthropic(base_url=stub.url, api_key="test", max_retries=0)
        # Under a parent: a bare root span reporting a stub id would make a later span of ours
        # with the same (reused) id look like a second report of it to the processor.
        with trace.get_tracer("app").start_as_current_span("handle request"):
            claude.messages.create(model=MODEL, max_tokens=64, messages=MESSAGES)
        assert len(genai_spans(span_exporter, SDK_SCOPE)) == 1
    finally:
        instrument()


def test_mode_from_the_environment(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from genai_cost import runtime

    monkeypatch.setattr(runtime, "anthropic_sdk_tracing", None)  # no settings applied (no configure())
    monkeypatch.setenv("GENAI_COST_ANTHROPIC_SDK_TRACING", "OFF")
    assert sdk_tracing_mode() == "off"
    assert sdk_tracing_mode("duplicate") == "duplicate"  # the argument wins
    monkeypatch.setenv("GENAI_COST_ANTHROPIC_SDK_TRACING", "of")
    with caplog.at_level(logging.WARNING, logger="genai_cost.instrumentation"):
        assert sdk_tracing_mode() == "duplicate"
    assert "GENAI_COST_ANTHROPIC_SDK_TRACING='of'" in caplog.text and "duplicate, off" in caplog.text


def test_mode_from_settings(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_cost import runtime
    from genai_cost.config import ConfigError, load_file, load_settings

    config = tmp_path / "genai-cost.yaml"
    config.write_text("instrumentation:\n  anthropic:\n    sdk_tracing: off\n")  # YAML's bare off
    assert load_file(config).anthropic_sdk_tracing == "off"
    assert load_settings({}).anthropic_sdk_tracing == "duplicate"
    assert load_settings({"GENAI_COST_CONFIG": str(config)}).anthropic_sdk_tracing == "off"
    env = {"GENAI_COST_CONFIG": str(config), "GENAI_COST_ANTHROPIC_SDK_TRACING": "duplicate"}
    assert load_settings(env).anthropic_sdk_tracing == "duplicate"  # the environment wins

    config.write_text("instrumentation:\n  anthropic:\n    sdk_tracing: none\n")
    with pytest.raises(ConfigError, match=r"genai-cost.yaml: instrumentation.anthropic.sdk_tracing: expected one of"):
        load_file(config)
    with pytest.raises(ConfigError, match="GENAI_COST_ANTHROPIC_SDK_TRACING: expected duplicate or off, got 'no'"):
        load_settings({"GENAI_COST_ANTHROPIC_SDK_TRACING": "no"})

    # Applied settings (configure(), opentelemetry-instrument) are what the instrumentor follows.
    monkeypatch.setattr(runtime, "anthropic_sdk_tracing", "off")
    monkeypatch.setenv("GENAI_COST_ANTHROPIC_SDK_TRACING", "duplicate")
    assert sdk_tracing_mode() == "off"
    assert sdk_tracing_mode("duplicate") == "duplicate"


def test_platform_clients_sdk_spans_are_duplicates_too(stub: StubProvider, span_exporter: Any) -> None:
    """Bedrock and Vertex clients trace under their own scopes (com.anthropic.sdk.python.bedrock, ...)."""
    model_id = "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    bedrock = anthropic.AnthropicBedrock(
        aws_access_key="AKIDEXAMPLE", aws_secret_key="secret", aws_region="us-east-1", base_url=stub.url, max_retries=0
    )
    with trace.get_tracer("app").start_as_current_span("handle request"):
        bedrock.messages.create(model=model_id, max_tokens=64, messages=MESSAGES)
        list(bedrock.messages.create(model=model_id, max_tokens=64, messages=MESSAGES, stream=True))
    theirs = [s for s in span_exporter.get_finished_spans() if s.instrumentation_scope.name.startswith(SDK_SCOPE)]
    assert {s.instrumentation_scope.name for s in theirs} == {f"{SDK_SCOPE}.bedrock"}
    assert [attrs(s)["genai_cost.status"] for s in theirs] == ["duplicate", "duplicate"]
    ours = genai_spans(span_exporter)
    assert [attrs(s)["genai_cost.status"] for s in ours] == ["priced", "priced"]
    assert root(span_exporter)["genai_cost.trace.amount"] == pytest.approx(trace_sum(span_exporter), abs=1e-12)
