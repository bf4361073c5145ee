"""What Together's stream chunks carry beyond OpenAI's: legacy completion chunks give the finish
reason at the top level, not in their choices (chat chunks follow OpenAI; the usage comes on the
last chunk without ``stream_options``)."""

from __future__ import annotations

from typing import Any

from genai_cost.instrumentation._compatible import ChunkObserver
from genai_cost.instrumentation._read import get


def read_top_level_finish(chunk: Any, observer: ChunkObserver) -> None:
    finish = get(chunk, "finish_reason")
    if isinstance(finish, str) and finish:
        observer.finish = finish
