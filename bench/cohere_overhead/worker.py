"""The Cohere bench's declarations (``bench/harness/provider.py`` does the rest); as a script, one
measurement in one fresh process (``run.py`` drives it).

The real ``cohere.ClientV2`` (cohere 7.x) over an in-process transport (``mock_cohere.py``); the
application calls ``chat`` and ``chat_stream`` (read to the end). Peers: OpenLIT 1.45 (its own
venv, ``setup.sh``). OpenLLMetry's opentelemetry-instrumentation-cohere 0.62.4 instruments
cohere < 6 only.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from harness.provider import Bench, Calls, genai_cost, hosted_start, main, mock_client, openlit  # noqa: E402
from harness.workload import ANSWER, QUESTION, SYSTEM  # noqa: E402

MODEL = "command-a-03-2025"
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]


def _end(answer) -> dict:
    if getattr(answer, "type", None) == "message-end":  # a stream's last event
        finish, usage, response_id = answer.delta.finish_reason, answer.delta.usage, ""
    else:
        finish, usage, response_id = answer.finish_reason, answer.usage, answer.id
    return {
        "gen_ai.response.model": MODEL,
        "gen_ai.response.id": response_id,
        "gen_ai.response.finish_reasons": (finish,),
        "gen_ai.usage.input_tokens": int(usage.billed_units.input_tokens),
        "gen_ai.usage.output_tokens": int(usage.billed_units.output_tokens),
        "cohere.usage.tokens.input": int(usage.tokens.input_tokens),
    }


def _piece(event) -> str | None:
    return event.delta.message.content.text if event.type == "content-delta" else None


BENCH = Bench(
    sdk="cohere",
    client=mock_client("mock_cohere"),
    calls=Calls(
        chat=lambda client: client.chat(model=MODEL, messages=MESSAGES, max_tokens=200),
        text=lambda response: response.message.content[0].text,
        stream=lambda client: client.chat_stream(model=MODEL, messages=MESSAGES, max_tokens=200),
        piece=_piece,
        span_name=f"chat {MODEL}",
        start_attributes=hosted_start("cohere", MODEL, "api.cohere.com"),
        end_attributes=_end,
    ),
    expected=ANSWER,
    patched=("cohere", "httpx", "httpcore"),
    skip=("cohere.types", "cohere.v2.types"),
    instrumentations={
        "genai-cost": genai_cost("genai_cost.instrumentation.cohere", "CohereInstrumentor"),
        "openlit": openlit("cohere"),
    },
    labels={
        "bare": "bare SDK call (mock transport)",
        "floor": "floor: + 1 hand-made span, 12 attributes",
        "genai-cost": "genai-cost (pricing)",
        "openlit": "OpenLIT 1.45",
        "openllmetry": "OpenLLMetry opentelemetry-instrumentation-cohere 0.62.4",
    },
    venv=".venv-cohere",
    openlit_venv=".venv-cohere-openlit",
    clear_env=("TRACELOOP_", "OPENLIT_", "CO_API_"),
    not_measured={"openllmetry": "instruments cohere < 6 only (its instruments range); this is cohere 7"},
    binds_on_construction=True,
)

if __name__ == "__main__":
    main(BENCH, HERE, __doc__)
