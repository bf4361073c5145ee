"""The Together bench's declarations (``bench/harness/provider.py`` does the rest); as a script,
one measurement in one fresh process (``run.py`` drives it).

The real ``together.Together`` (together 3.x) over an in-process transport (``mock_together.py``);
the application calls ``chat.completions.create`` (``stream=True`` read to the end). No peer runs
on together 3.x: OpenLLMetry's opentelemetry-instrumentation-together 0.62.4 instruments
together < 2, and OpenLIT 1.45 wraps ``ChatCompletions.create``, a class the Stainless-generated
SDK (2.0 and later) no longer has.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from harness.provider import Bench, Calls, completion_end, genai_cost, hosted_start, main, mock_client  # noqa: E402
from harness.workload import ANSWER, QUESTION, SYSTEM  # noqa: E402

MODEL = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]


def _end(answer) -> dict:
    return completion_end(answer, **{"together.usage.total_tokens": answer.usage.total_tokens})


BENCH = Bench(
    sdk="together",
    client=mock_client("mock_together"),
    calls=Calls(
        chat=lambda client: client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=200),
        text=lambda response: response.choices[0].message.content,
        stream=lambda client: client.chat.completions.create(
            model=MODEL, messages=MESSAGES, max_tokens=200, stream=True
        ),
        piece=lambda chunk: chunk.choices[0].delta.content if chunk.choices else None,
        span_name=f"chat {MODEL}",
        start_attributes=hosted_start("together", MODEL, "api.together.xyz"),
        end_attributes=_end,
    ),
    expected=ANSWER,
    patched=("together", "httpx", "httpcore"),
    skip=("together.types.",),
    instrumentations={"genai-cost": genai_cost("genai_cost.instrumentation.together", "TogetherInstrumentor")},
    labels={
        "bare": "bare SDK call (mock transport)",
        "floor": "floor: + 1 hand-made span, 12 attributes",
        "genai-cost": "genai-cost (pricing)",
        "openllmetry": "OpenLLMetry opentelemetry-instrumentation-together 0.62.4",
        "openlit": "OpenLIT 1.45",
    },
    venv=".venv-together",
    mode_titles={"chat": "create", "stream": "stream"},
    clear_env=("TRACELOOP_", "OPENLIT_", "TOGETHER_"),
    not_measured={
        "openllmetry": "instruments together < 2 only (its instruments range); this is together 3",
        "openlit": "wraps together.resources.chat.completions.ChatCompletions, which together 2+ no longer has",
    },
)

if __name__ == "__main__":
    main(BENCH, HERE, __doc__)
