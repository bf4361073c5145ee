"""genai-cost instrumentation for the ``anthropic`` SDK (2.x; sync and async; the Anthropic,
``AnthropicBedrock`` and ``AnthropicVertex`` clients).

    from genai_cost.instrumentation.anthropic import AnthropicInstrumentor

    AnthropicInstrumentor().instrument(tracer_provider=provider)

Traced, one CLIENT span per call: ``messages.create`` (plain and ``stream=True``), ``messages.parse``,
the ``messages.stream()`` helper (however it is read), and ``messages.count_tokens`` (a
``count_tokens`` span that bills nothing), each also on ``beta.messages``. Calls through the Bedrock
and Vertex clients report ``aws.bedrock`` / ``gcp.vertex_ai`` and are priced by the model id the
request named (inference profile, ``@`` version).

anthropic's own tracing is kept and marked ``duplicate`` by default, or switched off with
``sdk_tracing="off"`` / ``GENAI_COST_ANTHROPIC_SDK_TRACING=off`` (see ``sdk_tracing``).

Modules: ``request`` (provider, endpoint, request attributes), ``response`` (usage and results),
``streams`` (the event-stream observer), ``wrappers`` (the wrappers and the method list),
``sdk_tracing``. Nothing here imports ``anthropic`` until ``instrument()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from genai_cost.instrumentation.base import GenAIInstrumentor, Patch


class AnthropicInstrumentor(GenAIInstrumentor):
    # 2.x: the stream helpers read their events through MessageStream._raw_stream.
    instruments = ("anthropic >= 2.0",)
    sdk_module = "anthropic"

    def _instrument(self, **kwargs: Any) -> None:
        from genai_cost.instrumentation.anthropic.sdk_tracing import sdk_tracing_mode

        self._sdk_tracing = sdk_tracing_mode(kwargs.get("sdk_tracing"))
        super()._instrument(**kwargs)

    def patches(self) -> Sequence[Patch]:
        from genai_cost.instrumentation.anthropic.sdk_tracing import OFF, tracer_off_patch
        from genai_cost.instrumentation.anthropic.wrappers import patches

        # BaseInstrumentor is a singleton per class; its flag tells a wrapper that outlived
        # uninstrument() (bound into a cached with_raw_response) to step aside.
        def enabled() -> bool:
            return bool(self.is_instrumented_by_opentelemetry)

        out = patches(enabled)
        if getattr(self, "_sdk_tracing", None) == OFF:
            out.append(tracer_off_patch(enabled))
        return out


__all__ = ["AnthropicInstrumentor"]
