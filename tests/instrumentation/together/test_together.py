"""Together: chat and legacy completions (whole and streamed, sync and async), embeddings, tools,
errors, budgets, opt-in content; every way a stream can end ends its span once."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
import together
from opentelemetry.trace import StatusCode
from together_support import (
    API_KEY,
    MESSAGES,
    MODEL,
    aclient,
    assert_priced,
    assert_usage,
    attrs,
    base_url,
    client,
    genai_spans,
    instrumented,
    no_content_capture,
    only_span,
    uninstrumented,
    usage_of,
    wire_usage,
)

from genai_cost.budget import BudgetExceeded
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.testing import StubProvider

__all__ = ["aclient", "client", "instrumented", "no_content_capture"]

LONG = "one two three four five six seven eight nine ten eleven twelve"
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]


def test_chat(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    response = client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=64, top_k=40)
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == f"chat {MODEL}"
    assert a["gen_ai.provider.name"] == "together"
    assert a["gen_ai.request.max_tokens"] == 64 and a["gen_ai.request.top_k"] == 40
    assert a["gen_ai.response.id"] == response.id and a["gen_ai.response.finish_reasons"] == ("stop",)
    assert a["server.address"] == "127.0.0.1" and a["server.port"] == stub.port
    usage = usage_of(wire_usage(stub))
    assert_usage(a, usage)
    assert_priced(a, MODEL, usage)
    assert API_KEY not in json.dumps(a) and "gen_ai.input.messages" not in a


@pytest.mark.parametrize(
    ("model", "prompt", "completion"),
    [
        (MODEL, 1, 0),
        (MODEL, 200_000, 9_000),
        ("meta-llama/Llama-4-Scout-17B-16E-Instruct", 1234, 5678),
        ("deepseek-ai/DeepSeek-V4.1-Flash", 64_000, 1),
        ("Qwen/Qwen3.7-Plus", 17, 170_000),
        ("openai/gpt-oss-120b", 3333, 4444),
    ],
)
def test_many_usage_shapes_price_as_genai_prices(
    client: Any, stub: StubProvider, span_exporter: Any, model: str, prompt: int, completion: int
) -> None:
    stub.enqueue("/together/v1/chat/completions", usage={"prompt_tokens": prompt, "completion_tokens": completion})
    client.chat.completions.create(model=model, messages=MESSAGES)
    usage = usage_of(wire_usage(stub))
    assert usage == {"input_tokens": prompt, "output_tokens": completion}
    a = attrs(only_span(span_exporter))
    assert_usage(a, usage)
    assert_priced(a, model, usage)


async def test_chat_async(aclient: Any, stub: StubProvider, span_exporter: Any) -> None:
    await aclient.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert_priced(attrs(only_span(span_exporter)), MODEL, usage_of(wire_usage(stub)))


def test_tool_call_and_content(
    client: Any, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    response = client.chat.completions.create(model=MODEL, messages=MESSAGES, tools=TOOLS, tool_choice="required")
    call = response.choices[0].message.tool_calls[0]
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.finish_reasons"] == ("tool_calls",)
    assert json.loads(a["gen_ai.input.messages"])[0]["parts"] == [{"type": "text", "content": "Say this is a test"}]
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"][0]["name"] == call.function.name


def test_legacy_completion(
    client: Any, stub: StubProvider, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    response = client.completions.create(model=MODEL, prompt="Say this is a test", max_tokens=32)
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == f"text_completion {MODEL}"
    assert json.loads(a["gen_ai.output.messages"])[0]["parts"] == [
        {"type": "text", "content": response.choices[0].text}
    ]
    assert_priced(a, MODEL, usage_of(wire_usage(stub)))


def test_embeddings(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    client.embeddings.create(model="BAAI/bge-large-en-v1.5", input=["one", "two"])
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.operation.name"] == "embeddings" and a["gen_ai.embeddings.dimension.count"] == 768
    assert a["gen_ai.usage.input_tokens"] == wire_usage(stub)["prompt_tokens"]
    assert a["genai_cost.status"] == "unknown_model" and "genai_cost.amount" not in a  # no price known: not $0


@pytest.mark.parametrize(
    ("status", "error"), [(400, "BadRequestError"), (429, "RateLimitError"), (500, "InternalServerError")]
)
def test_errors(client: Any, stub: StubProvider, span_exporter: Any, status: int, error: str) -> None:
    stub.enqueue("/together/v1/chat/completions", status=status)
    with pytest.raises(getattr(together, error)):
        client.chat.completions.create(model=MODEL, messages=MESSAGES)
    span = only_span(span_exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert attrs(span)["error.type"] == f"together.{error}"


# --- streams -----------------------------------------------------------------------------------


def test_stream_sees_exactly_the_uninstrumented_chunks(span_exporter: Any) -> None:
    def run() -> list[Any]:
        with StubProvider() as fresh:
            sdk = together.Together(api_key="t", base_url=base_url(fresh), max_retries=0)
            return [c.to_dict() for c in sdk.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)]

    with uninstrumented():
        bare = run()
    assert run() == bare
    assert attrs(only_span(span_exporter))["gen_ai.request.stream"] is True


@pytest.mark.parametrize("kind", ["chat", "completions"])
def test_stream_usage_on_the_last_chunk(client: Any, stub: StubProvider, span_exporter: Any, kind: str) -> None:
    stub.enqueue(f"/together/v1/{'chat/completions' if kind == 'chat' else 'completions'}", text=LONG)
    if kind == "chat":
        chunks = list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    else:
        chunks = list(client.completions.create(model=MODEL, prompt="Say this is a test", stream=True))
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.response.id"] == chunks[0].id and a["gen_ai.response.finish_reasons"] == ("stop",)
    usage = usage_of(wire_usage(stub))
    assert_usage(a, usage)
    assert_priced(a, MODEL, usage)


async def test_async_stream(aclient: Any, stub: StubProvider, span_exporter: Any) -> None:
    stream = await aclient.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    [c async for c in stream]
    assert_priced(attrs(only_span(span_exporter)), MODEL, usage_of(wire_usage(stub)))


def test_stream_ended_early(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/together/v1/chat/completions", text=LONG)
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    for _ in stream:
        break
    stream.close()
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "no_usage" and "closed the stream" in a["genai_cost.status.detail"]

    span_exporter.clear()
    stub.enqueue("/together/v1/chat/completions", text=LONG, fail_after_events=3)
    with pytest.raises(Exception) as caught:
        list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))
    assert not type(caught.value).__module__.startswith("genai_cost")
    a = attrs(only_span(span_exporter))
    assert a["error.type"].endswith(type(caught.value).__name__) and a["genai_cost.status"] == "no_usage"

    span_exporter.clear()
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
    del stream
    gc.collect()
    assert "abandoned" in attrs(only_span(span_exporter))["genai_cost.status.detail"]


# --- budgets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("budget", [BudgetPolicy("together", limit=0.0)], indirect=True)
async def test_a_blocked_call_never_reaches_the_provider(
    budget: BudgetGuard, client: Any, aclient: Any, stub: StubProvider, span_exporter: Any
) -> None:
    with pytest.raises(BudgetExceeded):
        client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=64, stream=True)
    with pytest.raises(BudgetExceeded):
        await aclient.completions.create(model=MODEL, prompt="hi", max_tokens=64)
    assert stub.requests == []
    assert [attrs(s)["genai_cost.budget.decision"] for s in genai_spans(span_exporter)] == ["block"] * 2


CHEAP = "meta-llama/Llama-4-Scout-17B-16E-Instruct"


@pytest.mark.parametrize(
    "budget", [BudgetPolicy("together", limit=0.0, action="downgrade", downgrade_to=CHEAP)], indirect=True
)
def test_downgrade(budget: BudgetGuard, client: Any, stub: StubProvider, span_exporter: Any) -> None:
    list(client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=64, stream=True))
    assert stub.last_request.body["model"] == CHEAP
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.budget.decision"] == "downgrade" and a["genai_cost.price.model"] == CHEAP


def test_entry_point_names_the_instrumentor() -> None:
    from importlib.metadata import entry_points

    from genai_cost.instrumentation.together import TogetherInstrumentor

    [entry_point] = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "genai_cost_together"]
    assert entry_point.load() is TogetherInstrumentor
