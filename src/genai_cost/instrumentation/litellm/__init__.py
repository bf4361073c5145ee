"""genai-cost instrumentation for LiteLLM (1.110+): ``litellm.completion`` / ``acompletion``
(plain and ``stream=True``) and ``litellm.embedding`` / ``aembedding``.

    from genai_cost.instrumentation.litellm import LiteLLMInstrumentor

    LiteLLMInstrumentor().instrument(tracer_provider=provider)

One CLIENT span per call, with the ``gen_ai.provider.name`` of the provider LiteLLM routed it to
and the model that provider sees, priced by our engine from LiteLLM's normalised usage; LiteLLM's
own ``response_cost`` is recorded beside it (``litellm.response_cost``) for comparison. A provider
SDK span under it (LiteLLM drives the openai SDK for OpenAI-compatible routes) is marked
``duplicate`` of it, so a trace's total counts each call once.

LiteLLM takes about a second to import: nothing here imports it. The patches apply when the
application imports ``litellm`` (post-import hook).

Modules: ``request`` (routing, arguments, request attributes), ``response`` (usage, LiteLLM's
cost, results), ``streams`` (the chunk observer), ``wrappers`` (the wrappers and the list).
"""

from __future__ import annotations

from collections.abc import Sequence

from genai_cost.instrumentation.base import GenAIInstrumentor, Patch


class LiteLLMInstrumentor(GenAIInstrumentor):
    # Never 1.82.7 / 1.82.8 (withdrawn); 1.110 is the oldest release tested.
    instruments = ("litellm >= 1.110, != 1.82.7, != 1.82.8",)

    def patches(self) -> Sequence[Patch]:
        from genai_cost.instrumentation.litellm.wrappers import patches

        def enabled() -> bool:
            return bool(self.is_instrumented_by_opentelemetry)

        return patches(enabled)


__all__ = ["LiteLLMInstrumentor"]
