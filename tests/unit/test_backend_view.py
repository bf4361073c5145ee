"""What priced spans carry for other backends (attributes.BACKENDS), and what a duplicate hides.

The real backends read these in tests/backends/ (Phoenix, MLflow, Prometheus); here each row's
switch and the exact shape of what it emits, through the real processor where a span is involved.
"""

from __future__ import annotations

import json

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genai_cost import attributes as attr
from genai_cost.backend_view import BackendView
from genai_cost.config import ConfigError, load_settings, parse_settings
from genai_cost.processor import CostSpanProcessor

PRICED = {
    attr.OPERATION_NAME: "chat",
    attr.REQUEST_MODEL: "claude-haiku-4-5",
    attr.USAGE_INPUT_TOKENS: 600,
    attr.USAGE_OUTPUT_TOKENS: 40,
    attr.USAGE_CACHE_WRITE_TOKENS: 500,
    attr.COST_STATUS: "priced",
    attr.COST_AMOUNT: 0.000925,
    attr.COST_CURRENCY: "USD",
    attr.COST_INPUT: 0.0001,
    attr.COST_CACHE_WRITE: 0.000625,
    attr.COST_OUTPUT: 0.0002,
    attr.PRICE_SOURCE: "genai-prices@0.2.5",
}


def test_defaults_are_the_rows_marked_default_and_leave_langfuse_unmisled() -> None:
    extra = BackendView().extra(PRICED)
    assert extra[attr.USAGE_CACHE_CREATION_TOKENS] == 500
    cost = json.loads(extra[attr.MLFLOW_LLM_COST])
    assert cost == pytest.approx({"input_cost": 0.000725, "output_cost": 0.0002, "total_cost": 0.000925})
    # Langfuse takes any numeric gen_ai.usage.* but gen_ai.usage.cost for a token count.
    assert not [k for k in extra if k.startswith("gen_ai.usage.cost.")]
    assert attr.LOGFIRE_OPERATION_COST not in extra


def test_each_row_switches_its_names_on_and_off() -> None:
    view = BackendView(("semconv-cost-draft", "logfire"))
    extra = view.extra(PRICED)
    assert extra == {
        attr.SEMCONV_COST_AMOUNT: 0.000925,
        attr.SEMCONV_COST_CURRENCY: "USD",
        attr.SEMCONV_COST_SOURCE: "genai-prices@0.2.5",
        attr.LOGFIRE_OPERATION_COST: 0.000925,
    }
    assert BackendView(()).extra(PRICED) == {}


def test_an_unpriced_span_hands_no_backend_a_price() -> None:
    unknown = {k: v for k, v in PRICED.items() if not k.startswith("genai_cost.")}
    unknown[attr.COST_STATUS] = "unknown_model"
    extra = BackendView(tuple(attr.BACKENDS)).extra(unknown)
    assert extra == {attr.USAGE_CACHE_CREATION_TOKENS: 500}  # a count, never an amount


def test_embeddings_become_an_llm_kind_span_with_a_model_for_phoenix() -> None:
    embeddings = {attr.OPERATION_NAME: "embeddings", attr.REQUEST_MODEL: "text-embedding-3-small"}
    outcome = {attr.USAGE_INPUT_TOKENS: 4, attr.COST_STATUS: "priced", attr.COST_AMOUNT: 8e-8}
    extra = BackendView(("phoenix-embeddings",)).extra(outcome, embeddings)
    assert extra == {attr.OPENINFERENCE_SPAN_KIND: "LLM", attr.OPENINFERENCE_LLM_MODEL_NAME: "text-embedding-3-small"}
    assert BackendView(("phoenix",)).extra(outcome, embeddings) == {}


def test_default_attribution_goes_on_the_resource_for_phoenix_and_mlflow() -> None:
    attribution = {"project": "checkout", "team": "search"}
    assert BackendView(("phoenix",)).resource(attribution) == {attr.OPENINFERENCE_PROJECT_NAME: "checkout"}
    assert BackendView(("mlflow",)).resource(attribution) == {attr.PROJECT: "checkout", attr.TEAM: "search"}
    assert BackendView(("langfuse",)).resource(attribution) == {}
    assert BackendView().resource({}) == {}


def test_a_duplicate_keeps_its_usage_under_our_prefix_or_as_is() -> None:
    duplicate = {attr.USAGE_INPUT_TOKENS: 600, "llm.usage.total_tokens": 640, attr.REQUEST_MODEL: "m"}
    moved = BackendView().duplicate(dict(duplicate))
    assert moved == {
        "genai_cost.duplicate.gen_ai.usage.input_tokens": 600,
        "genai_cost.duplicate.llm.usage.total_tokens": 640,
        attr.REQUEST_MODEL: "m",
    }
    assert BackendView(duplicate_usage="keep").duplicate(dict(duplicate)) == duplicate


def test_bad_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown backend 'jaeger'"):
        BackendView(("jaeger",))
    with pytest.raises(ConfigError, match=r"spans.backends\[1\]: unknown backend 'jaeger'"):
        parse_settings({"spans": {"backends": ["mlflow", "jaeger"]}}, "f.yaml")
    with pytest.raises(ConfigError, match="GENAI_COST_BACKENDS: unknown backend 'x'"):
        load_settings({"GENAI_COST_BACKENDS": "mlflow,x"})
    with pytest.raises(ConfigError, match="GENAI_COST_PROMETHEUS_PORT: expected a port number"):
        load_settings({"GENAI_COST_PROMETHEUS_PORT": "ninety"})


def test_settings_from_file_and_environment() -> None:
    settings = parse_settings(
        {"spans": {"backends": ["logfire"], "duplicate_usage": "keep"}, "metrics": {"prometheus_port": 9464}}
    )
    assert (settings.backends, settings.duplicate_usage, settings.prometheus_port) == (("logfire",), "keep", 9464)
    assert load_settings({}).backends == attr.DEFAULT_BACKENDS
    assert load_settings({"GENAI_COST_BACKENDS": ""}).backends == ()
    assert load_settings({"GENAI_COST_BACKENDS": "mlflow, phoenix"}).backends == ("mlflow", "phoenix")
    assert load_settings({"GENAI_COST_PROMETHEUS_PORT": "9464"}).prometheus_port == 9464


def test_the_processor_emits_for_foreign_spans_and_hides_a_duplicates_usage() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(CostSpanProcessor(SimpleSpanProcessor(exporter)))
    official = provider.get_tracer("opentelemetry.instrumentation.genai.openai")
    openllmetry = provider.get_tracer("opentelemetry.instrumentation.openai")
    usage = {attr.USAGE_INPUT_TOKENS: 100, attr.USAGE_OUTPUT_TOKENS: 10}
    with (
        provider.get_tracer("app").start_as_current_span("root"),
        openllmetry.start_as_current_span("openai.chat") as outer,
    ):
        with official.start_as_current_span("chat gpt-4o-mini") as inner:
            inner.set_attributes(
                {attr.OPERATION_NAME: "chat", attr.PROVIDER_NAME: "openai", attr.REQUEST_MODEL: "gpt-4o-mini"}
            )
            inner.set_attributes({attr.RESPONSE_ID: "resp-1", **usage})
        outer.set_attributes({attr.LEGACY_SYSTEM: "openai", attr.REQUEST_MODEL: "gpt-4o-mini"})
        outer.set_attributes({attr.RESPONSE_ID: "resp-1", **usage})
    spans = {s.name: dict(s.attributes) for s in exporter.get_finished_spans()}
    priced, duplicate = spans["chat gpt-4o-mini"], spans["openai.chat"]
    assert json.loads(priced[attr.MLFLOW_LLM_COST])["total_cost"] == priced[attr.COST_AMOUNT]
    assert duplicate[attr.COST_STATUS] == "duplicate"
    assert not [k for k in duplicate if k.startswith(attr.USAGE_PREFIXES)]  # no backend prices it again
    assert attr.MLFLOW_LLM_COST not in duplicate
    assert duplicate["genai_cost.duplicate.gen_ai.usage.input_tokens"] == 100  # the figures stay
