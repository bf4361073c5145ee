"""genai-cost instrumentation for the ``cohere`` SDK (v1 and v2 clients, sync and async).

    from genai_cost.instrumentation.cohere import CohereInstrumentor

    CohereInstrumentor().instrument(tracer_provider=provider)

Traced, one CLIENT span per call, ``gen_ai.provider.name=cohere``: ``ClientV2.chat`` / ``parse`` /
``chat_stream`` / ``embed`` / ``rerank`` and the v1 ``Client.chat`` / ``chat_stream`` /
``generate`` (``text_completion``) / ``generate_stream`` / ``embed`` / ``rerank``, and their
``Async`` twins. Usage is what Cohere bills (``billed_units``); rerank is billed per search unit
(``cohere.usage.search_units``), priced where genai-prices or a custom price (``per_search_unit``)
knows a price per search, otherwise ``unknown_model``: never $0.

OpenLLMetry's cohere instrumentation may run beside this one: its spans of the same call are
marked ``duplicate`` by the processor.

Modules: ``request`` (endpoint and request attributes, opt-in prompt), ``response`` (usage and
results), ``streams`` (the v1/v2 stream observer), ``wrappers`` (the wrappers and the method list).
Nothing here imports ``cohere`` until ``instrument()``.
"""

from __future__ import annotations

from collections.abc import Sequence

from genai_cost.instrumentation.base import GenAIInstrumentor, Patch


class CohereInstrumentor(GenAIInstrumentor):
    # 5.9 is the first SDK with the v2 client (cohere.v2.client.V2Client) beside v1.
    instruments = ("cohere >= 5.9",)

    def patches(self) -> Sequence[Patch]:
        from genai_cost.instrumentation.cohere.wrappers import patches

        return patches(lambda: bool(self.is_instrumented_by_opentelemetry))


__all__ = ["CohereInstrumentor"]
