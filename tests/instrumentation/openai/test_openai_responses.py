"""Responses API: create, parse, retrieve (fetch_response) and hosted-tool usage."""

from __future__ import annotations

import copy
import json
from typing import Any

import openai
import pytest
from openai_support import (
    MESSAGES,
    aclient,
    assert_priced,
    assert_usage,
    attrs,
    client,
    instrumented,
    no_content_capture,
    only_span,
    oracle,
    responses_usage_of,
)
from pydantic import BaseModel

from conftest import metric_points
from genai_cost.testing import StubProvider

__all__ = ["aclient", "client", "instrumented", "no_content_capture"]


def check_response_span(a: dict[str, Any], stub: StubProvider) -> dict[str, int]:
    sent = stub.last_request.response_body
    assert a["gen_ai.operation.name"] == "chat"  # semconv: the Responses API is a chat operation
    assert a["openai.api.type"] == "responses"
    assert a["gen_ai.response.id"] == sent["id"]
    assert a["gen_ai.response.model"] == sent["model"]
    usage = responses_usage_of(sent["usage"])
    assert_usage(a, usage)
    assert_priced(a, sent["model"], usage, tier=sent["service_tier"])
    return usage


def test_create(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue(
        "/v1/responses",
        usage={"input_tokens": 3000, "input_tokens_details": {"cached_tokens": 2048, "cache_write_tokens": 500}},
    )
    client.responses.create(
        model="gpt-4.1-mini",
        input="hello",
        instructions="Be brief.",
        max_output_tokens=20,
        temperature=0.3,
        top_p=0.8,
        text={"format": {"type": "json_object"}},
    )
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == "chat gpt-4.1-mini"
    usage = check_response_span(a, stub)
    assert usage["cache_read_tokens"] == 2048 and usage["cache_write_tokens"] == 500
    assert a["gen_ai.request.max_tokens"] == 20
    assert a["gen_ai.request.temperature"] == 0.3
    assert a["gen_ai.request.top_p"] == 0.8
    assert a["gen_ai.output.type"] == "json"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)


async def test_create_async_reasoning(aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any) -> None:
    await aclient.responses.create(model="o3", input="hello")
    a = attrs(only_span(span_exporter))
    usage = check_response_span(a, stub)
    assert usage["output_reasoning_tokens"] == 16 == a["gen_ai.usage.reasoning.output_tokens"]


def test_service_tier_priority(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    client.responses.create(model="gpt-5-mini", input="hello", service_tier="priority")
    a = attrs(only_span(span_exporter))
    assert a["openai.request.service_tier"] == a["openai.response.service_tier"] == "priority"
    usage = check_response_span(a, stub)
    assert oracle("gpt-5-mini-2025-08-07", usage, tier="priority") > oracle("gpt-5-mini-2025-08-07", usage)


def test_incomplete_and_tool_call_finish_reasons(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    client.responses.create(model="gpt-4o-mini", input="hello", max_output_tokens=2)
    tool = {"type": "function", "name": "lookup", "parameters": {"type": "object", "properties": {}}}
    client.responses.create(model="gpt-4o-mini", input="hello", tools=[tool])
    reasons = [attrs(s)["gen_ai.response.finish_reasons"] for s in span_exporter.get_finished_spans()]
    assert reasons == [("length",), ("tool_calls",)]


def test_web_search_is_priced_as_a_hosted_tool(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    client.responses.create(model="gpt-4o-mini", input="news?")
    body = copy.deepcopy(stub.last_request.response_body)
    search = {
        "id": "ws_1",
        "type": "web_search_call",
        "status": "completed",
        "action": {"type": "search", "query": "news"},
    }
    page = {
        "id": "ws_2",
        "type": "web_search_call",
        "status": "completed",
        "action": {"type": "open_page", "url": "https://x"},
    }
    with_items = {**body, "output": [search, search | {"id": "ws_3"}, page, *body["output"]]}
    reported = {**body, "tool_usage": {"web_search": {"num_requests": 3}, "image_gen": _no_image_gen()}}
    stub.enqueue("/v1/responses", json=with_items)
    stub.enqueue("/v1/responses", json=reported)
    span_exporter.clear()

    client.responses.create(model="gpt-4o-mini", input="news?", tools=[{"type": "web_search"}])
    client.responses.create(model="gpt-4o-mini", input="news?", tools=[{"type": "web_search"}])

    counted, billed = (attrs(s) for s in span_exporter.get_finished_spans())
    plain = oracle("gpt-4o-mini-2024-07-18", responses_usage_of(body["usage"]))
    # Output items: two searches (opening a page is not a billable search) ...
    two = oracle("gpt-4o-mini-2024-07-18", responses_usage_of(body["usage"], web_searches=2))
    assert counted["genai_cost.amount"] == pytest.approx(two, abs=1e-9)
    assert counted["genai_cost.tools"] == pytest.approx(two - plain, abs=1e-9) and two > plain
    # ... and tool_usage, OpenAI's own billable count, wins when present.
    three = oracle("gpt-4o-mini-2024-07-18", responses_usage_of(body["usage"], web_searches=3))
    assert billed["genai_cost.amount"] == pytest.approx(three, abs=1e-9)


def _no_image_gen() -> dict[str, Any]:
    return {
        "input_tokens": 0,
        "input_tokens_details": {"image_tokens": 0, "text_tokens": 0},
        "output_tokens": 0,
        "total_tokens": 0,
    }


def test_parse_is_one_span(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    class Answer(BaseModel):
        city: str

    stub.enqueue("/v1/responses", text='{"city": "Oslo"}')
    parsed = client.responses.parse(model="gpt-4o-mini", input="where?", text_format=Answer)

    assert parsed.output_parsed == Answer(city="Oslo")
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.output.type"] == "json"
    check_response_span(a, stub)


async def test_parse_async(aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any) -> None:
    class Answer(BaseModel):
        city: str

    stub.enqueue("/v1/responses", text='{"city": "Lima"}')
    parsed = await aclient.responses.parse(model="gpt-4o-mini", input="where?", text_format=Answer)
    assert parsed.output_parsed == Answer(city="Lima")
    check_response_span(attrs(only_span(span_exporter)), stub)


def test_api_error(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue("/v1/responses", status=400)
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="gpt-4o-mini", input="hello")
    assert attrs(only_span(span_exporter))["error.type"] == "openai.BadRequestError"


def test_content_when_opted_in(client: openai.OpenAI, span_exporter: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "span_only")
    client.responses.create(model="gpt-4o-mini", input=MESSAGES, instructions="Be brief.")
    a = attrs(only_span(span_exporter))
    assert json.loads(a["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "Say this is a test"}]}
    ]
    assert json.loads(a["gen_ai.system_instructions"]) == [{"type": "text", "content": "Be brief."}]
    assert json.loads(a["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "This is a test."}], "finish_reason": "stop"}
    ]


# --- retrieve: fetch_response ----------------------------------------------------------------


def check_fetch_span(a: dict[str, Any], response_id: str) -> None:
    assert a["gen_ai.operation.name"] == "fetch_response"
    assert a["gen_ai.response.id"] == response_id
    assert a["gen_ai.response.status"] == "completed"
    # The tokens belong to the call that generated the response: neither usage nor price here.
    assert not [k for k in a if k.startswith("gen_ai.usage.")]
    assert "genai_cost.amount" not in a
    assert a["genai_cost.status"] == "no_usage"  # not unknown_model: nothing is missing a price
    assert "bills no tokens" in a["genai_cost.status.detail"]


def test_retrieve_is_a_fetch_span_without_price(
    client: openai.OpenAI, stub: StubProvider, span_exporter: Any, metric_reader: Any
) -> None:
    created = client.responses.create(model="gpt-4o-mini", input="hello")
    span_exporter.clear()
    unpriced_before = len(metric_points(metric_reader, "genai_cost.unpriced.calls"))

    fetched = client.responses.retrieve(created.id)

    assert fetched.id == created.id
    span = only_span(span_exporter)
    assert span.name == "fetch_response"
    a = attrs(span)
    check_fetch_span(a, created.id)
    assert a["gen_ai.response.model"] == "gpt-4o-mini-2024-07-18"
    assert a["gen_ai.response.finish_reasons"] == ("stop",)
    unpriced = [
        p
        for p in metric_points(metric_reader, "genai_cost.unpriced.calls")
        if p.attributes.get("gen_ai.operation.name") == "fetch_response"
    ]
    assert unpriced == [] and len(metric_points(metric_reader, "genai_cost.unpriced.calls")) == unpriced_before


async def test_retrieve_async_unknown_model(
    aclient: openai.AsyncOpenAI, stub: StubProvider, span_exporter: Any
) -> None:
    created = await aclient.responses.create(model="house-model-unknown", input="hello")
    span_exporter.clear()
    await aclient.responses.retrieve(created.id)
    check_fetch_span(attrs(only_span(span_exporter)), created.id)


def test_retrieve_missing_is_an_error(client: openai.OpenAI, span_exporter: Any) -> None:
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_missing")
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.operation.name"] == "fetch_response"
    assert a["gen_ai.response.id"] == "resp_missing"
    assert a["error.type"] == "openai.NotFoundError"


def test_stream_by_response_id_is_a_fetch_span(client: openai.OpenAI, stub: StubProvider, span_exporter: Any) -> None:
    list(client.responses.create(model="gpt-4o-mini", input="hello", stream=True))
    events = [e for e in stub.last_request.response_body]
    response_id = events[-1]["response"]["id"]
    stub.enqueue(f"/v1/responses/{response_id}", method="GET", sse_events=events)
    span_exporter.clear()

    with client.responses.stream(response_id=response_id) as stream:
        for _ in stream:
            pass

    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == "fetch_response"
    assert a["gen_ai.request.stream"] is True
    check_fetch_span(a, response_id)
