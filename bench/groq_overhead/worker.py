"""The Groq bench's declarations (``bench/harness/provider.py`` does the rest); as a script, one
measurement in one fresh process (``run.py`` drives it).

The real ``groq.Groq`` client over an in-process transport (``mock_groq.py``); the application
calls ``chat.completions.create`` (``stream=True`` read to the end). Peers: OpenLLMetry's
opentelemetry-instrumentation-groq. OpenLIT's groq instrumentation has no row (not measured).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from harness.provider import (  # noqa: E402
    Bench,
    Calls,
    completion_end,
    genai_cost,
    hosted_start,
    main,
    mock_client,
    openllmetry,
)
from harness.workload import ANSWER, QUESTION, SYSTEM  # noqa: E402

MODEL = "llama-3.3-70b-versatile"
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}]


def _end(answer) -> dict:
    usage = getattr(answer, "usage", None) or answer.x_groq.usage  # a stream's last chunk: in x_groq
    return completion_end(answer, usage, **{"groq.usage.total_time": usage.total_time or 0.0})


BENCH = Bench(
    sdk="groq",
    client=mock_client("mock_groq"),
    calls=Calls(
        chat=lambda client: client.chat.completions.create(model=MODEL, max_tokens=200, messages=MESSAGES),
        text=lambda response: response.choices[0].message.content,
        stream=lambda client: client.chat.completions.create(
            model=MODEL, max_tokens=200, messages=MESSAGES, stream=True
        ),
        piece=lambda chunk: chunk.choices[0].delta.content if chunk.choices else None,
        span_name=f"chat {MODEL}",
        start_attributes=hosted_start("groq", MODEL, "api.groq.com"),
        end_attributes=_end,
    ),
    expected=ANSWER,
    patched=("groq", "httpx", "httpcore"),
    skip=("groq.types.",),
    instrumentations={
        "genai-cost": genai_cost("genai_cost.instrumentation.groq", "GroqInstrumentor"),
        "openllmetry": openllmetry("opentelemetry.instrumentation.groq", "GroqInstrumentor"),
    },
    labels={
        "bare": "bare SDK call (mock transport)",
        "floor": "floor: + 1 hand-made span, 12 attributes",
        "genai-cost": "genai-cost (pricing)",
        "openllmetry": "OpenLLMetry opentelemetry-instrumentation-groq 0.62.4",
    },
    venv=".venv-groq",
    mode_titles={"chat": "create", "stream": "stream"},
    clear_env=("TRACELOOP_", "GROQ_"),
)

if __name__ == "__main__":
    main(BENCH, HERE, __doc__)
