"""The LiteLLM bench's declarations (``bench/harness/provider.py`` does the rest); as a script, one
measurement in one fresh process (``run.py`` drives it).

``litellm.completion("openai/gpt-4o-mini")`` over the OpenAI bench's in-process transport
(``bench/openai_overhead/mock_openai.py``, handed to LiteLLM as its ``client``), ``stream=True``
read to the end. Peer: LiteLLM's own OpenTelemetry callback (``litellm.integrations.opentelemetry``),
switched by LiteLLM's callback list rather than patches. OpenLLMetry has no LiteLLM
instrumentation; OpenLIT's has no row (not measured).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent / "openai_overhead")]

from harness.provider import Bench, Calls, genai_cost, main, mock_client  # noqa: E402
from harness.workload import ANSWER  # noqa: E402

MODEL = "openai/gpt-4o-mini"


class _Callbacks:
    """Switches LiteLLM's callback list the way PatchToggle switches patches."""

    def __init__(self, callbacks: list) -> None:
        self.callbacks = callbacks
        self.changes = callbacks  # what the harness counts as "patches"

    def set(self, instrumented: bool) -> None:
        import litellm

        litellm.callbacks = list(self.callbacks) if instrumented else []


def _litellm_otel(provider) -> _Callbacks:
    import litellm
    from litellm.integrations.opentelemetry import OpenTelemetry

    litellm.callbacks = [OpenTelemetry(tracer_provider=provider)]
    return _Callbacks(litellm.callbacks)


def _chat(client):
    import litellm
    from mock_openai import MESSAGES

    return litellm.completion(MODEL, MESSAGES, client=client)


def _stream(client):
    import litellm
    from mock_openai import MESSAGES

    return litellm.completion(MODEL, MESSAGES, client=client, stream=True)


def _end(answer) -> dict:
    usage = getattr(answer, "usage", None)
    return {
        "gen_ai.response.model": answer.model,
        "gen_ai.response.id": answer.id,
        "gen_ai.response.finish_reasons": (answer.choices[0].finish_reason or "",) if answer.choices else (),
        "gen_ai.usage.input_tokens": usage.prompt_tokens if usage else 0,
        "gen_ai.usage.output_tokens": usage.completion_tokens if usage else 0,
        "litellm.response_cost": (getattr(answer, "_hidden_params", None) or {}).get("response_cost") or 0.0,
    }


BENCH = Bench(
    sdk="litellm",
    client=mock_client("mock_openai"),
    calls=Calls(
        chat=_chat,
        text=lambda response: response.choices[0].message.content,
        stream=_stream,
        piece=lambda chunk: chunk.choices[0].delta.content if chunk.choices else None,
        span_name="chat gpt-4o-mini",
        start_attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.output.type": "text",
            "server.address": "api.openai.com",
            "server.port": 443,
        },
        end_attributes=_end,
    ),
    expected=ANSWER,
    patched=("litellm",),
    skip=("litellm.types.", "litellm.llms."),
    instrumentations={
        "genai-cost": genai_cost("genai_cost.instrumentation.litellm", "LiteLLMInstrumentor"),
        "litellm-otel": _litellm_otel,
    },
    labels={
        "bare": "bare LiteLLM call (OpenAI route, mock transport)",
        "floor": "floor: + 1 hand-made span, 12 attributes",
        "genai-cost": "genai-cost",
        "litellm-otel": "LiteLLM's own OpenTelemetry callback",
    },
    venv=".venv-litellm",
    mode_titles={"chat": "completion", "stream": "stream"},
    clear_env=("OPENAI_",),
    env={"LITELLM_LOCAL_MODEL_COST_MAP": "True"},
)

if __name__ == "__main__":
    main(BENCH, HERE, __doc__)
