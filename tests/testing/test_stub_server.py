"""The provider stand-in, exercised with the real openai and anthropic SDKs over HTTP.

Every client is built with max_retries=0: the SDKs retry 429/5xx and dropped connections,
which would hide scripted failures behind a default success.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anthropic
import httpx2
import openai
import pytest

import genai_cost.testing.stub_server as stub_module
from genai_cost.testing import CassetteReplayer, StubProvider

RECORDINGS = Path(__file__).resolve().parents[2] / ".." / "shared" / "recordings"
CASSETTES = RECORDINGS / "openai-v2"
MESSAGES = [{"role": "user", "content": "Say this is a test"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture
def stub() -> Iterator[StubProvider]:
    with StubProvider() as provider:
        yield provider


@pytest.fixture
def oai(stub: StubProvider) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=stub.base_url, api_key="test-key", max_retries=0) as client:
        yield client


@pytest.fixture
def claude(stub: StubProvider) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=stub.url, api_key="test-key", max_retries=0) as client:
        yield client


# --- OpenAI chat completions -----------------------------------------------------------------


def test_chat_completion_reports_snapshot_model_and_full_usage(stub: StubProvider, oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)

    assert completion.id == "chatcmpl-stub-1"
    assert completion.model == "gpt-4o-mini-2024-07-18"
    assert completion.choices[0].message.content == "This is a test."
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage is not None and usage.completion_tokens == 4
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details and usage.completion_tokens_details.reasoning_tokens == 0

    sent = stub.last_request
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.body == {"model": "gpt-4o-mini", "messages": MESSAGES}
    assert sent.headers["authorization"] == "Bearer test-key"
    assert sent.response_status == 200 and sent.response_body["usage"] == usage.model_dump(exclude_none=True)


def test_responses_are_deterministic(oai: openai.OpenAI) -> None:
    first = oai.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    with StubProvider() as other, openai.OpenAI(base_url=other.base_url, api_key="k", max_retries=0) as client:
        second = client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    assert first.model_dump() == second.model_dump()


def test_chat_stream_without_include_usage_sends_no_usage_chunk(stub: StubProvider, oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True))

    assert "stream_options" not in stub.last_request.body
    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "This is a test."


def test_chat_stream_with_include_usage_ends_with_usage_only_chunk(stub: StubProvider, oai: openai.OpenAI) -> None:
    expected = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).usage

    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )

    assert stub.last_request.body["stream_options"] == {"include_usage": True}
    assert chunks[-1].choices == [] and chunks[-1].usage == expected
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert chunks[0].model == "gpt-4o-mini-2024-07-18"


def test_chat_honours_n_and_tools(oai: openai.OpenAI) -> None:
    several = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, n=3)
    assert [choice.index for choice in several.choices] == [0, 1, 2]
    assert several.usage and several.usage.completion_tokens == 3 * 4

    called = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, tools=[WEATHER_TOOL])
    call = called.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert called.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city": "stub"}')  # type: ignore[union-attr]

    declined = oai.chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES, tools=[WEATHER_TOOL], tool_choice="none"
    )
    assert declined.choices[0].message.tool_calls is None

    answered = oai.chat.completions.create(
        model="gpt-4o-mini",
        tools=[WEATHER_TOOL],
        messages=[
            *MESSAGES,
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
    )
    assert answered.choices[0].message.content == "This is a test."


def test_chat_tool_call_stream_accumulates_in_sdk_helper(oai: openai.OpenAI) -> None:
    with oai.chat.completions.stream(model="gpt-4o-mini", messages=MESSAGES, tools=[WEATHER_TOOL]) as stream:
        for _ in stream:
            pass
        final = stream.get_final_completion()
    assert final.choices[0].message.tool_calls[0].function.arguments == '{"city": "stub"}'  # type: ignore[index]


def test_reasoning_models_bill_reasoning_as_output(oai: openai.OpenAI) -> None:
    usage = oai.chat.completions.create(model="o4-mini", messages=MESSAGES).usage
    assert usage and usage.completion_tokens_details
    assert usage.completion_tokens_details.reasoning_tokens == stub_module.REASONING_TOKENS
    assert usage.completion_tokens == 4 + stub_module.REASONING_TOKENS


def test_enqueued_usage_is_merged_and_total_recomputed(stub: StubProvider, oai: openai.OpenAI) -> None:
    stub.enqueue(
        "/v1/chat/completions", usage={"prompt_tokens": 2000, "prompt_tokens_details": {"cached_tokens": 1536}}
    )
    usage = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).usage

    assert usage and (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2000, 4, 2004)
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 1536
    assert usage.prompt_tokens_details.audio_tokens == 0  # untouched defaults survive the merge


def test_enqueued_usage_reaches_the_stream_usage_chunk(stub: StubProvider, oai: openai.OpenAI) -> None:
    stub.enqueue(
        "/v1/chat/completions",
        usage={"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30},
        text="Hi there",
    )
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Hi there"
    assert chunks[-1].usage and chunks[-1].usage.total_tokens == 30


def test_max_tokens_truncates_with_length_finish(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_completion_tokens=2)
    assert completion.choices[0].finish_reason == "length"
    assert completion.choices[0].message.content == "This is"


# --- OpenAI Responses, embeddings, legacy completions ----------------------------------------


def test_responses_create_and_retrieve(oai: openai.OpenAI) -> None:
    response = oai.responses.create(model="gpt-4o-mini", input="Say this is a test", instructions="Be brief.")

    assert (response.id, response.model, response.status) == ("resp_stub_1", "gpt-4o-mini-2024-07-18", "completed")
    assert response.output_text == "This is a test."
    assert response.usage and response.usage.output_tokens == 4
    assert response.usage.total_tokens == response.usage.input_tokens + 4
    assert response.usage.input_tokens_details.cached_tokens == 0
    assert oai.responses.retrieve(response.id).model_dump() == response.model_dump()
    with pytest.raises(openai.NotFoundError):
        oai.responses.retrieve("resp_unknown")


def test_responses_stream_follows_the_real_event_sequence(stub: StubProvider, oai: openai.OpenAI) -> None:
    events = list(oai.responses.create(model="gpt-4o-mini", input="Say this is a test", stream=True))

    assert [e.type for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        *["response.output_text.delta"] * 4,
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    completed = events[-1]
    assert completed.type == "response.completed" and completed.response.usage is not None
    assert completed.response.usage.output_tokens == 4
    assert stub.last_request.response_body[-1]["type"] == "response.completed"


def test_embeddings_sdk_asks_for_base64_and_decodes_it(stub: StubProvider, oai: openai.OpenAI) -> None:
    default = oai.embeddings.create(model="text-embedding-3-small", input=["a", "bb"])
    assert stub.last_request.body["encoding_format"] == "base64"  # the SDK adds it
    wire = stub.last_request.response_body["data"][0]["embedding"]
    assert isinstance(wire, str) and len(base64.b64decode(wire)) == 1536 * 4

    floats = oai.embeddings.create(model="text-embedding-3-small", input=["a", "bb"], encoding_format="float")
    assert stub.last_request.body["encoding_format"] == "float"
    assert [d.embedding for d in default.data] == [d.embedding for d in floats.data]
    assert default.usage.prompt_tokens == default.usage.total_tokens == 2

    explicit = oai.embeddings.create(model="text-embedding-3-large", input="a", encoding_format="base64", dimensions=8)
    raw = explicit.data[0].embedding
    assert isinstance(raw, str)  # asked for explicitly, so the SDK leaves it encoded
    assert len(struct.unpack("<8f", base64.b64decode(raw))) == 8


def test_legacy_completions_json_and_stream(oai: openai.OpenAI) -> None:
    completion = oai.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say this is a test")
    assert (
        completion.choices[0].text == "This is a test." and completion.usage and completion.usage.completion_tokens == 4
    )

    chunks = list(
        oai.completions.create(
            model="gpt-3.5-turbo-instruct",
            prompt="Say this is a test",
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage == completion.usage


async def test_async_client_streams(stub: StubProvider) -> None:
    async with openai.AsyncOpenAI(base_url=stub.base_url, api_key="k", max_retries=0) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
        chunks = [chunk async for chunk in stream]
    assert chunks[-1].usage and chunks[-1].usage.completion_tokens == 4


# --- Anthropic messages ----------------------------------------------------------------------


def test_anthropic_message_usage_and_headers(stub: StubProvider, claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES)

    assert (message.id, message.model, message.stop_reason) == ("msg_stub_1", "claude-haiku-4-5-20251001", "end_turn")
    assert message.content[0].type == "text" and message.content[0].text == "This is a test."
    assert message.usage.output_tokens == 4
    assert message.usage.cache_read_input_tokens == 0 and message.usage.cache_creation_input_tokens == 0
    assert message.usage.cache_creation and message.usage.cache_creation.ephemeral_1h_input_tokens == 0
    assert stub.last_request.path == "/v1/messages"
    assert "anthropic-version" in stub.last_request.headers


def test_anthropic_stream_event_sequence_and_final_usage(stub: StubProvider, claude: anthropic.Anthropic) -> None:
    with claude.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES) as stream:
        for _ in stream:
            pass
        final = stream.get_final_message()

    sent = [event["type"] for event in stub.last_request.response_body]
    assert sent == [
        "message_start",
        "content_block_start",
        "ping",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert stub.last_request.response_body[0]["message"]["usage"]["output_tokens"] == 1
    assert final.usage.output_tokens == 4 and final.content[0].text == "This is a test."  # type: ignore[union-attr]


def test_anthropic_tools_thinking_and_forced_usage(stub: StubProvider, claude: anthropic.Anthropic) -> None:
    tool = {"name": "get_weather", "input_schema": WEATHER_TOOL["function"]["parameters"]}  # type: ignore[index]
    used = claude.messages.create(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES, tools=[tool])  # type: ignore[list-item]
    assert used.stop_reason == "tool_use" and used.content[-1].type == "tool_use"
    assert used.content[-1].input == {"city": "stub"}  # type: ignore[union-attr]

    thought = claude.messages.create(
        model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES, thinking={"type": "enabled", "budget_tokens": 1024}
    )
    assert [block.type for block in thought.content] == ["thinking", "text"]

    stub.enqueue(
        "/v1/messages", usage={"input_tokens": 5, "cache_read_input_tokens": 4000, "cache_creation_input_tokens": 100}
    )
    with claude.messages.stream(model="claude-haiku-4-5", max_tokens=100, messages=MESSAGES) as stream:
        usage = stream.get_final_message().usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (5, 4000, 100)


# --- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
    ],
)
def test_openai_errors_raise_sdk_classes(
    stub: StubProvider, oai: openai.OpenAI, status: int, exception: type[Exception]
) -> None:
    stub.enqueue("/v1/chat/completions", status=status, headers={"retry-after": "1"})
    with pytest.raises(exception) as raised:
        oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert raised.value.body["type"]  # type: ignore[attr-defined]
    assert raised.value.response.headers["retry-after"] == "1"  # type: ignore[attr-defined]
    # Only the next call was scripted: the one after gets the default answer again.
    assert oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).choices


@pytest.mark.parametrize(
    ("status", "exception"),
    [(404, anthropic.NotFoundError), (429, anthropic.RateLimitError), (529, anthropic.OverloadedError)],
)
def test_anthropic_errors_raise_sdk_classes(
    stub: StubProvider, claude: anthropic.Anthropic, status: int, exception: type[Exception]
) -> None:
    stub.enqueue("/v1/messages", status=status)
    with pytest.raises(exception) as raised:
        claude.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES)
    assert raised.value.body["type"] == "error"  # type: ignore[attr-defined]


def test_scripted_json_is_sent_verbatim(stub: StubProvider, oai: openai.OpenAI) -> None:
    error = {
        "error": {
            "message": "You exceeded your current quota",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    stub.enqueue("/v1/embeddings", status=429, json=error)
    with pytest.raises(openai.RateLimitError) as raised:
        oai.embeddings.create(model="text-embedding-3-small", input="x")
    assert raised.value.code == "insufficient_quota"


def test_fail_after_events_breaks_an_openai_stream_mid_iteration(stub: StubProvider, oai: openai.OpenAI) -> None:
    stub.enqueue("/v1/chat/completions", fail_after_events=3)
    received = []
    # openai 3.0 lets the transport error through unwrapped while iterating; later releases wrap it.
    with pytest.raises((openai.APIConnectionError, httpx2.TransportError)):
        for chunk in oai.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True):
            received.append(chunk)
    assert len(received) == 3


def test_fail_after_events_breaks_an_anthropic_stream(stub: StubProvider, claude: anthropic.Anthropic) -> None:
    stub.enqueue("/v1/messages", fail_after_events=4)  # start, block start, ping, one delta
    received = []
    # anthropic 2.x lets the transport error through unwrapped while iterating.
    with pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)):
        for event in claude.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES, stream=True):
            received.append(event.type)
    assert received == ["message_start", "content_block_start", "content_block_delta"]


def test_scripted_sse_events_are_framed_per_provider(stub: StubProvider, claude: anthropic.Anthropic) -> None:
    stub.enqueue(
        "/v1/messages",
        sse_events=[
            {
                "type": "message_start",
                "message": {
                    "id": "msg_x",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-haiku-4-5",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {"input_tokens": 7, "output_tokens": 1},
                },
            },
            {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}},
        ],
    )
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        for _ in claude.messages.create(model="claude-haiku-4-5", max_tokens=10, messages=MESSAGES, stream=True):
            pass


async def test_async_openai_stream_drop(stub: StubProvider) -> None:
    stub.enqueue("/v1/chat/completions", fail_after_events=1)
    async with openai.AsyncOpenAI(base_url=stub.base_url, api_key="k", max_retries=0) as client:
        stream = await client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        with pytest.raises((openai.APIConnectionError, httpx2.TransportError)):
            async for _ in stream:
                pass


def test_delay_triggers_the_client_timeout(stub: StubProvider) -> None:
    stub.enqueue("/v1/chat/completions", delay_s=1.0)
    client = openai.OpenAI(base_url=stub.base_url, api_key="k", max_retries=0, timeout=0.2)
    with client, pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)


def test_unknown_path_is_a_provider_shaped_404(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError, match="Invalid URL"):
        oai.get("/nothing-here", cast_to=object)


# --- cassette replay -------------------------------------------------------------------------


def _cassette(name: str) -> Path:
    path = CASSETTES / name
    if not path.is_file():
        pytest.skip(f"recordings not available at {CASSETTES}")
    return path


def test_cassette_stream_replays_recorded_usage() -> None:
    replayer = CassetteReplayer(_cassette("test_chat_completion_streaming.yaml"))
    recorded = replayer.interactions[0]
    assert recorded.is_sse and recorded.request_body["stream_options"] == {"include_usage": True}

    with (
        StubProvider(cassette=replayer) as stub,
        openai.OpenAI(base_url=stub.base_url, api_key="k", max_retries=0) as client,
    ):
        chunks = list(client.chat.completions.create(**recorded.request_body))
        with pytest.raises(openai.InternalServerError, match="no unplayed interaction"):
            client.chat.completions.create(**recorded.request_body)

    assert chunks[-1].usage and chunks[-1].usage.model_dump(exclude_none=True) == recorded.usage()
    assert chunks[0].model == "gpt-4-0613"
    assert replayer.remaining == []


def test_cassette_error_and_responses_replay() -> None:
    not_found = CassetteReplayer(_cassette("test_chat_completion_404.yaml"))
    streamed = CassetteReplayer(_cassette("test_responses_create_streaming[content_mode0].yaml"))
    with (
        StubProvider(cassette=not_found) as stub,
        openai.OpenAI(base_url=stub.base_url, api_key="k", max_retries=0) as client,
        pytest.raises(openai.NotFoundError) as raised,
    ):
        client.chat.completions.create(**not_found.interactions[0].request_body)
    assert raised.value.code == "model_not_found"
    assert "content-length" not in {k.lower() for k, _ in not_found.interactions[0].response_headers}

    with (
        StubProvider(cassette=streamed) as stub,
        openai.OpenAI(base_url=stub.base_url, api_key="k", max_retries=0) as client,
    ):
        events = list(client.responses.create(**streamed.interactions[0].request_body))
    assert events[-1].type == "response.completed"
    assert events[-1].response.usage.model_dump(exclude_none=True) == streamed.interactions[0].usage()  # type: ignore[union-attr]


def test_cassette_gzip_body_is_decoded_and_not_reencoded(tmp_path: Path) -> None:
    import yaml  # a core dependency: never skipped

    document = {
        "object": "list",
        "data": [],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 3, "total_tokens": 3},
    }
    recorded = {
        "version": 1,
        "interactions": [
            {
                "request": {
                    "method": "POST",
                    "uri": "https://api.openai.com/v1/embeddings",
                    "body": "{}",
                    "headers": {},
                },
                "response": {
                    "status": {"code": 200, "message": "OK"},
                    "headers": {
                        "Content-Type": ["application/json"],
                        "Content-Encoding": ["gzip"],
                        "Content-Length": ["99"],
                    },
                    "body": {"string": gzip.compress(json.dumps(document).encode())},  # dumped as !!binary
                },
            }
        ],
    }
    cassette = tmp_path / "gzip.yaml"
    cassette.write_text(yaml.safe_dump(recorded))

    replayer = CassetteReplayer(cassette)
    assert replayer.interactions[0].usage() == {"prompt_tokens": 3, "total_tokens": 3}
    with (
        StubProvider(cassette=replayer) as stub,
        openai.OpenAI(base_url=stub.base_url, api_key="k", max_retries=0) as client,
    ):
        raw = client.embeddings.with_raw_response.create(
            model="text-embedding-3-small", input="abc", encoding_format="float"
        )
    assert "content-encoding" not in raw.headers
    assert raw.parse().usage.total_tokens == 3


# --- command line ----------------------------------------------------------------------------


def test_module_entry_prints_base_url_first() -> None:
    src = str(Path(stub_module.__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH")) if p)}
    process = subprocess.Popen(
        [sys.executable, "-m", "genai_cost.testing.stub_server", "--port", "0", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        with openai.OpenAI(base_url=base_url, api_key="k", max_retries=0) as client:
            assert client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES).id == "chatcmpl-stub-1"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert "RuntimeWarning" not in stderr
