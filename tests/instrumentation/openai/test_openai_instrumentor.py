"""Instrument/uninstrument, and our own failures staying ours."""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import openai
import pytest
import wrapt
from openai.resources.chat.completions import AsyncCompletions, Completions
from openai.resources.embeddings import Embeddings
from openai.resources.responses import Responses
from opentelemetry import trace
from openai_support import (
    MESSAGES,
    attrs,
    client,
    genai_spans,
    instrument,
    instrumented,
    no_content_capture,
    only_span,
)

from genai_cost import internal_errors
from genai_cost.runtime import OUR_SCOPE
from genai_cost.instrumentation.openai import OpenAIInstrumentor, streams, wrappers
from genai_cost.testing import StubProvider

__all__ = ["client", "instrumented", "no_content_capture"]

WRAPPED = [
    (Completions, "create"),
    (Completions, "parse"),
    (Completions, "stream"),
    (AsyncCompletions, "create"),
    (Responses, "create"),
    (Responses, "retrieve"),
    (Responses, "stream"),
    (Embeddings, "create"),
]


def raw_attr(owner: type, name: str) -> Any:
    return owner.__dict__[name]


def test_dependencies() -> None:
    assert OpenAIInstrumentor().instrumentation_dependencies() == ("openai >= 1.26.0",)


def test_instrument_twice_wraps_once(client: openai.OpenAI, span_exporter: Any) -> None:
    instrument()  # already on: BaseInstrumentor refuses, nothing is wrapped twice
    for owner, name in WRAPPED:
        method = raw_attr(owner, name)
        assert isinstance(method, wrapt.FunctionWrapper), (owner, name)
        assert not isinstance(method.__wrapped__, wrapt.FunctionWrapper), (owner, name)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(genai_spans(span_exporter)) == 1


def test_uninstrument_restores_everything(stub: StubProvider, client: openai.OpenAI, span_exporter: Any) -> None:
    cached_raw = client.chat.completions.with_raw_response  # bound to our wrapper while on
    originals = {(o, n): raw_attr(o, n).__wrapped__ for o, n in WRAPPED}
    OpenAIInstrumentor().uninstrument()
    try:
        for (owner, name), original in originals.items():
            assert raw_attr(owner, name) is original, (owner, name)
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
        assert "stream_options" not in stub.last_request.body
        cached_raw.create(model="gpt-4o-mini", messages=MESSAGES)  # a wrapper that outlived us steps aside
        assert genai_spans(span_exporter) == []
    finally:
        instrument()
    cached_raw.create(model="gpt-4o-mini", messages=MESSAGES)
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert len(genai_spans(span_exporter)) == 2


def test_our_failure_to_describe_a_request_leaves_the_call_alone(
    client: openai.OpenAI, span_exporter: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(resource: Any) -> Any:
        raise RuntimeError("bug in genai-cost")

    monkeypatch.setattr(wrappers, "server_of", broken)
    monkeypatch.setattr(internal_errors, "_logged", set())
    with caplog.at_level(logging.ERROR, logger="genai_cost.instrumentation"):
        first = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
        second = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert first.choices[0].message.content == second.choices[0].message.content == "This is a test."
    assert genai_spans(span_exporter) == []
    assert [r.getMessage() for r in caplog.records].count(
        "genai-cost: internal error in describing an OpenAI request; the call itself is unaffected"
    ) == 1


def test_our_failure_reading_a_stream_leaves_the_chunks_alone(
    client: openai.OpenAI, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Any, chunk: Any) -> bool:
        raise RuntimeError("bug in genai-cost")

    monkeypatch.setattr(streams.ChatStreamObserver, "observe", broken)
    monkeypatch.setattr(internal_errors, "_logged", set())
    chunks = list(client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "This is a test."
    assert only_span(span_exporter).attributes["gen_ai.request.stream"] is True


def test_our_failure_reading_a_response_still_ends_the_span(
    client: openai.OpenAI, span_exporter: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(response: Any, request: Any) -> Any:
        raise RuntimeError("bug in genai-cost")

    original_init = wrappers.Invocation.__init__

    def with_broken_reader(self: Any, tracer: Any, surface: Any, *rest: Any) -> None:
        original_init(self, tracer, dataclasses.replace(surface, result=broken), *rest)

    monkeypatch.setattr(wrappers.Invocation, "__init__", with_broken_reader)
    monkeypatch.setattr(internal_errors, "_logged", set())
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert completion.choices[0].message.content == "This is a test."
    a = attrs(only_span(span_exporter))  # ended once, without what we failed to read
    assert a["gen_ai.request.model"] == "gpt-4o-mini"
    assert "gen_ai.usage.input_tokens" not in a


def test_an_sdk_method_calling_another_wrapped_one_is_one_span(client: openai.OpenAI, span_exporter: Any) -> None:
    """As in openai 1.40-1.9x, where beta.chat.completions.parse() called chat.completions.create():
    the outer method's span is the call's only span."""
    outer = wrappers.sync_call(trace.get_tracer(OUR_SCOPE), wrappers.CHAT, lambda: True)

    def parse_calling_create(**kwargs: Any) -> Any:
        return client.chat.completions.create(**kwargs)

    kwargs = {"model": "gpt-4o-mini", "messages": MESSAGES, "seed": 3}
    completion = outer(parse_calling_create, client.chat.completions, (), kwargs)

    assert completion.usage is not None
    span = only_span(span_exporter)
    assert span.parent is None  # the outer call's span, not one nested in it
    assert attrs(span)["gen_ai.usage.input_tokens"] == completion.usage.prompt_tokens
    client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)  # the guard is lifted after
    assert len(genai_spans(span_exporter)) == 2
