"""The instrumentor: registered for opentelemetry-instrument, reversible, and what it wraps."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from gemini_support import PROMPT, gemini_client, genai_spans, instrument, instrumented
from google.genai import models

from genai_cost.instrumentation.google_genai import GoogleGenAIInstrumentor
from genai_cost.testing import StubProvider

__all__ = ["instrumented"]


def test_registered_as_its_own_entry_point() -> None:
    (entry_point,) = [
        e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "genai_cost_google_genai"
    ]
    assert entry_point.load() is GoogleGenAIInstrumentor
    assert GoogleGenAIInstrumentor().instrumentation_dependencies() == ("google-genai >= 1.0.0",)


def test_wraps_the_per_request_methods_sync_and_async() -> None:
    for owner in (models.Models, models.AsyncModels):
        for name in ("_generate_content", "_generate_content_stream", "embed_content"):
            assert hasattr(getattr(owner, name), "__wrapped__"), f"{owner.__name__}.{name}"
        assert not hasattr(owner.generate_content, "__wrapped__")  # its requests are spanned below it


def test_uninstrument_restores_the_bare_sdk(stub: StubProvider, span_exporter: Any) -> None:
    client = gemini_client(stub)
    GoogleGenAIInstrumentor().uninstrument()
    try:
        assert not hasattr(models.Models._generate_content, "__wrapped__")
        client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
        list(client.models.generate_content_stream(model="gemini-2.0-flash", contents=PROMPT))
        client.models.embed_content(model="gemini-embedding-001", contents="hi")
        assert genai_spans(span_exporter) == []
    finally:
        instrument()
    client.models.generate_content(model="gemini-2.0-flash", contents=PROMPT)
    assert len(genai_spans(span_exporter)) == 1
