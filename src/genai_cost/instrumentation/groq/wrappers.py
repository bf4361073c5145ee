"""The groq SDK methods we wrap (``patches``). Groq's client is OpenAI-compatible and
Stainless-generated: request, response and stream handling are ``_compatible``'s, with Groq's
``x_groq`` usage read by ``streams``."""

from __future__ import annotations

from functools import partial

from genai_cost.instrumentation._compatible import CHAT, EMBEDDINGS, Enabled, Provider, async_call, sync_call
from genai_cost.instrumentation.base import Patch
from genai_cost.instrumentation.groq.streams import read_x_groq

GROQ = Provider("groq", read_x_groq)  # semconv's well-known gen_ai.provider.name


def patches(enabled: Enabled) -> list[Patch]:
    """Every SDK method we wrap. Methods an SDK version lacks are skipped by the base class."""
    out: list[Patch] = []
    for module, cls, operation in (
        ("groq.resources.chat.completions", "Completions", CHAT),
        ("groq.resources.embeddings", "Embeddings", EMBEDDINGS),
    ):
        sync_wrapper = partial(sync_call, provider=GROQ, operation=operation, enabled=enabled)
        async_wrapper = partial(async_call, provider=GROQ, operation=operation, enabled=enabled)
        out.append(Patch(module, f"{cls}.create", sync_wrapper))
        out.append(Patch(module, f"Async{cls}.create", async_wrapper))
    return out
