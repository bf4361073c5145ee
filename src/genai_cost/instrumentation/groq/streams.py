"""What Groq's stream chunks carry beyond OpenAI's: the usage, in the last chunk's ``x_groq.usage``
(the top-level ``usage`` comes too only when the request set ``stream_options``)."""

from __future__ import annotations

from typing import Any

from genai_cost.instrumentation._compatible import ChunkObserver
from genai_cost.instrumentation._read import get


def read_x_groq(chunk: Any, observer: ChunkObserver) -> None:
    x_groq = get(chunk, "x_groq")
    if x_groq is not None:
        usage = get(x_groq, "usage")
        if usage is not None:
            observer.usage = usage
