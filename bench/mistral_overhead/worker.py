"""The Mistral bench's declarations (``bench/harness/provider.py`` does the rest); as a script, one
measurement in one fresh process (``run.py`` drives it).

The real ``mistralai`` 3.x client over an in-process transport (``mock_mistral.py``); the
application calls ``chat.complete`` and ``chat.stream`` (read to the end). No peer runs on
mistralai 3.x: OpenLLMetry's opentelemetry-instrumentation-mistralai 0.62.4 and OpenLIT 1.45 both
wrap ``mistralai.chat.Chat``, 1.x's layout (3.x has it in ``mistralai.client.chat``).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from harness.provider import Bench, Calls, completion_end, genai_cost, hosted_start, main, mock_client  # noqa: E402
from harness.workload import ANSWER, QUESTION, SYSTEM  # noqa: E402

MODEL = "mistral-small-latest"
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]
NO_PEER = "wraps mistralai.chat.Chat, which mistralai 3.x no longer has (mistralai.client.chat)"


def _end(answer) -> dict:
    answer = getattr(answer, "data", answer)  # a stream's last event carries its chunk
    return completion_end(answer, **{"mistral.usage.total_tokens": answer.usage.total_tokens})


BENCH = Bench(
    sdk="mistralai",
    client=mock_client("mock_mistral"),
    calls=Calls(
        chat=lambda client: client.chat.complete(model=MODEL, messages=MESSAGES, max_tokens=200),
        text=lambda response: response.choices[0].message.content,
        stream=lambda client: client.chat.stream(model=MODEL, messages=MESSAGES, max_tokens=200),
        piece=lambda event: event.data.choices[0].delta.content if event.data.choices else None,
        span_name=f"chat {MODEL}",
        start_attributes=hosted_start("mistral_ai", MODEL, "api.mistral.ai"),
        end_attributes=_end,
    ),
    expected=ANSWER,
    patched=("mistralai", "httpx2", "httpcore2"),
    skip=("mistralai.client.models", "mistralai.models"),
    instrumentations={"genai-cost": genai_cost("genai_cost.instrumentation.mistral", "MistralInstrumentor")},
    labels={
        "bare": "bare SDK call (mock transport)",
        "floor": "floor: + 1 hand-made span, 12 attributes",
        "genai-cost": "genai-cost (pricing)",
        "openllmetry": "OpenLLMetry opentelemetry-instrumentation-mistralai 0.62.4",
        "openlit": "OpenLIT 1.45",
    },
    venv=".venv-mistral",
    mode_titles={"chat": "complete", "stream": "stream"},
    clear_env=("TRACELOOP_", "OPENLIT_", "MISTRAL_"),
    not_measured={"openllmetry": NO_PEER, "openlit": NO_PEER},
)

if __name__ == "__main__":
    main(BENCH, HERE, __doc__)
