"""genai-cost instrumentation for the ``together`` SDK (2.x and later: sync and async).

    from genai_cost.instrumentation.together import TogetherInstrumentor

    TogetherInstrumentor().instrument(tracer_provider=provider)

Traced, one CLIENT span per call, ``gen_ai.provider.name=together``: ``chat.completions.create``
(``chat``), ``completions.create`` (``text_completion``), each plain and ``stream=True`` (usage from
the last chunk), and ``embeddings.create``, each also through ``with_raw_response``.

Together's SDK is OpenAI-compatible: requests, responses and streams are read by ``_compatible``;
``streams`` reads what Together's chunks add, ``wrappers`` lists the methods. Nothing here imports
``together`` until ``instrument()``.
"""

from __future__ import annotations

from collections.abc import Sequence

from genai_cost.instrumentation.base import GenAIInstrumentor, Patch


class TogetherInstrumentor(GenAIInstrumentor):
    # 2.0 is the first Stainless-generated SDK (resources.chat.completions.CompletionsResource).
    instruments = ("together >= 2.0",)

    def patches(self) -> Sequence[Patch]:
        from genai_cost.instrumentation.together.wrappers import patches

        return patches(lambda: bool(self.is_instrumented_by_opentelemetry))


__all__ = ["TogetherInstrumentor"]
