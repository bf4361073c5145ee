"""genai-cost instrumentation for the ``mistralai`` SDK (1.9.3 to 3.x; sync and async).

    from genai_cost.instrumentation.mistral import MistralInstrumentor

    MistralInstrumentor().instrument(tracer_provider=provider)

Traced, one CLIENT span per call, ``gen_ai.provider.name=mistral_ai``: ``chat.complete`` /
``stream`` (and ``parse`` / ``parse_stream`` through them), ``fim.complete`` / ``stream``
(``text_completion``), ``agents.complete`` / ``stream`` (``invoke_agent``, priced by the model the
agent answered with), ``embeddings.create``, each with its ``_async`` twin.

mistralai 3.x's own tracing (``configure_telemetry``) and OpenLLMetry's mistralai instrumentation
may run beside this one: their spans of the same call are marked ``duplicate`` by the processor.

Modules: ``request`` (endpoint and request attributes), ``response`` (usage and results),
``streams`` (the stream observer), ``content`` (opt-in message content), ``wrappers`` (the
wrappers and the method list). Nothing here imports ``mistralai`` until ``instrument()``.
"""

from __future__ import annotations

from collections.abc import Sequence

from genai_cost.instrumentation.base import GenAIInstrumentor, Patch


class MistralInstrumentor(GenAIInstrumentor):
    # 1.9.3 is the first SDK that keeps usage fields it does not model (extra="allow"): earlier
    # ones drop prompt_tokens_details, so a prompt-cache hit would be priced as uncached input.
    instruments = ("mistralai >= 1.9.3",)

    @property
    def sdk_module(self) -> str:  # type: ignore[override]
        """The module whose import means the app uses the SDK (patches wait for it, see ``base``).
        From 2.0 ``mistralai`` is a namespace package, whose import fires no post-import hook:
        the client lives in ``mistralai.client``. Read from metadata: nothing is imported."""
        from importlib.metadata import version

        try:
            major = int(version("mistralai").split(".", 1)[0])
        except Exception:  # absent or unreadable: the instrumentor stands down anyway
            major = 1
        return "mistralai" if major < 2 else "mistralai.client"

    def patches(self) -> Sequence[Patch]:
        from genai_cost.instrumentation.mistral.wrappers import patches

        # BaseInstrumentor is a singleton per class; its flag tells a wrapper that outlived
        # uninstrument() to step aside.
        return patches(lambda: bool(self.is_instrumented_by_opentelemetry))


__all__ = ["MistralInstrumentor"]
