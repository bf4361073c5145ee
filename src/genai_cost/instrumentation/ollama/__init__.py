"""genai-cost instrumentation for the ``ollama`` SDK (0.6+; ``Client``, ``AsyncClient`` and the
module-level ``ollama.chat`` & co.).

    from genai_cost.instrumentation.ollama import OllamaInstrumentor

    OllamaInstrumentor().instrument(tracer_provider=provider)

Traced, one CLIENT span per call: ``chat`` and ``generate`` (plain and ``stream=True``), ``embed``
and the older ``embeddings``, with ``gen_ai.provider.name=ollama`` and the server the client talks
to. Usage is Ollama's ``prompt_eval_count`` / ``eval_count``. Local models have no list price: a
call is ``unknown_model`` unless ``pricing.custom_models`` prices it, per token or per GPU-hour
(``docs/self-hosted-pricing.md``).

Modules: ``request`` (server, arguments, request attributes), ``response`` (usage and results),
``streams`` (the NDJSON chunk observer), ``wrappers`` (the wrappers and the method list). Nothing
here imports ``ollama``: the patches apply when the application imports it.
"""

from __future__ import annotations

from collections.abc import Sequence

from genai_cost.instrumentation.base import GenAIInstrumentor, Patch


class OllamaInstrumentor(GenAIInstrumentor):
    # 0.6: Client.embed with dimensions, pydantic response models throughout.
    instruments = ("ollama >= 0.6",)

    def patches(self) -> Sequence[Patch]:
        from genai_cost.instrumentation.ollama.wrappers import patches

        # A wrapper bound into a client method that outlived uninstrument() steps aside.
        def enabled() -> bool:
            return bool(self.is_instrumented_by_opentelemetry)

        return patches(enabled)


__all__ = ["OllamaInstrumentor"]
