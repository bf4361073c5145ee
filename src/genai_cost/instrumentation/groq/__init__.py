"""genai-cost instrumentation for the ``groq`` SDK (sync and async).

    from genai_cost.instrumentation.groq import GroqInstrumentor

    GroqInstrumentor().instrument(tracer_provider=provider)

Traced, one CLIENT span per call, ``gen_ai.provider.name=groq``: ``chat.completions.create``
(plain and ``stream=True``, usage from the last chunk's ``x_groq``) and ``embeddings.create``, each
also through ``with_raw_response``. (Groq's SDK has no legacy completions endpoint.)

OpenLLMetry's groq instrumentation may run beside this one: its spans of the same call are marked
``duplicate`` by the processor.

Groq's SDK is OpenAI-compatible: requests, responses and streams are read by ``_compatible``;
``streams`` reads what Groq's chunks add (``x_groq``), ``wrappers`` lists the methods. Nothing here
imports ``groq`` until ``instrument()``.
"""

from __future__ import annotations

from collections.abc import Sequence

from genai_cost.instrumentation.base import GenAIInstrumentor, Patch


class GroqInstrumentor(GenAIInstrumentor):
    # 0.9 is the first SDK whose chunks carry x_groq.usage as a typed field and whose
    # create() takes keyword arguments only, as the wrappers read them.
    instruments = ("groq >= 0.9.0",)

    def patches(self) -> Sequence[Patch]:
        from genai_cost.instrumentation.groq.wrappers import patches

        # BaseInstrumentor is a singleton per class; its flag tells a wrapper that outlived
        # uninstrument() (bound into a cached with_raw_response) to step aside.
        return patches(lambda: bool(self.is_instrumented_by_opentelemetry))


__all__ = ["GroqInstrumentor"]
