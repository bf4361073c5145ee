"""genai-cost instrumentation for the ``google-genai`` SDK (Gemini API and Vertex AI, sync and
async through ``client.aio``).

    from genai_cost.instrumentation.google_genai import GoogleGenAIInstrumentor

    GoogleGenAIInstrumentor().instrument(tracer_provider=provider)

Traced, one CLIENT span per HTTP request: ``models.generate_content`` (each automatic function
calling or continuation round trip is its own request and span), ``generate_content_stream``
(``gen_ai.request.stream``), ``embed_content``; chats go through the same methods. Provider
``gcp.gemini`` or ``gcp.vertex_ai`` from the client's ``vertexai`` flag.

Modules: ``request`` (provider, endpoint, request attributes, the budget estimate), ``response``
(usage, results, the stream observer), ``content`` (opt-in message content), ``wrappers`` (the
wrappers and the method list). Nothing here imports ``google.genai`` until ``instrument()``.
"""

from __future__ import annotations

from collections.abc import Sequence

from genai_cost.instrumentation.base import GenAIInstrumentor, Patch


class GoogleGenAIInstrumentor(GenAIInstrumentor):
    # 1.0 is the first stable release; every wrapped method exists from there on.
    instruments = ("google-genai >= 1.0.0",)
    sdk_module = "google.genai"

    def patches(self) -> Sequence[Patch]:
        from genai_cost.instrumentation.google_genai.wrappers import patches

        return patches()


__all__ = ["GoogleGenAIInstrumentor"]
