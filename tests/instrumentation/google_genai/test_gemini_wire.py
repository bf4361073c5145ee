"""The stub's Gemini wire format, checked against what the google-genai SDK accepts and raises."""

from __future__ import annotations

from typing import Any

import pytest
from gemini_support import PROMPT, gemini_client, vertex_client
from google.genai import errors

from genai_cost.testing import StubProvider
from genai_cost.testing.gemini_wire import gemini_error


@pytest.fixture
def stub() -> Any:
    with StubProvider() as provider:
        yield provider


def test_paths_of_both_apis_are_served(stub: StubProvider) -> None:
    gemini, vertex = gemini_client(stub), vertex_client(stub)  # held: a collected Client closes its HTTP client
    gemini.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
    assert stub.last_request.path == "/v1beta/models/gemini-2.0-flash:generateContent"
    vertex.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
    path = "/v1/projects/fake-project/locations/us-central1/publishers/google/models/gemini-2.0-flash:generateContent"
    assert stub.last_request.path == path
    assert stub.last_request.headers["authorization"] == "Bearer test-oauth-token"


def test_stream_usage_is_cumulative_and_the_last_event_is_final(stub: StubProvider) -> None:
    client = gemini_client(stub)
    chunks = list(client.models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT))
    sent = stub.last_request.response_body
    assert stub.last_request.query == {"alt": ["sse"]}
    assert len(chunks) == len(sent) == 4
    counts = [e["usageMetadata"]["candidatesTokenCount"] for e in sent]
    assert counts == sorted(counts) and counts[-1] == 4
    assert [e["candidates"][0].get("finishReason") for e in sent] == [None, None, None, "STOP"]


def test_forced_usage_is_merged_and_the_total_recomputed(stub: StubProvider) -> None:
    client = gemini_client(stub)
    stub.enqueue(
        "/v1beta/models/gemini-2.5-pro:generateContent", usage={"promptTokenCount": 100, "toolUsePromptTokenCount": 5}
    )
    response = client.models.generate_content(model="gemini-2.5-pro", contents=PROMPT)
    usage = response.usage_metadata
    assert usage is not None and usage.prompt_token_count == 100
    assert usage.total_token_count == 100 + 5 + (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)


def test_thinking_off_reports_no_thoughts(stub: StubProvider) -> None:
    config = {"thinking_config": {"thinking_budget": 0}}
    client = gemini_client(stub)
    response = client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT, config=config)
    assert response.usage_metadata is not None and response.usage_metadata.thoughts_token_count is None


@pytest.mark.parametrize(
    ("status", "rpc_status"), [(400, "INVALID_ARGUMENT"), (429, "RESOURCE_EXHAUSTED"), (503, "UNAVAILABLE")]
)
def test_errors_are_googles_shape(stub: StubProvider, status: int, rpc_status: str) -> None:
    client = gemini_client(stub)
    stub.enqueue("/v1beta/models/gemini-2.0-flash:generateContent", status=status)
    with pytest.raises(errors.APIError) as caught:
        client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
    assert caught.value.code == status and caught.value.status == rpc_status
    assert stub.last_request.response_body == gemini_error(status)
