"""The ollama SDK over real HTTP (NDJSON streams included) to the stub's Ollama wire format: one
span per call, Ollama's counts as usage, priced by the configured price of a local model (or
reported unknown, never free), however a stream ends, sync and async, module functions too."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import ollama
import pytest
from ollama_support import (
    CHEAP,
    EMBEDDER,
    MESSAGES,
    MODEL,
    aclient,
    assert_priced,
    attrs,
    client,
    genai_spans,
    instrumented,
    no_content_capture,
    only_span,
    priced,
    uninstrumented,
    expected_cost,
    wire_counts,
)

from genai_cost.budget import BudgetExceeded
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.pricing import PriceCatalog
from genai_cost.testing import StubProvider
from genai_cost.testing.ollama_wire import THINKING

__all__ = ["aclient", "client", "instrumented", "no_content_capture", "priced"]

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def test_chat_is_one_span_priced_by_the_configured_price(
    priced: PriceCatalog, client: ollama.Client, stub: StubProvider, span_exporter: Any
) -> None:
    reply = client.chat(MODEL, MESSAGES, options={"temperature": 0.2, "num_predict": 64, "top_k": 5})
    assert reply.message.content
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == f"chat {MODEL}"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "ollama"
    assert (a["server.address"], a["server.port"]) == ("127.0.0.1", stub.port)
    assert a["gen_ai.request.model"] == a["gen_ai.response.model"] == MODEL
    assert a["gen_ai.request.temperature"] == 0.2 and a["gen_ai.request.max_tokens"] == 64
    assert a["gen_ai.request.top_k"] == 5
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    assert_priced(a, MODEL, wire_counts(stub))
    assert "gen_ai.input.messages" not in a and "gen_ai.output.messages" not in a


def test_a_local_model_without_a_price_is_unknown_not_free(
    client: ollama.Client, stub: StubProvider, span_exporter: Any
) -> None:
    client.chat(model=MODEL, messages=MESSAGES)
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "unknown_model"
    assert "genai_cost.amount" not in a and "gen_ai.usage.cost" not in a
    assert "pricing.custom_models" in a["genai_cost.status.detail"]
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == wire_counts(stub)


@pytest.mark.parametrize(
    "usage",
    [
        {"prompt_eval_count": 0, "eval_count": 1},
        {"prompt_eval_count": 1, "eval_count": 0},
        {"prompt_eval_count": 131_072, "eval_count": 8_192},
        {"prompt_eval_count": 7, "eval_count": None},  # eval_count absent: nothing generated
        {"prompt_eval_count": 12_345, "eval_count": 678},
    ],
)
def test_usage_shapes_are_priced_exactly(
    usage: dict[str, Any], priced: PriceCatalog, client: ollama.Client, stub: StubProvider, span_exporter: Any
) -> None:
    stub.enqueue("/api/chat", usage=usage)
    client.chat(MODEL, MESSAGES)
    assert_priced(attrs(only_span(span_exporter)), MODEL, wire_counts(stub))


def test_generate_embed_and_the_older_embeddings(
    priced: PriceCatalog, client: ollama.Client, stub: StubProvider, span_exporter: Any
) -> None:
    client.generate(MODEL, "Why is the sky blue?", system="Be brief")
    generate = attrs(genai_spans(span_exporter)[-1])
    assert generate["gen_ai.operation.name"] == "text_completion"
    assert_priced(generate, MODEL, wire_counts(stub))

    client.embed(EMBEDDER, ["first text", "second text"], dimensions=256)
    embed = attrs(genai_spans(span_exporter)[-1])
    assert embed["gen_ai.operation.name"] == "embeddings"
    assert embed["gen_ai.embeddings.dimension.count"] == 256
    assert_priced(embed, EMBEDDER, wire_counts(stub))

    client.embeddings(model=EMBEDDER, prompt="old endpoint")  # answers with no counts at all
    old = attrs(genai_spans(span_exporter)[-1])
    assert old["genai_cost.status"] == "no_usage" and "genai_cost.amount" not in old


def test_the_module_level_functions_are_traced(
    priced: PriceCatalog, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = ollama.chat.__self__  # the default client the module functions are bound to
    monkeypatch.setattr(default, "_client", httpx.Client(base_url=stub.url))
    ollama.chat(MODEL, MESSAGES)
    ollama.generate(model=MODEL, prompt="hello")
    ollama.embed(EMBEDDER, "text")
    spans = genai_spans(span_exporter)
    assert [s.name for s in spans] == [f"chat {MODEL}", f"text_completion {MODEL}", f"embeddings {EMBEDDER}"]
    assert all(attrs(s)["genai_cost.status"] == "priced" for s in spans)
    default._client.close()


# --- streams -----------------------------------------------------------------------------------


def test_a_stream_is_priced_from_its_final_line(
    priced: PriceCatalog, client: ollama.Client, stub: StubProvider, span_exporter: Any
) -> None:
    chunks = list(client.chat(MODEL, MESSAGES, stream=True))
    assert len(chunks) > 2 and chunks[-1].done
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.request.stream"] is True
    assert "gen_ai.response.time_to_first_chunk" in a
    assert_priced(a, MODEL, wire_counts(stub))


def test_a_stream_left_early_is_partial_and_unpriced_with_why(
    priced: PriceCatalog, client: ollama.Client, span_exporter: Any
) -> None:
    stream = client.generate(MODEL, "Tell me a long story", stream=True)
    next(iter(stream))
    stream.close()
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "no_usage"
    assert "closed the stream before it completed" in a["genai_cost.status.detail"]


def test_a_stream_cut_by_the_server_ends_its_span_with_the_error(
    priced: PriceCatalog, client: ollama.Client, stub: StubProvider, span_exporter: Any
) -> None:
    stub.enqueue("/api/chat", fail_after_events=2)
    with pytest.raises(httpx.HTTPError):
        for _ in client.chat(MODEL, MESSAGES, stream=True):
            pass
    a = attrs(only_span(span_exporter))
    assert a["error.type"].startswith("httpx.")
    assert a["genai_cost.status"] == "no_usage"


def test_an_error_line_mid_stream_reaches_the_caller_unchanged(
    priced: PriceCatalog, client: ollama.Client, stub: StubProvider, span_exporter: Any
) -> None:
    stub.enqueue(
        "/api/chat",
        sse_events=[
            {"model": MODEL, "message": {"role": "assistant", "content": "Hi"}, "done": False},
            {"error": "out of memory"},
        ],
    )
    with pytest.raises(ollama.ResponseError, match="out of memory"):
        list(client.chat(MODEL, MESSAGES, stream=True))
    a = attrs(only_span(span_exporter))
    assert a["error.type"] == "ollama.ResponseError"


async def test_async_calls_and_streams(
    priced: PriceCatalog, aclient: ollama.AsyncClient, stub: StubProvider, span_exporter: Any
) -> None:
    await aclient.chat(MODEL, MESSAGES)
    assert_priced(attrs(genai_spans(span_exporter)[-1]), MODEL, wire_counts(stub))
    async for _ in await aclient.generate(MODEL, "hello", stream=True):
        pass
    assert_priced(attrs(genai_spans(span_exporter)[-1]), MODEL, wire_counts(stub))
    stream = await aclient.chat(MODEL, MESSAGES, stream=True)
    async for _ in stream:
        break
    await stream.aclose()
    assert attrs(genai_spans(span_exporter)[-1])["genai_cost.status"] == "no_usage"
    await aclient.embed(EMBEDDER, ["a", "b"])
    assert_priced(attrs(genai_spans(span_exporter)[-1]), EMBEDDER, wire_counts(stub))
    assert len(genai_spans(span_exporter)) == 4


# --- tools, errors, content ----------------------------------------------------------------------


def test_tool_calls_finish_as_tool_call_and_are_captured_on_opt_in(
    priced: PriceCatalog,
    client: ollama.Client,
    stub: StubProvider,
    span_exporter: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    reply = client.chat(MODEL, [{"role": "user", "content": "Weather in Paris?"}], tools=[WEATHER_TOOL])
    assert reply.message.tool_calls
    a = attrs(genai_spans(span_exporter)[-1])
    assert a["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert_priced(a, MODEL, wire_counts(stub))
    assert "Weather in Paris?" in a["gen_ai.input.messages"]
    [message] = json.loads(a["gen_ai.output.messages"])
    assert message["parts"][0]["type"] == "tool_call" and message["parts"][0]["name"] == "get_weather"

    for _ in client.chat(MODEL, [{"role": "user", "content": "Weather?"}], tools=[WEATHER_TOOL], stream=True):
        pass
    streamed = attrs(genai_spans(span_exporter)[-1])
    assert streamed["gen_ai.response.finish_reasons"] == ("tool_call",)
    assert json.loads(streamed["gen_ai.output.messages"])[0]["parts"][0]["name"] == "get_weather"


def test_provider_errors_reach_the_caller_unchanged(
    client: ollama.Client, stub: StubProvider, span_exporter: Any
) -> None:
    stub.enqueue("/api/chat", status=404)
    with pytest.raises(ollama.ResponseError) as raised:
        client.chat("no-such-model", MESSAGES)
    assert raised.value.status_code == 404
    a = attrs(only_span(span_exporter))
    assert a["error.type"] == "ollama.ResponseError"
    assert a["genai_cost.status"] == "no_usage"


def test_uninstrumented_sdk_makes_no_span(client: ollama.Client, span_exporter: Any) -> None:
    with uninstrumented():
        client.chat(MODEL, MESSAGES)
    assert genai_spans(span_exporter) == []


# --- budgets -------------------------------------------------------------------------------------


@pytest.fixture
def guard(priced: PriceCatalog, request: pytest.FixtureRequest) -> Iterator[BudgetGuard]:
    from genai_cost.budget import install_guard
    from genai_cost.budget.ledger.memory import MemoryLedger

    installed = BudgetGuard([request.param], MemoryLedger())
    previous = install_guard(installed)
    yield installed
    install_guard(previous)
    installed.close()


@pytest.mark.parametrize("guard", [BudgetPolicy("local", limit=0.0)], indirect=True)
async def test_a_blocked_call_never_reaches_the_server(
    guard: BudgetGuard, client: ollama.Client, aclient: ollama.AsyncClient, stub: StubProvider, span_exporter: Any
) -> None:
    with pytest.raises(BudgetExceeded):
        client.chat(MODEL, MESSAGES)
    with pytest.raises(BudgetExceeded):
        client.generate(MODEL, "hello", stream=True)
    with pytest.raises(BudgetExceeded):
        await aclient.chat(MODEL, MESSAGES)
    assert stub.requests == []
    assert [attrs(s)["genai_cost.budget.decision"] for s in genai_spans(span_exporter)] == ["block"] * 3


@pytest.mark.parametrize(
    "guard", [BudgetPolicy("local", limit=0.0, action="downgrade", downgrade_to=CHEAP)], indirect=True
)
def test_a_downgrade_sends_the_cheaper_model_however_the_model_was_passed(
    guard: BudgetGuard, client: ollama.Client, stub: StubProvider, span_exporter: Any
) -> None:
    client.chat(MODEL, MESSAGES)  # positional
    assert stub.last_request.body["model"] == CHEAP
    client.chat(model=MODEL, messages=MESSAGES, stream=True).close()
    assert stub.last_request.body["model"] == CHEAP
    first = attrs(genai_spans(span_exporter)[0])
    assert first["genai_cost.budget.decision"] == "downgrade"
    assert first["genai_cost.budget.original_model"] == MODEL
    assert first["gen_ai.request.model"] == CHEAP
    assert_priced(first, CHEAP, (first["gen_ai.usage.input_tokens"], first["gen_ai.usage.output_tokens"]))


@pytest.mark.parametrize("think", [True, "high"])
def test_thinking_is_output_as_ollama_counts_it_and_captured_as_reasoning(
    think: bool | str,
    priced: PriceCatalog,
    client: ollama.Client,
    stub: StubProvider,
    span_exporter: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Ollama sends the thinking apart (message.thinking, generate's thinking) and counts its tokens
    # in eval_count with the answer's, reporting no reasoning count of its own: the span's output
    # is eval_count, priced at the output rate, and no reasoning count is made up.
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    reply = client.chat(MODEL, MESSAGES, think=think)
    assert reply.message.thinking == THINKING
    answered = stub.last_request.response_body
    assert answered["eval_count"] > len(reply.message.content.split())  # the thinking is counted in it
    streamed = list(client.chat(MODEL, MESSAGES, think=think, stream=True))
    assert "".join(c.message.thinking or "" for c in streamed) == THINKING
    generated = client.generate(MODEL, "Say this is a test", think=think)
    assert generated.thinking == THINKING
    for span in genai_spans(span_exporter):
        a = attrs(span)
        assert a["gen_ai.usage.output_tokens"] == answered["eval_count"]
        assert "gen_ai.usage.reasoning.output_tokens" not in a
        assert a["genai_cost.amount"] == pytest.approx(
            expected_cost(MODEL, (a["gen_ai.usage.input_tokens"], answered["eval_count"])), abs=1e-12
        )
        [message] = json.loads(a["gen_ai.output.messages"])
        assert message["parts"][0] == {"type": "reasoning", "content": THINKING}
