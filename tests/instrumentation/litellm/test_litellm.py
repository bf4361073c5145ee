"""LiteLLM over real HTTP to the stub (OpenAI and Anthropic wire formats through ``api_base``): one
span per call named by the provider LiteLLM routed to, priced by our engine against genai-prices'
calc_price, LiteLLM's own cost beside it; streams with exact usage however they end; embeddings;
errors; budgets; and a provider SDK span under a LiteLLM call counted once."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import litellm
import openai
import pytest
from litellm_support import (
    ANTHROPIC_MODEL,
    KEY,
    MESSAGES,
    OPENAI_MODEL,
    anthropic_usage,
    assert_priced_at,
    attrs,
    genai_prices_cost,
    genai_spans,
    instrumented,
    no_content_capture,
    only_span,
    openai_usage,
    stream_usage,
)
from opentelemetry import trace

from genai_cost.budget import BudgetExceeded
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.pricing import CustomPrice, PriceCatalog, PriceOverrides, catalog, set_catalog
from genai_cost.testing import StubProvider

__all__ = ["instrumented", "no_content_capture"]

RICH_ANTHROPIC = {"input_tokens": 1200, "cache_read_input_tokens": 4000, "cache_creation_input_tokens": 3000}


def test_an_openai_route_is_one_span_priced_by_our_engine(stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue(
        "/v1/chat/completions", usage={"prompt_tokens": 5000, "prompt_tokens_details": {"cached_tokens": 2048}}
    )
    response = litellm.completion(
        f"openai/{OPENAI_MODEL}", MESSAGES, api_base=stub.base_url, api_key=KEY, max_tokens=64
    )
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == f"chat {OPENAI_MODEL}"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == OPENAI_MODEL and a["gen_ai.request.max_tokens"] == 64
    assert (a["server.address"], a["server.port"]) == ("127.0.0.1", stub.port)
    assert a["gen_ai.response.id"] == response.id
    usage = openai_usage(stub.last_request.response_body["usage"])
    assert a["gen_ai.usage.cache_read.input_tokens"] == 2048
    assert_priced_at(a, genai_prices_cost(a["gen_ai.response.model"], usage, "openai"))
    assert a["litellm.response_cost"] == pytest.approx(response._hidden_params["response_cost"])


def test_an_anthropic_route_keeps_cache_reads_and_writes(stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/messages", usage=RICH_ANTHROPIC)
    litellm.completion(
        model=f"anthropic/{ANTHROPIC_MODEL}", messages=MESSAGES, api_base=stub.url, api_key=KEY, max_tokens=64
    )
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.provider.name"] == "anthropic"
    usage = anthropic_usage(stub.last_request.response_body["usage"])
    assert a["gen_ai.usage.input_tokens"] == usage["input_tokens"]
    assert a["gen_ai.usage.cache_write.input_tokens"] == 3000
    assert_priced_at(a, genai_prices_cost(ANTHROPIC_MODEL, usage, "anthropic"))


@pytest.mark.parametrize("route", ["openai", "anthropic"])
def test_streams_are_priced_from_the_providers_final_usage(route: str, stub: StubProvider, span_exporter: Any) -> None:
    if route == "openai":
        chunks = list(
            litellm.completion(f"openai/{OPENAI_MODEL}", MESSAGES, api_base=stub.base_url, api_key=KEY, stream=True)
        )
        model, usage = OPENAI_MODEL, openai_usage(stream_usage(stub.last_request.response_body, "openai"))
    else:
        stub.enqueue("/v1/messages", usage=RICH_ANTHROPIC)
        chunks = list(
            litellm.completion(
                f"anthropic/{ANTHROPIC_MODEL}", MESSAGES, api_base=stub.url, api_key=KEY, stream=True, max_tokens=64
            )
        )
        model, usage = ANTHROPIC_MODEL, anthropic_usage(stream_usage(stub.last_request.response_body, "anthropic"))
    assert not any(getattr(c, "usage", None) for c in chunks)  # the usage chunk we asked for is not the caller's
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.request.stream"] is True
    assert_priced_at(a, genai_prices_cost(model, usage, route))


def test_a_caller_who_asked_for_usage_still_gets_it(stub: StubProvider, span_exporter: Any) -> None:
    chunks = list(
        litellm.completion(
            f"openai/{OPENAI_MODEL}",
            MESSAGES,
            api_base=stub.base_url,
            api_key=KEY,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert any(getattr(c, "usage", None) for c in chunks)
    assert attrs(only_span(span_exporter))["genai_cost.status"] == "priced"


def test_a_stream_left_early_still_ends_its_span(stub: StubProvider, span_exporter: Any) -> None:
    stream = litellm.completion(f"openai/{OPENAI_MODEL}", MESSAGES, api_base=stub.base_url, api_key=KEY, stream=True)
    next(iter(stream))
    stream.close()
    a = attrs(only_span(span_exporter))
    assert "before it completed" in a["genai_cost.status.detail"]


async def test_async_completion_streams_and_embeddings(stub: StubProvider, span_exporter: Any) -> None:
    await litellm.acompletion(f"openai/{OPENAI_MODEL}", MESSAGES, api_base=stub.base_url, api_key=KEY)
    stream = await litellm.acompletion(
        f"anthropic/{ANTHROPIC_MODEL}", MESSAGES, api_base=stub.url, api_key=KEY, stream=True, max_tokens=64
    )
    async for _ in stream:
        pass
    usage = anthropic_usage(stream_usage(stub.last_request.response_body, "anthropic"))
    await litellm.aembedding(
        "openai/text-embedding-3-small", ["some text to embed"], api_base=stub.base_url, api_key=KEY
    )
    spans = genai_spans(span_exporter)
    assert [s.name for s in spans] == [
        f"chat {OPENAI_MODEL}",
        f"chat {ANTHROPIC_MODEL}",
        "embeddings text-embedding-3-small",
    ]
    assert_priced_at(attrs(spans[1]), genai_prices_cost(ANTHROPIC_MODEL, usage, "anthropic"))
    embed = attrs(spans[2])
    tokens = stub.last_request.response_body["usage"]["prompt_tokens"]
    assert_priced_at(embed, genai_prices_cost("text-embedding-3-small", {"input_tokens": tokens}, "openai"))


def test_embedding(stub: StubProvider, span_exporter: Any) -> None:
    litellm.embedding("openai/text-embedding-3-small", ["a", "b"], api_base=stub.base_url, api_key=KEY)
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.operation.name"] == "embeddings"
    tokens = stub.last_request.response_body["usage"]["prompt_tokens"]
    assert_priced_at(a, genai_prices_cost("text-embedding-3-small", {"input_tokens": tokens}, "openai"))


def test_provider_errors_reach_the_caller_as_litellm_raises_them(stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/chat/completions", status=429)
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(f"openai/{OPENAI_MODEL}", MESSAGES, api_base=stub.base_url, api_key=KEY, num_retries=0)
    a = attrs(only_span(span_exporter))
    assert a["error.type"].endswith("RateLimitError")
    assert a["genai_cost.status"] == "no_usage"


@pytest.mark.parametrize("budget", [BudgetPolicy("llm", limit=0.0)], indirect=True)
def test_a_blocked_call_never_reaches_the_provider(budget: Any, stub: StubProvider, span_exporter: Any) -> None:
    with pytest.raises(BudgetExceeded):
        litellm.completion(f"openai/{OPENAI_MODEL}", MESSAGES, api_base=stub.base_url, api_key=KEY)
    assert stub.requests == []
    assert attrs(only_span(span_exporter))["genai_cost.budget.decision"] == "block"


@pytest.mark.parametrize(
    "budget", [BudgetPolicy("llm", limit=0.0, action="downgrade", downgrade_to="openai/gpt-4.1-nano")], indirect=True
)
def test_a_downgrade_sends_the_cheaper_model(budget: Any, stub: StubProvider, span_exporter: Any) -> None:
    litellm.completion("openai/gpt-4o", MESSAGES, api_base=stub.base_url, api_key=KEY)
    assert stub.last_request.body["model"] == "gpt-4.1-nano"
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.budget.decision"] == "downgrade"


class _SdkBackedProvider(litellm.CustomLLM):
    """A LiteLLM custom provider that calls the openai SDK, as LiteLLM's SDK-driven routes do."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.client = openai.OpenAI(base_url=base_url, api_key=KEY, max_retries=0)

    def completion(self, *args: Any, **kwargs: Any) -> Any:
        reply = self.client.chat.completions.create(model=OPENAI_MODEL, messages=kwargs["messages"])
        return litellm.ModelResponse(**reply.model_dump())


def test_an_sdk_span_under_a_litellm_call_is_its_duplicate(stub: StubProvider, span_exporter: Any) -> None:
    litellm.custom_provider_map = [{"provider": "sdk-backed", "custom_handler": _SdkBackedProvider(stub.base_url)}]
    previous = catalog()  # a custom provider has no list price: the team states one
    custom = CustomPrice(model="gpt-4o-mini*", provider="sdk-backed", input_per_mtok=0.15, output_per_mtok=0.6)
    set_catalog(PriceCatalog(PriceOverrides(custom_models=(custom,))))
    try:
        with trace.get_tracer("app").start_as_current_span("request"):
            litellm.completion("sdk-backed/gpt-4o-mini", MESSAGES)
    finally:
        litellm.custom_provider_map = []
        set_catalog(previous)
    outer, inner = sorted(genai_spans(span_exporter), key=lambda s: s.start_time)
    assert inner.parent.span_id == outer.context.span_id
    assert attrs(inner)["genai_cost.status"] == "duplicate"
    assert attrs(inner)["genai_cost.duplicate_of"] == f"{outer.context.span_id:016x}"
    assert "genai_cost.amount" not in attrs(inner)
    assert attrs(outer)["genai_cost.status"] == "priced"
    [root] = [s for s in span_exporter.get_finished_spans() if s.name == "request"]
    assert attrs(root)["genai_cost.trace.calls"] == 1
    assert attrs(root)["genai_cost.trace.amount"] == pytest.approx(attrs(outer)["genai_cost.amount"], abs=1e-12)


def test_instrumenting_does_not_import_litellm() -> None:
    script = textwrap.dedent(
        """
        import sys
        from genai_cost.instrumentation.litellm import LiteLLMInstrumentor
        LiteLLMInstrumentor().instrument()
        assert "litellm" not in sys.modules, "instrument() imported litellm"
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr


def test_litellms_own_opentelemetry_callback_does_not_double_the_trace(stub: StubProvider, span_exporter: Any) -> None:
    """LiteLLM's OTel logger writes its attributes onto the current span (ours, during the call)
    and adds a raw-request child: the trace still holds one priced call, at the true price."""
    from litellm.integrations.opentelemetry import OpenTelemetry

    litellm.callbacks = [OpenTelemetry(tracer_provider=trace.get_tracer_provider())]
    try:
        with trace.get_tracer("app").start_as_current_span("request"):
            litellm.completion(f"openai/{OPENAI_MODEL}", MESSAGES, api_base=stub.base_url, api_key=KEY)
    finally:
        litellm.callbacks = []
    usage = openai_usage(stub.last_request.response_body["usage"])
    model = stub.last_request.response_body["model"]
    spans = span_exporter.get_finished_spans()
    priced = [s for s in spans if attrs(s).get("genai_cost.status") == "priced"]
    assert len(priced) == 1 and not [
        s for s in spans if attrs(s).get("genai_cost.status") not in (None, "priced", "duplicate")
    ]
    [root] = [s for s in spans if s.name == "request"]
    assert attrs(root)["genai_cost.trace.calls"] == 1
    assert attrs(root)["genai_cost.trace.amount"] == pytest.approx(genai_prices_cost(model, usage, "openai"), abs=1e-9)


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.mark.parametrize("stream", [False, True])
def test_tool_calls_and_opt_in_content(
    stream: bool, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    kwargs: dict[str, Any] = {"api_base": stub.base_url, "api_key": KEY, "tools": [WEATHER_TOOL], "stream": stream}

    def ask(question: str) -> None:
        response = litellm.completion(f"openai/{OPENAI_MODEL}", [{"role": "user", "content": question}], **kwargs)
        if stream:
            list(response)

    ask("Weather in Paris?")
    quiet = attrs(genai_spans(span_exporter)[-1])
    assert quiet["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert "gen_ai.input.messages" not in quiet and "gen_ai.output.messages" not in quiet

    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    ask("Weather in Rome?")
    a = attrs(genai_spans(span_exporter)[-1])
    assert "Weather in Rome?" in a["gen_ai.input.messages"]
    assert '"name":"get_weather"' in a["gen_ai.output.messages"]
    assert a["genai_cost.status"] == "priced"
