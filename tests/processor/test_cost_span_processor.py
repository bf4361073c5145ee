"""CostSpanProcessor on spans made by a real SDK TracerProvider (no mocks of our code).

Spans are written the way foreign instrumentations write them (several conventions); the oracle
for every amount is genai-prices' own calc_price.
"""

from __future__ import annotations

import pytest
from genai_prices import Usage, calc_price
from opentelemetry import baggage, context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from genai_cost import attributes as attr
from genai_cost.context import cost_context
from genai_cost.processor import CostSpanProcessor


@pytest.fixture
def pipeline():
    exporter = InMemorySpanExporter()
    processor = CostSpanProcessor(SimpleSpanProcessor(exporter), max_open_traces=50)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    return provider, exporter, processor


def oracle(model: str, provider: str, **usage: int) -> float:
    return float(calc_price(Usage(**usage), model, provider_id=provider).total_price)


def finished(exporter: InMemorySpanExporter, name: str):
    [span] = [s for s in exporter.get_finished_spans() if s.name == name]
    return span


def test_current_semconv_span_is_priced_with_cache_inside_input(pipeline):
    provider, exporter, _ = pipeline
    tracer = provider.get_tracer("some.other.instrumentation")
    with tracer.start_as_current_span("chat gpt-4o", kind=SpanKind.CLIENT) as span:
        span.set_attributes(
            {
                attr.OPERATION_NAME: "chat",
                attr.PROVIDER_NAME: "openai",
                attr.REQUEST_MODEL: "gpt-4o",
                attr.RESPONSE_MODEL: "gpt-4o-2024-08-06",
                attr.USAGE_INPUT_TOKENS: 1000,
                attr.USAGE_CACHE_READ_TOKENS: 600,
                attr.USAGE_OUTPUT_TOKENS: 200,
            }
        )
    out = finished(exporter, "chat gpt-4o").attributes
    expected = oracle("gpt-4o-2024-08-06", "openai", input_tokens=1000, cache_read_tokens=600, output_tokens=200)
    assert out[attr.COST_STATUS] == "priced"
    assert out[attr.COST_AMOUNT] == pytest.approx(expected, abs=1e-12)
    assert out[attr.USAGE_COST_ALIAS] == out[attr.COST_AMOUNT]
    parts = sum(
        out.get(k, 0.0)
        for k in (attr.COST_INPUT, attr.COST_OUTPUT, attr.COST_CACHE_READ, attr.COST_CACHE_WRITE, attr.COST_TOOLS)
    )
    assert parts == pytest.approx(out[attr.COST_AMOUNT], abs=1e-15)
    assert out[attr.COST_SAVINGS] > 0
    assert out[attr.PRICE_SOURCE].startswith("genai-prices@")
    # the trace's only span is its root: it carries the roll-up too
    assert out[attr.TRACE_AMOUNT] == pytest.approx(expected, abs=1e-12)
    assert out[attr.TRACE_CALLS] == 1


@pytest.mark.parametrize(
    "spelling",
    [
        {
            attr.LEGACY_SYSTEM: "openai",
            attr.LEGACY_PROMPT_TOKENS: 1000,
            attr.LEGACY_COMPLETION_TOKENS: 200,
            attr.LEGACY_CACHE_READ_TOKENS: 600,
        },
        {
            attr.LEGACY_SYSTEM: "openai",
            attr.LLM_REQUEST_TYPE: "chat",
            attr.LLM_PROMPT_TOKENS: 1000,
            attr.LLM_COMPLETION_TOKENS: 200,
            attr.LLM_CACHE_READ_TOKENS: 600,
        },
    ],
    ids=["gen_ai.usage.prompt_tokens", "llm.usage"],
)
def test_older_spellings_are_read(pipeline, spelling):
    provider, exporter, _ = pipeline
    tracer = provider.get_tracer("legacy")
    with tracer.start_as_current_span("openai.chat") as span:
        span.set_attributes({attr.REQUEST_MODEL: "gpt-4o-mini", **spelling})
    out = finished(exporter, "openai.chat").attributes
    expected = oracle("gpt-4o-mini", "openai", input_tokens=1000, cache_read_tokens=600, output_tokens=200)
    assert out[attr.COST_AMOUNT] == pytest.approx(expected, abs=1e-12)


def test_anthropic_legacy_counts_cache_beside_input(pipeline):
    provider, exporter, _ = pipeline
    tracer = provider.get_tracer("opentelemetry.instrumentation.anthropic")
    with tracer.start_as_current_span("anthropic.chat") as span:
        span.set_attributes(
            {
                attr.LEGACY_SYSTEM: "Anthropic",
                attr.LLM_REQUEST_TYPE: "chat",
                attr.REQUEST_MODEL: "claude-sonnet-4-5",
                attr.LEGACY_PROMPT_TOKENS: 100,  # Anthropic's input_tokens: uncached only
                attr.LEGACY_CACHE_READ_TOKENS: 300,
                attr.LEGACY_CACHE_CREATION_TOKENS: 50,
                attr.LEGACY_COMPLETION_TOKENS: 20,
            }
        )
    out = finished(exporter, "anthropic.chat").attributes
    expected = oracle(
        "claude-sonnet-4-5",
        "anthropic",
        input_tokens=450,
        cache_read_tokens=300,
        cache_write_tokens=50,
        output_tokens=20,
    )
    assert out[attr.COST_AMOUNT] == pytest.approx(expected, abs=1e-12)


def test_unknown_model_is_not_free(pipeline):
    provider, exporter, _ = pipeline
    with provider.get_tracer("x").start_as_current_span("chat my-model") as span:
        span.set_attributes(
            {
                attr.OPERATION_NAME: "chat",
                attr.PROVIDER_NAME: "openai",
                attr.REQUEST_MODEL: "my-model",
                attr.USAGE_INPUT_TOKENS: 5,
                attr.USAGE_OUTPUT_TOKENS: 5,
            }
        )
    out = finished(exporter, "chat my-model").attributes
    assert out[attr.COST_STATUS] == "unknown_model"
    assert attr.COST_AMOUNT not in out and attr.USAGE_COST_ALIAS not in out
    assert "my-model" in out[attr.COST_STATUS_DETAIL]


def test_malformed_usage_is_reported_not_priced(pipeline):
    provider, exporter, _ = pipeline
    with provider.get_tracer("x").start_as_current_span("chat gpt-4o") as span:
        span.set_attributes(
            {
                attr.OPERATION_NAME: "chat",
                attr.PROVIDER_NAME: "openai",
                attr.REQUEST_MODEL: "gpt-4o",
                attr.USAGE_INPUT_TOKENS: "lots",
                attr.USAGE_OUTPUT_TOKENS: 5,
            }
        )
    out = finished(exporter, "chat gpt-4o").attributes
    assert out[attr.COST_STATUS] == "invalid_usage"
    assert attr.COST_AMOUNT not in out


def test_span_without_usage_says_so(pipeline):
    provider, exporter, _ = pipeline
    with provider.get_tracer("x").start_as_current_span("chat gpt-4o") as span:
        span.set_attributes({attr.OPERATION_NAME: "chat", attr.PROVIDER_NAME: "openai", attr.REQUEST_MODEL: "gpt-4o"})
    assert finished(exporter, "chat gpt-4o").attributes[attr.COST_STATUS] == "no_usage"


def test_non_genai_spans_pass_through_untouched(pipeline):
    provider, exporter, _ = pipeline
    with provider.get_tracer("x").start_as_current_span("GET /health") as span:
        span.set_attribute("http.method", "GET")
    [out] = exporter.get_finished_spans()
    assert dict(out.attributes) == {"http.method": "GET"}
    # agent/tool spans carry gen_ai.* but are not billed calls
    with provider.get_tracer("x").start_as_current_span("execute_tool search") as span:
        span.set_attributes({attr.OPERATION_NAME: "execute_tool", attr.USAGE_INPUT_TOKENS: 5})
    assert attr.COST_STATUS not in exporter.get_finished_spans()[-1].attributes


def _chat(tracer, name, response_id=None, input_tokens=100, output_tokens=10):
    with tracer.start_as_current_span(name) as span:
        values = {
            attr.OPERATION_NAME: "chat",
            attr.PROVIDER_NAME: "openai",
            attr.REQUEST_MODEL: "gpt-4o-mini",
            attr.USAGE_INPUT_TOKENS: input_tokens,
            attr.USAGE_OUTPUT_TOKENS: output_tokens,
        }
        if response_id:
            values[attr.RESPONSE_ID] = response_id
        span.set_attributes(values)
    return span


def test_trace_rollup_on_local_root(pipeline):
    provider, exporter, _ = pipeline
    tracer = provider.get_tracer("x")
    with tracer.start_as_current_span("handle request"):
        _chat(tracer, "a", "resp-a")
        _chat(tracer, "b", "resp-b", input_tokens=2000, output_tokens=500)
        with tracer.start_as_current_span("db query"):
            pass
    spans = {s.name: s.attributes for s in exporter.get_finished_spans()}
    total = spans["a"][attr.COST_AMOUNT] + spans["b"][attr.COST_AMOUNT]
    assert spans["handle request"][attr.TRACE_AMOUNT] == pytest.approx(total, abs=1e-15)
    assert spans["handle request"][attr.TRACE_CALLS] == 2
    assert attr.TRACE_AMOUNT not in spans["db query"]
    assert attr.TRACE_AMOUNT not in spans["a"]


def test_same_response_seen_by_two_instrumentations_is_priced_once(pipeline):
    provider, exporter, _ = pipeline
    outer_tracer = provider.get_tracer("opentelemetry.instrumentation.openai")
    inner_tracer = provider.get_tracer("opentelemetry.instrumentation.genai.openai")
    with provider.get_tracer("app").start_as_current_span("root"):
        with outer_tracer.start_as_current_span("openai.chat") as outer:
            _chat(inner_tracer, "chat gpt-4o-mini", "resp-1")
            outer.set_attributes(
                {
                    attr.LEGACY_SYSTEM: "openai",
                    attr.LLM_REQUEST_TYPE: "chat",
                    attr.REQUEST_MODEL: "gpt-4o-mini",
                    attr.RESPONSE_ID: "resp-1",
                    attr.LEGACY_PROMPT_TOKENS: 100,
                    attr.LEGACY_COMPLETION_TOKENS: 10,
                }
            )
    spans = {s.name: s for s in exporter.get_finished_spans()}
    inner, outer = spans["chat gpt-4o-mini"].attributes, spans["openai.chat"].attributes
    assert inner[attr.COST_STATUS] == "priced"
    assert outer[attr.COST_STATUS] == "duplicate"
    assert attr.COST_AMOUNT not in outer and attr.USAGE_COST_ALIAS not in outer
    assert outer[attr.DUPLICATE_OF] == f"{spans['chat gpt-4o-mini'].context.span_id:016x}"
    assert spans["root"].attributes[attr.TRACE_CALLS] == 1
    assert spans["root"].attributes[attr.TRACE_AMOUNT] == inner[attr.COST_AMOUNT]


def test_nested_duplicate_without_response_id(pipeline):
    provider, exporter, _ = pipeline
    tracer = provider.get_tracer("x")
    with tracer.start_as_current_span("outer") as outer:
        _chat(tracer, "inner")
        outer.set_attributes(
            {
                attr.OPERATION_NAME: "chat",
                attr.PROVIDER_NAME: "openai",
                attr.REQUEST_MODEL: "gpt-4o-mini",
                attr.USAGE_INPUT_TOKENS: 100,
                attr.USAGE_OUTPUT_TOKENS: 10,
            }
        )
    spans = {s.name: s.attributes for s in exporter.get_finished_spans()}
    assert spans["inner"][attr.COST_STATUS] == "priced"
    assert spans["outer"][attr.COST_STATUS] == "duplicate"
    assert spans["outer"][attr.TRACE_CALLS] == 1


def test_different_calls_with_different_ids_are_both_priced(pipeline):
    provider, exporter, _ = pipeline
    tracer = provider.get_tracer("x")
    with tracer.start_as_current_span("root"):
        _chat(tracer, "a", "resp-1")
        _chat(tracer, "b", "resp-2")
    spans = {s.name: s.attributes for s in exporter.get_finished_spans()}
    assert spans["a"][attr.COST_STATUS] == spans["b"][attr.COST_STATUS] == "priced"
    assert spans["root"][attr.TRACE_CALLS] == 2


def test_rollup_memory_is_bounded_for_roots_that_never_end(pipeline):
    provider, _exporter, processor = pipeline
    tracer = provider.get_tracer("x")
    never_ended = [tracer.start_span(f"root {i}") for i in range(500)]
    for root in never_ended:
        with trace.use_span(root, end_on_exit=False):
            _chat(tracer, "call", f"r{id(root)}")
    assert len(processor._traces) <= 50
    assert len(processor._responses) <= 50
    assert len(processor._priced_children) <= 50


def test_attribution_from_baggage_reaches_foreign_spans(pipeline):
    provider, exporter, _ = pipeline
    tracer = provider.get_tracer("x")
    with cost_context(team="search", feature="autocomplete"), cost_context(feature="rerank", user="u-42"):
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes={attr.OPERATION_NAME: "chat"}) as span:
            span.set_attributes(
                {
                    attr.PROVIDER_NAME: "openai",
                    attr.REQUEST_MODEL: "gpt-4o-mini",
                    attr.USAGE_INPUT_TOKENS: 10,
                    attr.USAGE_OUTPUT_TOKENS: 1,
                }
            )
    out = finished(exporter, "chat gpt-4o-mini").attributes
    assert out[attr.TEAM] == "search"
    assert out[attr.FEATURE] == "rerank"  # inner context wins
    assert out[attr.USER_ID] == "u-42"


def test_attribution_arrives_as_w3c_baggage_from_upstream(pipeline):
    from opentelemetry.baggage.propagation import W3CBaggagePropagator

    provider, exporter, _ = pipeline
    incoming = W3CBaggagePropagator().extract({"baggage": "genai_cost.tenant=acme,genai_cost.project=checkout"})
    token = context.attach(incoming)
    try:
        assert baggage.get_baggage("genai_cost.tenant") == "acme"
        with provider.get_tracer("x").start_as_current_span(
            "chat gpt-4o-mini", attributes={attr.OPERATION_NAME: "chat"}
        ):
            pass
    finally:
        context.detach(token)
    out = finished(exporter, "chat gpt-4o-mini").attributes
    assert out[attr.TENANT] == "acme" and out[attr.PROJECT] == "checkout"


def test_processor_errors_never_lose_the_span(pipeline, monkeypatch, caplog):
    provider, exporter, processor = pipeline

    def broken(*_a, **_k):
        raise RuntimeError("bug in pricing")

    monkeypatch.setattr(processor.decider, "_price", broken)  # the one seam: simulate a bug of ours
    _chat(provider.get_tracer("x"), "chat")
    _chat(provider.get_tracer("x"), "chat again")
    assert [s.name for s in exporter.get_finished_spans()] == ["chat", "chat again"]
    assert sum("error while pricing a span" in r.getMessage() for r in caplog.records) == 1


def test_cost_and_unpriced_metrics_for_foreign_spans():
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from genai_cost.metrics import CostMetrics

    reader = InMemoryMetricReader()
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(
        CostSpanProcessor(
            SimpleSpanProcessor(exporter), metrics=CostMetrics(MeterProvider(metric_readers=[reader]), deferred=False)
        )
    )
    tracer = provider.get_tracer("x")
    with cost_context(team="search"):
        _chat(tracer, "known", "r1")
        with tracer.start_as_current_span("unknown", attributes={attr.OPERATION_NAME: "chat"}) as span:
            span.set_attributes(
                {
                    attr.PROVIDER_NAME: "openai",
                    attr.REQUEST_MODEL: "mystery-1",
                    attr.USAGE_INPUT_TOKENS: 1,
                    attr.USAGE_OUTPUT_TOKENS: 1,
                }
            )
    metrics = {
        m.name: m.data.data_points
        for rm in reader.get_metrics_data().resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    [cost] = metrics[attr.METRIC_COST]
    assert cost.sum == pytest.approx(oracle("gpt-4o-mini", "openai", input_tokens=100, output_tokens=10), abs=1e-12)
    assert cost.attributes[attr.TEAM] == "search" and cost.attributes["currency"] == "USD"
    [unpriced] = metrics[attr.METRIC_UNPRICED_CALLS]
    assert unpriced.value == 1
    assert unpriced.attributes[attr.REQUEST_MODEL] == "mystery-1"
    assert unpriced.attributes[attr.COST_STATUS] == "unknown_model"


def _our_chat(tracer, name, response_id, amount=0.001):
    """A span as our own instrumentation ends it: priced before end()."""
    with tracer.start_as_current_span(name) as span:
        span.set_attributes(
            {
                attr.OPERATION_NAME: "chat",
                attr.PROVIDER_NAME: "openai",
                attr.REQUEST_MODEL: "gpt-4o-mini",
                attr.RESPONSE_ID: response_id,
                attr.USAGE_INPUT_TOKENS: 100,
                attr.USAGE_OUTPUT_TOKENS: 10,
                attr.COST_STATUS: "priced",
                attr.COST_AMOUNT: amount,
            }
        )


def test_a_response_id_reused_in_another_trace_does_not_make_our_call_a_duplicate(pipeline):
    # Stubs and replays reuse response ids: a foreign root span of one trace and a later call of
    # ours, the root of another trace, are two calls.
    provider, exporter, _ = pipeline
    _chat(provider.get_tracer("opentelemetry.instrumentation.genai.openai"), "foreign", "chatcmpl-replayed")
    _our_chat(provider.get_tracer("genai_cost"), "ours", "chatcmpl-replayed")
    spans = {s.name: s.attributes for s in exporter.get_finished_spans()}
    assert spans["foreign"][attr.COST_STATUS] == "priced"
    assert spans["ours"][attr.COST_STATUS] == "priced"
    assert attr.DUPLICATE_OF not in spans["ours"]


def test_same_response_id_in_the_same_trace_is_still_one_call(pipeline):
    provider, exporter, _ = pipeline
    with provider.get_tracer("app").start_as_current_span("root"):
        _our_chat(provider.get_tracer("genai_cost"), "ours", "resp-1")
        _chat(provider.get_tracer("opentelemetry.instrumentation.genai.openai"), "foreign", "resp-1")
    spans = {s.name: s.attributes for s in exporter.get_finished_spans()}
    assert spans["ours"][attr.COST_STATUS] == "priced"
    assert spans["foreign"][attr.COST_STATUS] == "duplicate"
    assert spans["root"][attr.TRACE_CALLS] == 1


def test_two_foreign_roots_in_different_traces_are_still_one_call(pipeline):
    # The official and OpenLLMetry Responses spans: two roots, two traces, one call.
    provider, exporter, _ = pipeline
    _chat(provider.get_tracer("opentelemetry.instrumentation.genai.openai"), "official", "resp-r")
    _chat(provider.get_tracer("opentelemetry.instrumentation.openai"), "openllmetry", "resp-r")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["official"].context.trace_id != spans["openllmetry"].context.trace_id
    assert spans["official"].attributes[attr.COST_STATUS] == "priced"
    assert spans["openllmetry"].attributes[attr.COST_STATUS] == "duplicate"


def _foreign_root_around(provider, name, response_id, inner):
    """A foreign root span started before and ended after ``inner()``, without making itself
    current (as OpenLLMetry's groq instrumentation does): a root in a trace of its own."""
    span = provider.get_tracer("opentelemetry.instrumentation.groq").start_span(name, context=context.Context())
    inner()
    values = {
        attr.OPERATION_NAME: "chat",
        attr.PROVIDER_NAME: "openai",
        attr.REQUEST_MODEL: "gpt-4o-mini",
        attr.USAGE_INPUT_TOKENS: 100,
        attr.USAGE_OUTPUT_TOKENS: 10,
    }
    if response_id:
        values[attr.RESPONSE_ID] = response_id
    span.set_attributes(values)
    span.end()


@pytest.mark.parametrize("response_id", ["resp-around", None])
def test_a_foreign_root_around_our_root_call_is_its_duplicate(pipeline, response_id):
    provider, exporter, _ = pipeline
    _foreign_root_around(
        provider, "foreign", response_id, lambda: _our_chat(provider.get_tracer("genai_cost"), "ours", "resp-around")
    )
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert spans["foreign"].context.trace_id != spans["ours"].context.trace_id
    assert spans["ours"].attributes[attr.COST_STATUS] == "priced"
    assert spans["foreign"].attributes[attr.COST_STATUS] == "duplicate"


@pytest.mark.parametrize("response_id", ["resp-later", None])
def test_a_foreign_root_after_our_call_is_another_call(pipeline, response_id):
    # Same id (a stub's) or same usage, but not while ours ran: two calls.
    provider, exporter, _ = pipeline
    _our_chat(provider.get_tracer("genai_cost"), "ours", "resp-later")
    _foreign_root_around(provider, "foreign", response_id, lambda: None)
    spans = {s.name: s.attributes for s in exporter.get_finished_spans()}
    assert spans["ours"][attr.COST_STATUS] == "priced"
    assert spans["foreign"][attr.COST_STATUS] == "priced"
