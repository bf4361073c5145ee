"""The Ollama bench's declarations (``bench/harness/provider.py`` does the rest); as a script, one
measurement in one fresh process (``run.py`` drives it).

The real ``ollama.Client`` over an in-process transport (``mock_ollama.py``); the application calls
``client.chat`` (``stream=True`` read to the end). ``genai-cost`` prices the local model by a
configured per-token price (status ``priced``); ``genai-cost-unpriced`` runs without one (status
``unknown_model``, the default for a local model). Peers: OpenLLMetry's
opentelemetry-instrumentation-ollama. OpenLIT's ollama instrumentation has no row (not measured).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from harness.provider import Bench, Calls, genai_cost, main, mock_client, openllmetry  # noqa: E402
from harness.workload import ANSWER, QUESTION  # noqa: E402

MODEL = "llama3.2"
MESSAGES = [{"role": "user", "content": QUESTION}]
_unpriced = genai_cost("genai_cost.instrumentation.ollama", "OllamaInstrumentor")


def _priced(provider) -> None:
    from genai_cost.pricing import CustomPrice, PriceCatalog, PriceOverrides, set_catalog

    _unpriced(provider)
    local = CustomPrice(model=MODEL, provider="ollama", input_per_mtok=0.2, output_per_mtok=0.6)
    set_catalog(PriceCatalog(PriceOverrides(custom_models=(local,))))


def _end(final) -> dict:
    return {
        "gen_ai.response.model": final.model,
        "gen_ai.response.finish_reasons": (final.done_reason,),
        "gen_ai.usage.input_tokens": final.prompt_eval_count,
        "gen_ai.usage.output_tokens": final.eval_count,
        "ollama.total_duration": final.total_duration,
        "ollama.eval_duration": final.eval_duration,
    }


BENCH = Bench(
    sdk="ollama",
    client=mock_client("mock_ollama"),
    calls=Calls(
        chat=lambda client: client.chat(MODEL, MESSAGES),
        text=lambda response: response.message.content,
        stream=lambda client: client.chat(MODEL, MESSAGES, stream=True),
        piece=lambda chunk: chunk.message.content,
        span_name=f"chat {MODEL}",
        start_attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "ollama",
            "gen_ai.request.model": MODEL,
            "gen_ai.output.type": "text",
            "server.address": "127.0.0.1",
            "server.port": 11434,
        },
        end_attributes=_end,
    ),
    expected=ANSWER,
    patched=("ollama", "httpx", "httpcore"),
    instrumentations={
        "genai-cost": _priced,
        "genai-cost-unpriced": _unpriced,
        "openllmetry": openllmetry("opentelemetry.instrumentation.ollama", "OllamaInstrumentor"),
    },
    labels={
        "bare": "bare SDK call (mock transport)",
        "floor": "floor: + 1 hand-made span, 12 attributes",
        "genai-cost": "genai-cost (local model priced per token by config)",
        "genai-cost-unpriced": "genai-cost, no price configured (`unknown_model`)",
        "openllmetry": "OpenLLMetry opentelemetry-instrumentation-ollama 0.62.4",
    },
    venv=".venv-ollama",
    clear_env=("TRACELOOP_", "OLLAMA_"),
)

if __name__ == "__main__":
    main(BENCH, HERE, __doc__)
