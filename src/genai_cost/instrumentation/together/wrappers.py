"""The together SDK methods we wrap (``patches``). Together's client (2.x and later) is
OpenAI-compatible and Stainless-generated: request, response and stream handling are
``_compatible``'s, with what Together's chunks add read by ``streams``."""

from __future__ import annotations

from functools import partial

from genai_cost.instrumentation._compatible import (
    CHAT,
    EMBEDDINGS,
    TEXT_COMPLETION,
    Enabled,
    Provider,
    async_call,
    sync_call,
)
from genai_cost.instrumentation.base import Patch
from genai_cost.instrumentation.together.streams import read_top_level_finish

# genai-prices and our resolver know Together as "together" (semconv has no well-known value).
TOGETHER = Provider("together", read_top_level_finish)


def patches(enabled: Enabled) -> list[Patch]:
    """Every SDK method we wrap. Methods an SDK version lacks are skipped by the base class."""
    out: list[Patch] = []
    for module, cls, operation in (
        ("together.resources.chat.completions", "CompletionsResource", CHAT),
        ("together.resources.completions", "CompletionsResource", TEXT_COMPLETION),
        ("together.resources.embeddings", "EmbeddingsResource", EMBEDDINGS),
    ):
        sync_wrapper = partial(sync_call, provider=TOGETHER, operation=operation, enabled=enabled)
        async_wrapper = partial(async_call, provider=TOGETHER, operation=operation, enabled=enabled)
        out.append(Patch(module, f"{cls}.create", sync_wrapper))
        out.append(Patch(module, f"Async{cls}.create", async_wrapper))
    return out
