"""Whole responses: v2 chat (tools, content), v1 chat and generate, embed and rerank, sync and
async; prices checked against genai-prices over many usage shapes; errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import cohere
import pytest
from cohere_support import (
    API_KEY,
    MESSAGES,
    MODEL,
    TOOLS,
    V1_MODEL,
    assert_priced,
    assert_usage,
    attrs,
    av1,
    av2,
    billed_units,
    genai_spans,
    instrumented,
    no_content_capture,
    only_span,
    usage_of,
    v1,
    v2,
)
from opentelemetry.trace import StatusCode

from genai_cost.pricing import CustomPrice, PriceCatalog, PriceOverrides, catalog, set_catalog
from genai_cost.testing import StubProvider

__all__ = ["av1", "av2", "instrumented", "no_content_capture", "v1", "v2"]

RERANK_PER_SEARCH = 0.002  # USD per search unit (Cohere's list price for rerank-v3.5: $2 per 1,000)


def test_v2_chat(v2: Any, stub: StubProvider, span_exporter: Any) -> None:
    response = v2.chat(model=MODEL, messages=MESSAGES, max_tokens=64, temperature=0.2)
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == f"chat {MODEL}"
    assert a["gen_ai.provider.name"] == "cohere" and a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.max_tokens"] == 64 and a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.response.id"] == response.id
    assert a["gen_ai.response.finish_reasons"] == ("COMPLETE",)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == stub.port
    usage = usage_of(billed_units(stub))
    # The billed counts, not the larger count the model read (prompt template included).
    assert response.usage.tokens.input_tokens > usage["input_tokens"]
    assert_usage(a, usage)
    assert_priced(a, MODEL, usage)
    assert "gen_ai.input.messages" not in a and API_KEY not in json.dumps(a)


@pytest.mark.parametrize(
    ("model", "billed"),
    [
        ("command-a", {"input_tokens": 1, "output_tokens": 0}),
        ("command-a", {"input_tokens": 250_000, "output_tokens": 8000}),
        ("command-r", {"input_tokens": 1234, "output_tokens": 5678}),
        ("command-r-plus", {"input_tokens": 99, "output_tokens": 1}),
        ("command-r7b", {"input_tokens": 2_000_000, "output_tokens": 100_000}),
        ("c4ai-aya-expanse-32b", {"input_tokens": 512, "output_tokens": 512}),
    ],
)
def test_many_usage_shapes_price_as_genai_prices(
    v2: Any, stub: StubProvider, span_exporter: Any, model: str, billed: dict[str, int]
) -> None:
    stub.enqueue("/cohere/v2/chat", usage=billed)
    v2.chat(model=model, messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    usage = usage_of(billed_units(stub))
    assert usage == {"input_tokens": billed["input_tokens"], "output_tokens": billed["output_tokens"]}
    assert_usage(a, usage)
    assert_priced(a, model, usage)


async def test_v2_chat_async(av2: Any, stub: StubProvider, span_exporter: Any) -> None:
    response = await av2.chat(model=MODEL, messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.id"] == response.id
    assert_priced(a, MODEL, usage_of(billed_units(stub)))


def test_v2_tool_call_and_content(
    v2: Any, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    messages = [{"role": "system", "content": "Be brief."}, *MESSAGES]
    response = v2.chat(model=MODEL, messages=messages, tools=TOOLS)
    call = response.message.tool_calls[0]
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.finish_reasons"] == ("TOOL_CALL",)
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "tool_call", "id": call.id, "name": "get_weather", "arguments": json.loads(call.function.arguments)}
    ]
    assert_priced(a, MODEL, usage_of(billed_units(stub)))


def test_v1_chat_and_content(v1: Any, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    response = v1.chat(model=V1_MODEL, message="Say this is a test", preamble="Be brief.")
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.id"] == response.response_id
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say this is a test"}]}
    ]
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"] == [{"type": "text", "content": response.text}]
    assert_priced(a, V1_MODEL, usage_of(billed_units(stub)))


async def test_v1_chat_async(av1: Any, stub: StubProvider, span_exporter: Any) -> None:
    await av1.chat(model=V1_MODEL, message="hi")
    assert_priced(attrs(only_span(span_exporter)), V1_MODEL, usage_of(billed_units(stub)))


def test_v1_generate(v1: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/cohere/v1/generate", usage={"input_tokens": 40, "output_tokens": 300})
    response = v1.generate(model="command", prompt="Write a haiku", num_generations=2)
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == "text_completion command"
    assert a["gen_ai.request.choice.count"] == 2 and a["gen_ai.response.id"] == response.id
    assert_priced(a, "command", {"input_tokens": 40, "output_tokens": 300})


@pytest.mark.parametrize("client", ["v1", "v2"])
def test_embed(client: str, v1: Any, v2: Any, stub: StubProvider, span_exporter: Any) -> None:
    sdk = v1 if client == "v1" else v2
    for version in ("v1", "v2"):  # cohere 5.9's ClientV2.embed still posts to /v1/embed
        stub.enqueue(f"/cohere/{version}/embed", usage={"input_tokens": 1500})
    sdk.embed(model="embed-v4.0", texts=["one", "two"], input_type="search_document", embedding_types=["float"])
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.embeddings.dimension.count"] == 1024
    assert a["gen_ai.request.encoding_formats"] == ("float",)
    assert_priced(a, "embed-v4.0", {"input_tokens": 1500})


async def test_embed_async(av2: Any, stub: StubProvider, span_exporter: Any) -> None:
    await av2.embed(model="embed-v4.0", texts=["one"], input_type="search_query", embedding_types=["float"])
    assert_priced(attrs(only_span(span_exporter)), "embed-v4.0", usage_of(billed_units(stub)))


@pytest.mark.parametrize("client", ["v1", "v2"])
def test_rerank_is_billed_per_search_unit_and_never_free(
    client: str, v1: Any, v2: Any, stub: StubProvider, span_exporter: Any
) -> None:
    sdk = v1 if client == "v1" else v2
    for version in ("v1", "v2"):  # cohere 5.9's ClientV2.rerank still posts to /v1/rerank
        stub.enqueue(f"/cohere/{version}/rerank", usage={"search_units": 3})
    sdk.rerank(model="rerank-v3.5", query="which?", documents=["a", "b", "c"])
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.operation.name"] == "rerank"
    assert a["cohere.usage.search_units"] == 3
    assert a["genai_cost.status"] == "unknown_model" and "genai_cost.amount" not in a
    assert "search unit" in a["genai_cost.status.detail"]


@pytest.fixture
def rerank_prices() -> Iterator[None]:
    """The team's own prices: rerank-v3.5 per search unit; a rerank model priced per token only."""
    previous = catalog()
    set_catalog(
        PriceCatalog(
            PriceOverrides(
                custom_models=(
                    CustomPrice(model="rerank-v3.5", provider="cohere", per_search_unit=RERANK_PER_SEARCH),
                    CustomPrice(model="rerank-english-*", provider="cohere", input_per_mtok=1.0),
                )
            )
        )
    )
    yield
    set_catalog(previous)


@pytest.mark.parametrize("client", ["v1", "v2"])
@pytest.mark.parametrize("searches", [1, 3, 250])
def test_rerank_is_priced_per_search_unit_where_a_price_knows_one(
    client: str, searches: int, rerank_prices: None, v1: Any, v2: Any, stub: StubProvider, span_exporter: Any
) -> None:
    sdk = v1 if client == "v1" else v2
    for version in ("v1", "v2"):
        stub.enqueue(f"/cohere/{version}/rerank", usage={"search_units": searches})
    sdk.rerank(model="rerank-v3.5", query="which?", documents=["a", "b"])
    a = attrs(only_span(span_exporter))
    assert a["cohere.usage.search_units"] == searches
    assert a["genai_cost.status"] == "priced"
    assert a["genai_cost.amount"] == pytest.approx(searches * RERANK_PER_SEARCH, abs=1e-12)


def test_rerank_with_only_a_per_token_price_is_unknown_not_free(
    rerank_prices: None, v2: Any, stub: StubProvider, span_exporter: Any
) -> None:
    for version in ("v1", "v2"):
        stub.enqueue(f"/cohere/{version}/rerank", usage={"search_units": 2})
    v2.rerank(model="rerank-english-v3.0", query="which?", documents=["a", "b"])
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "unknown_model" and "genai_cost.amount" not in a
    assert "per_search_unit" in a["genai_cost.status.detail"]


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, "BadRequestError"), (401, "UnauthorizedError"), (429, "TooManyRequestsError"), (500, "InternalServerError")],
)
def test_errors_reach_the_caller_unchanged(
    v2: Any, stub: StubProvider, span_exporter: Any, status: int, error: str
) -> None:
    stub.enqueue("/cohere/v2/chat", status=status)
    with pytest.raises(getattr(cohere, error)):
        v2.chat(model=MODEL, messages=MESSAGES)
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.status.status_code is StatusCode.ERROR
    assert a["error.type"] == f"cohere.{error}"
    assert a["genai_cost.status"] == "no_usage"


def test_v1_embed_batches_are_one_span_each(v1: Any, stub: StubProvider, span_exporter: Any) -> None:
    v1.embed(model="embed-v4.0", texts=[f"text {i}" for i in range(100)], input_type="search_document")
    spans = genai_spans(span_exporter)
    assert len(spans) == len(stub.requests) == 2  # the SDK sends 96 texts per request
    # Batches run concurrently on the SDK's thread pool: compare what each span and request billed.
    billed = sorted(r.response_body["meta"]["billed_units"]["input_tokens"] for r in stub.requests)
    assert sorted(attrs(s)["gen_ai.usage.input_tokens"] for s in spans) == billed
