"""ConverseStream and InvokeModelWithResponseStream over real eventstream framing: every way a
stream ends ends its span exactly once, with the usage seen so far, and the caller sees exactly
the events it would see without us."""

from __future__ import annotations

import gc
import json
from typing import Any

import botocore.exceptions
import pytest
from bedrock_support import (
    MESSAGES,
    assert_priced,
    assert_usage,
    attrs,
    client,
    genai_prices_usage,
    genai_spans,
    instrumented,
    make_client,
    only_span,
    oracle,
    path,
    uninstrumented,
)
from opentelemetry.trace import StatusCode

from genai_cost.testing import StubProvider

__all__ = ["client", "instrumented"]

NOVA = "us.amazon.nova-lite-v1:0"
CLAUDE = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
LLAMA = "meta.llama3-1-70b-instruct-v1:0"
LONG = "one two three four five six seven eight nine ten"


class CallerError(Exception):
    pass


def chunks_of(events: Any) -> list[dict[str, Any]]:
    return [json.loads(e["chunk"]["bytes"]) for e in events]


# --- complete streams --------------------------------------------------------------------------


def test_converse_stream_events_unchanged_and_priced(span_exporter: Any) -> None:
    forced = {"inputTokens": 900, "outputTokens": 40, "cacheReadInputTokens": 2048}

    def run() -> list[dict[str, Any]]:
        with StubProvider() as fresh:
            fresh.enqueue(path(CLAUDE, "converse-stream"), usage=forced)
            response = make_client(fresh).converse_stream(modelId=CLAUDE, messages=MESSAGES)
            return list(response["stream"])

    with uninstrumented():
        bare = run()
    ours = run()

    assert ours == bare
    assert "metadata" in ours[-1]
    a = attrs(only_span(span_exporter))
    assert a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.finish_reasons"] == ("end_turn",)
    assert a["gen_ai.response.time_to_first_chunk"] > 0
    usage = genai_prices_usage(900, 40, cache_read=2048)
    assert_usage(a, usage)
    assert_priced(a, CLAUDE, usage)
    assert "partial" not in a["genai_cost.status"]


INVOKE_BODIES = {
    CLAUDE: {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
    },
    LLAMA: {"prompt": "hi"},
    NOVA: {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
    "amazon.titan-text-lite-v1": {"inputText": "hi"},
    "mistral.mixtral-8x7b-instruct-v0:1": {"prompt": "hi"},
}


@pytest.mark.parametrize("model", list(INVOKE_BODIES))
def test_invoke_stream_usage_per_family(span_exporter: Any, model: str) -> None:
    cached = model in (CLAUDE, NOVA)
    forced = {"inputTokens": 321, "outputTokens": 10, "cacheReadInputTokens": 1000 if cached else 0}

    def run() -> list[dict[str, Any]]:
        with StubProvider() as fresh:
            fresh.enqueue(path(model, "invoke-with-response-stream"), usage=forced, text=LONG)
            response = make_client(fresh).invoke_model_with_response_stream(
                modelId=model, body=json.dumps(INVOKE_BODIES[model])
            )
            return chunks_of(response["body"])

    with uninstrumented():
        bare = run()
    ours = run()

    assert ours == bare
    assert "amazon-bedrock-invocationMetrics" in ours[-1]
    a = attrs(only_span(span_exporter))
    usage = genai_prices_usage(321, 10, cache_read=1000 if cached else 0)
    assert_usage(a, usage)
    assert_priced(a, model, usage)
    assert len(a["gen_ai.response.finish_reasons"]) == 1


# --- streams that end early --------------------------------------------------------------------


def _partial(a: dict[str, Any], why: str) -> None:
    assert a["genai_cost.status"] == "partial", a.get("genai_cost.status.detail")
    assert why in a["genai_cost.status.detail"]


def test_break_then_drop_ends_with_usage_so_far(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue(path(LLAMA, "invoke-with-response-stream"), usage={"inputTokens": 77}, text=LONG)
    response = client.invoke_model_with_response_stream(modelId=LLAMA, body=json.dumps({"prompt": "hi"}))
    for index, _event in enumerate(response["body"]):
        if index == 2:
            break
    assert genai_spans(span_exporter) == []  # the caller may still resume
    del response, _event
    gc.collect()

    a = attrs(only_span(span_exporter))
    _partial(a, "abandoned")
    usage = genai_prices_usage(77, 3)  # prompt count from the first chunk, three generated so far
    assert_usage(a, usage)
    assert a["genai_cost.amount"] == pytest.approx(oracle(LLAMA, usage), abs=1e-9)


def test_close_ends_the_span_once(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue(path(CLAUDE, "invoke-with-response-stream"), usage={"inputTokens": 500}, text=LONG)
    response = client.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(INVOKE_BODIES[CLAUDE]))
    stream = response["body"]
    next(iter(stream))  # message_start: input counts are known
    stream.close()
    stream.close()
    del response, stream
    gc.collect()

    a = attrs(only_span(span_exporter))
    _partial(a, "closed")
    assert a["gen_ai.usage.input_tokens"] == 500 and a["gen_ai.usage.output_tokens"] == 1
    assert a["genai_cost.amount"] == pytest.approx(oracle(CLAUDE, genai_prices_usage(500, 1)), abs=1e-9)


def test_caller_exception_in_the_loop(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue(path(NOVA, "converse-stream"), text=LONG)
    response = client.converse_stream(modelId=NOVA, messages=MESSAGES)
    with pytest.raises(CallerError):
        for _event in response["stream"]:
            raise CallerError
    del response
    gc.collect()

    span = only_span(span_exporter)
    a = attrs(span)
    # Converse streams report usage only at the end: none yet, so nothing priced, and it says why.
    assert a["genai_cost.status"] == "no_usage"
    assert "abandoned" in a["genai_cost.status.detail"]
    assert span.status.status_code is not StatusCode.ERROR  # the caller's error, not the call's


def test_never_consumed(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    response = client.converse_stream(modelId=NOVA, messages=MESSAGES)
    del response
    gc.collect()
    a = attrs(only_span(span_exporter))
    assert "abandoned" in a["genai_cost.status.detail"]
    assert "gen_ai.usage.input_tokens" not in a


@pytest.mark.parametrize(
    ("op", "events"),
    [
        (
            "converse-stream",
            [{"messageStart": {"role": "assistant"}}, {"throttlingException": {"message": "Too many tokens"}}],
        ),
        (
            "invoke-with-response-stream",
            [
                {"chunk": {"generation": "Hi", "prompt_token_count": 12, "generation_token_count": 1}},
                {"modelStreamErrorException": {"message": "model failed", "originalStatusCode": 500}},
            ],
        ),
    ],
)
def test_server_error_mid_stream(span_exporter: Any, op: str, events: list[dict[str, Any]]) -> None:
    def run() -> tuple[int, botocore.exceptions.EventStreamError]:
        with StubProvider() as fresh:
            fresh.enqueue(path(LLAMA, op), sse_events=events)
            client = make_client(fresh)
            if op == "converse-stream":
                stream = client.converse_stream(modelId=LLAMA, messages=MESSAGES)["stream"]
            else:
                stream = client.invoke_model_with_response_stream(modelId=LLAMA, body="{}")["body"]
            seen = 0
            with pytest.raises(botocore.exceptions.EventStreamError) as raised:
                for _event in stream:
                    seen += 1
            return seen, raised.value

    with uninstrumented():
        bare_seen, bare = run()
    seen, ours = run()

    assert seen == bare_seen == 1
    assert ours.response["Error"] == bare.response["Error"]
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.status.status_code is StatusCode.ERROR
    assert a["error.type"] == "botocore.exceptions.EventStreamError"
    assert a["aws.error.code"] == next(iter(events[-1]))
    assert "failed" in a["genai_cost.status.detail"]
    if op == "invoke-with-response-stream":  # usage so far survives the failure
        assert a["gen_ai.usage.input_tokens"] == 12 and a["gen_ai.usage.output_tokens"] == 1
        assert a["genai_cost.status"] == "partial"


def test_connection_dropped_mid_stream(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    stub.enqueue(path(LLAMA, "invoke-with-response-stream"), usage={"inputTokens": 30}, text=LONG, fail_after_events=4)
    response = client.invoke_model_with_response_stream(modelId=LLAMA, body="{}")
    seen = 0
    with pytest.raises(Exception) as raised:
        for _event in response["body"]:
            seen += 1
    assert seen == 4
    a = attrs(only_span(span_exporter))
    assert a["error.type"].endswith(type(raised.value).__name__)
    _partial(a, "failed")
    assert a["gen_ai.usage.input_tokens"] == 30 and a["gen_ai.usage.output_tokens"] == 4


def test_anthropic_stream_cache_writes_by_ttl(client: Any, stub: StubProvider, span_exporter: Any) -> None:
    model = "global.anthropic.claude-sonnet-4-5-20250929-v1:0"
    forced = {
        "inputTokens": 200,
        "outputTokens": 10,
        "cacheWriteInputTokens": 2500,
        "cacheDetails": [{"ttl": "1h", "inputTokens": 2500}],
    }
    stub.enqueue(path(model, "invoke-with-response-stream"), usage=forced)
    response = client.invoke_model_with_response_stream(modelId=model, body=json.dumps(INVOKE_BODIES[CLAUDE]))
    start = chunks_of(response["body"])[0]

    assert start["message"]["usage"]["cache_creation"]["ephemeral_1h_input_tokens"] == 2500
    a = attrs(only_span(span_exporter))
    assert_priced(a, model, {**genai_prices_usage(200, 10, cache_write=2500), "cache_write_1h_tokens": 2500})


# --- a guardrail that intervened in the model's output -----------------------------------------

# What Bedrock sends when a guardrail intervenes in a streamed Claude answer: the model's start
# (input counts), then the guardrail's replacement text in a content_block_delta that also carries
# the guardrail action and trace and Bedrock's final invocation metrics -- the only place the
# output count of the tokens the model generated (and was billed for) appears.
GUARDRAIL_INTERVENED = [
    {
        "chunk": {
            "type": "message_start",
            "message": {
                "id": "msg_bdrk_guarded",
                "type": "message",
                "role": "assistant",
                "model": "claude-3-5-haiku-20241022",
                "content": [],
                "stop_reason": None,
                "usage": {"input_tokens": 120, "output_tokens": 1},
            },
        }
    },
    {"chunk": {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}},
    {
        "chunk": {
            "type": "content_block_delta",
            "index": 0,
            "delta": {"type": "text_delta", "text": "Sorry, the model cannot answer this question."},
            "amazon-bedrock-guardrailAction": "INTERVENED",
            "amazon-bedrock-trace": {"guardrail": {"outputs": [{"topicPolicy": {"topics": [{"action": "BLOCKED"}]}}]}},
            "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": 120,
                "outputTokenCount": 48,
                "invocationLatency": 900,
                "firstByteLatency": 300,
            },
        }
    },
]


def test_a_stream_a_guardrail_intervened_in_keeps_its_token_counts(
    client: Any, stub: StubProvider, span_exporter: Any
) -> None:
    stub.enqueue(path(CLAUDE, "invoke-with-response-stream"), sse_events=GUARDRAIL_INTERVENED)
    response = client.invoke_model_with_response_stream(modelId=CLAUDE, body=json.dumps(INVOKE_BODIES[CLAUDE]))
    chunks = chunks_of(response["body"])
    assert chunks[-1]["amazon-bedrock-guardrailAction"] == "INTERVENED"  # the caller sees it unchanged
    a = attrs(only_span(span_exporter))
    assert (a["gen_ai.usage.input_tokens"], a["gen_ai.usage.output_tokens"]) == (120, 48)
    assert a["gen_ai.response.finish_reasons"] == ("guardrail_intervened",)
    assert_priced(a, CLAUDE, genai_prices_usage(120, 48))
