"""Provider instrumentations: one subpackage per provider SDK on the shared ``lifecycle``."""

from __future__ import annotations

import logging

_log = logging.getLogger(__name__)

# Entry-point names registered under `opentelemetry_instrumentor` (see pyproject.toml).
ENTRY_POINT_PREFIX = "genai_cost_"


def instrument_all(**kwargs: object) -> list[str]:
    """Instrument every provider SDK genai-cost supports that is installed; return their names.

    An instrumentor whose SDK is absent stands down quietly (``GenAIInstrumentor.instrument``);
    one whose SDK is installed is patched when the application imports that SDK.
    """
    from importlib.metadata import entry_points

    done = []
    for entry_point in entry_points(group="opentelemetry_instrumentor"):
        if not entry_point.name.startswith(ENTRY_POINT_PREFIX):
            continue
        try:
            instrumentor = entry_point.load()()
            if instrumentor.is_instrumented_by_opentelemetry:
                done.append(entry_point.name)
                continue
            instrumentor.instrument(skip_dep_check=True, **kwargs)
            if instrumentor.is_instrumented_by_opentelemetry:
                done.append(entry_point.name)
        except Exception:
            _log.exception("genai-cost: could not load instrumentation %s", entry_point.name)
    return done
