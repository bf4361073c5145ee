"""embed_content on the Gemini API (batchEmbedContents) and Vertex AI (embedContent,
batchEmbedContents, and predict for the older text-embedding models)."""

from __future__ import annotations

from importlib.metadata import version
from typing import Any

import pytest
from gemini_support import (
    assert_priced,
    attrs,
    client,
    gemini_client,
    instrumented,
    model_path,
    only_span,
    provider_of,
    vertex_client,
)
from google import genai
from google.genai import errors, types
from opentelemetry.trace import StatusCode
from packaging.version import Version

from genai_cost.testing import StubProvider

__all__ = ["client", "instrumented"]

MODEL = "gemini-embedding-001"

# Before google-genai 3.4.0 embed_content's response carries no usage and Vertex sends Gemini
# embeddings to :predict: such calls are reported no_usage (not free), and these tests do not apply.
EMBED_USAGE_REASON = "needs google-genai >= 3.4.0 (embed_content usage; Vertex Gemini embeddings via :embedContent)"
EMBED_USAGE = Version(version("google-genai")) >= Version("3.4.0")
needs_embed_usage = pytest.mark.skipif(not EMBED_USAGE, reason=EMBED_USAGE_REASON)


@needs_embed_usage
def test_embeddings_span_and_price(client: genai.Client, stub: StubProvider, span_exporter: Any) -> None:
    config = types.EmbedContentConfig(output_dimensionality=64)
    response = client.models.embed_content(
        model=MODEL, contents=["What is your name?", "What is your quest?"], config=config
    )
    assert [len(e.values or ()) for e in response.embeddings or ()] == [64, 64]
    assert stub.last_request.path.endswith(":batchEmbedContents")
    span = only_span(span_exporter)
    a = attrs(span)
    assert span.name == f"embeddings {MODEL}"
    assert a["gen_ai.operation.name"] == "embeddings"
    assert a["gen_ai.provider.name"] == provider_of(client)
    assert a["gen_ai.embeddings.dimension.count"] == 64
    sent = stub.last_request.response_body
    assert a["gen_ai.usage.input_tokens"] == sent["usageMetadata"]["promptTokenCount"]
    assert_priced(span, sent, MODEL)


@needs_embed_usage
def test_vertex_single_content_uses_embed_content(stub: StubProvider, span_exporter: Any) -> None:
    client = vertex_client(stub)
    client.models.embed_content(model=MODEL, contents="What is your name?")
    assert stub.last_request.path.endswith(":embedContent")
    span = only_span(span_exporter)
    assert_priced(span, stub.last_request.response_body, MODEL)


@needs_embed_usage
async def test_async_embeddings(client: genai.Client, stub: StubProvider, span_exporter: Any) -> None:
    await client.aio.models.embed_content(model=MODEL, contents=["a", "b", "c"])
    span = only_span(span_exporter)
    assert_priced(span, stub.last_request.response_body, MODEL)


def test_vertex_predict_counts_tokens_per_embedding(stub: StubProvider, span_exporter: Any) -> None:
    client = vertex_client(stub)
    client.models.embed_content(model="text-embedding-005", contents=["What is your name?", "What is your quest?"])
    assert stub.last_request.path.endswith(":predict")
    a = attrs(only_span(span_exporter))
    counts = [p["embeddings"]["statistics"]["token_count"] for p in stub.last_request.response_body["predictions"]]
    assert a["gen_ai.usage.input_tokens"] == sum(counts)
    # Vertex bills text-embedding-005 per character, which genai-prices does not list: unknown, not free.
    assert a["genai_cost.status"] == "unknown_model"
    assert "genai_cost.amount" not in a


def test_embeddings_without_usage_are_not_free(stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    stub.enqueue(model_path(client, MODEL, "batchEmbedContents"), json={"embeddings": [{"values": [0.1, 0.2]}]})
    client.models.embed_content(model=MODEL, contents="hi")
    a = attrs(only_span(span_exporter))
    assert a["genai_cost.status"] == "no_usage"
    assert "genai_cost.amount" not in a


@pytest.mark.parametrize(
    ("status", "error_class"), [(400, errors.ClientError), (429, errors.ClientError), (500, errors.ServerError)]
)
def test_embedding_errors(
    client: genai.Client, stub: StubProvider, span_exporter: Any, status: int, error_class: type
) -> None:
    if provider_of(client) == "gcp.vertex_ai" and not EMBED_USAGE:
        pytest.skip(EMBED_USAGE_REASON)
    method = "batchEmbedContents"
    stub.enqueue(model_path(client, MODEL, method), status=status)
    with pytest.raises(error_class) as caught:
        client.models.embed_content(model=MODEL, contents=["a", "b"])
    assert caught.value.code == status
    span = only_span(span_exporter)
    assert attrs(span)["error.type"] == f"google.genai.errors.{error_class.__name__}"
    assert span.status.status_code is StatusCode.ERROR
