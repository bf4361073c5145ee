"""What becomes of genai-cost's own errors: logged once per place, with the traceback, and never
raised into the application. The bottom of the layering, so that budgets, the processor and the
instrumentations share one policy without importing each other."""

from __future__ import annotations

import logging

_log = logging.getLogger("genai_cost")
_logged: set[str] = set()


def log_once(where: str) -> None:
    """Log our own error (call from an ``except`` block) once per place, and carry on."""
    if where not in _logged:
        _logged.add(where)
        _log.exception("genai-cost: internal error in %s; the call itself is unaffected", where)
