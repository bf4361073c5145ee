"""Test helpers: a local OpenAI/Anthropic API stand-in (see :mod:`.stub_server`).

Names are loaded on first use so that ``python -m genai_cost.testing.stub_server`` does not
import the module twice (runpy warns when a package pre-imports the module it runs).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .stub_server import (
        CassetteReplayer,
        RecordedInteraction,
        RecordedRequest,
        SseEvent,
        StubProvider,
        anthropic_error,
        load_cassette,
        openai_error,
        parse_sse,
    )

__all__ = [
    "CassetteReplayer",
    "RecordedInteraction",
    "RecordedRequest",
    "SseEvent",
    "StubProvider",
    "anthropic_error",
    "load_cassette",
    "openai_error",
    "parse_sse",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module(".stub_server", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
