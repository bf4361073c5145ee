"""Conformance: every recorded OpenAI exchange in ../shared/recordings/openai-v2, replayed through
the real SDK against the stand-in, gives one correct span.

Each cassette's SDK calls are rebuilt from the recorded requests (endpoint path -> method, JSON
body -> keyword arguments, the stream flag included); ``test_async_*`` cassettes use the async
client. The replayer matches requests by method and path only, so the ``stream_options`` we add to
a streamed chat request does not disturb it -- and a recording made without it then carries no
usage, which the span must report as estimated. Expected values come from the recording itself and
from genai-prices' ``calc_price``, never from our own code.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import openai
import pytest
from openai_support import (
    assert_usage,
    attrs,
    chat_usage_of,
    genai_spans,
    instrumented,
    no_content_capture,
    oracle,
    responses_usage_of,
)

from conftest import RECORDINGS
from genai_cost.testing import RecordedInteraction, StubProvider, load_cassette

__all__ = ["instrumented", "no_content_capture"]

CASSETTE_DIR = RECORDINGS / "openai-v2"
CASSETTES = sorted(CASSETTE_DIR.glob("*.yaml")) if CASSETTE_DIR.is_dir() else []
TOLERANCE = 1e-9


@pytest.fixture(params=CASSETTES or [None], ids=lambda p: p.stem if p else "absent")
def cassette(request: pytest.FixtureRequest) -> Path:
    if request.param is None:
        pytest.skip(f"no recordings at {CASSETTE_DIR} (a clone without ../shared)")
    return request.param


def resource_method(client: Any, interaction: RecordedInteraction) -> Any:
    path, method = interaction.path, interaction.method
    if method == "POST" and path.endswith("/chat/completions"):
        return client.chat.completions.create
    if method == "POST" and path.endswith("/completions"):
        return client.completions.create
    if method == "POST" and path.endswith("/embeddings"):
        return client.embeddings.create
    if method == "POST" and path.endswith("/responses"):
        return client.responses.create
    raise AssertionError(f"no SDK method for {method} {path} in the conformance map")


def sdk_kwargs(method: Any, body: dict[str, Any]) -> dict[str, Any]:
    """The recorded JSON body as keyword arguments; fields the SDK method has no parameter for
    travel in extra_body, exactly as they were sent."""
    accepted = set(inspect.signature(method).parameters)
    kwargs = {k: v for k, v in body.items() if k in accepted}
    extra = {k: v for k, v in body.items() if k not in accepted}
    if extra:
        kwargs["extra_body"] = extra
    return kwargs


def recorded_response(interaction: RecordedInteraction) -> dict[str, Any]:
    """Model, id and service tier as recorded: the JSON body, or the stream's chunks/events."""
    if not interaction.is_sse:
        return interaction.response_json()
    found: dict[str, Any] = {}
    for event in interaction.sse_events():
        if event.data.startswith("[DONE]"):
            continue
        data = event.json()
        holder = data.get("response", data)
        for key in ("model", "id", "service_tier"):
            if holder.get(key):
                found.setdefault(key, holder[key])
    return found


def expected_usage(interaction: RecordedInteraction) -> dict[str, int] | None:
    usage = interaction.usage()
    if not usage:
        return None
    if "input_tokens" in usage:  # Responses API
        return responses_usage_of(usage)
    if "completion_tokens" in usage:  # chat / legacy completions
        return chat_usage_of(usage)
    return {"input_tokens": usage["prompt_tokens"]}  # embeddings


async def consume(result: Any) -> None:
    if hasattr(result, "__aiter__"):
        async for _ in result:
            pass
    elif hasattr(result, "__next__"):
        for _ in result:
            pass


async def test_recording(cassette: Path, span_exporter: Any) -> None:
    interactions = load_cassette(cassette)
    assert interactions, f"{cassette.name} has no interactions"
    is_async = cassette.name.startswith("test_async_")
    with StubProvider(cassette=cassette) as stub:
        client_type = openai.AsyncOpenAI if is_async else openai.OpenAI
        client = client_type(base_url=stub.base_url, api_key="test", max_retries=0)
        for interaction in interactions:
            span_exporter.clear()
            method = resource_method(client, interaction)
            kwargs = sdk_kwargs(method, interaction.request_body)

            if interaction.status >= 400:
                with pytest.raises(openai.APIStatusError) as raised:
                    result = method(**kwargs)
                    if inspect.isawaitable(result):
                        await result
                check_error_span(genai_spans(span_exporter), raised.value, interaction)
                continue

            result = method(**kwargs)
            if inspect.isawaitable(result):
                result = await result
            await consume(result)
            check_span(genai_spans(span_exporter), interaction, kwargs)
        assert stub.cassette is not None and stub.cassette.remaining == [], "calls were not replayed as recorded"


def check_error_span(spans: list[Any], error: openai.APIStatusError, interaction: RecordedInteraction) -> None:
    assert error.status_code == interaction.status
    assert len(spans) == 1, [s.name for s in spans]
    a = attrs(spans[0])
    assert a["error.type"] == f"openai.{type(error).__name__}"
    assert type(error) is not openai.APIStatusError  # the SDK's own class for that status
    assert "genai_cost.amount" not in a


def check_span(spans: list[Any], interaction: RecordedInteraction, kwargs: dict[str, Any]) -> None:
    assert len(spans) == 1, [s.name for s in spans]
    span = spans[0]
    a = attrs(span)
    recorded = recorded_response(interaction)
    assert span.name == f"{a['gen_ai.operation.name']} {kwargs['model']}"
    assert a["gen_ai.request.model"] == kwargs["model"]
    assert a["gen_ai.response.model"] == recorded["model"]
    if recorded.get("id"):
        assert a["gen_ai.response.id"] == recorded["id"]
    usage = expected_usage(interaction)
    if usage is None:
        # Recorded without usage (a stream that did not ask for it): estimated, and says so.
        assert interaction.is_sse
        assert a["genai_cost.status"] == "estimated", a.get("genai_cost.status.detail")
        assert a["gen_ai.usage.output_tokens"] > 0 and a["genai_cost.amount"] > 0
        return
    assert_usage(a, usage)
    assert a["genai_cost.status"] == "priced", a.get("genai_cost.status.detail")
    expected = oracle(recorded["model"], usage, tier=recorded.get("service_tier"))
    assert a["genai_cost.amount"] == pytest.approx(expected, abs=TOLERANCE)
