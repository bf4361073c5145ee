"""genai-cost instrumentation for the ``openai`` SDK (sync and async, OpenAI and Azure clients,
and OpenAI-compatible servers reached through ``base_url``).

    from genai_cost.instrumentation.openai import OpenAIInstrumentor

    OpenAIInstrumentor().instrument(tracer_provider=provider)

Traced, one CLIENT span per call: ``chat.completions.create`` / ``parse`` / ``stream()``,
``responses.create`` / ``parse`` / ``stream()`` / ``retrieve`` (a ``fetch_response`` span, not
priced), ``embeddings.create``, legacy ``completions.create``, each also through
``with_raw_response`` and ``with_streaming_response``.

Modules: ``request`` (provider, endpoint and request attributes), ``response`` (usage and results),
``streams`` (stream observers), ``content`` (opt-in message content), ``raw`` (raw responses),
``helpers`` (the ``.stream()`` managers), ``wrappers`` (the wrappers and the method list). Nothing
here imports ``openai`` until ``instrument()``: under ``opentelemetry-instrument`` this module is
loaded before the dependency check.
"""

from __future__ import annotations

from collections.abc import Sequence

from genai_cost.instrumentation.base import GenAIInstrumentor, Patch


class OpenAIInstrumentor(GenAIInstrumentor):
    # 1.26.0 is the first SDK whose create() takes stream_options, which streamed chat usage
    # needs; every other wrapped method is skipped by versions that lack it.
    instruments = ("openai >= 1.26.0",)
    sdk_module = "openai"

    def patches(self) -> Sequence[Patch]:
        from genai_cost.instrumentation.openai.wrappers import patches

        # BaseInstrumentor is a singleton per class; its flag tells a wrapper that outlived
        # uninstrument() (bound into a cached with_raw_response) to step aside.
        return patches(lambda: bool(self.is_instrumented_by_opentelemetry))


__all__ = ["OpenAIInstrumentor"]
