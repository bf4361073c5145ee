"""What becomes of anthropic's own tracing (span ``anthropic.messages.create``, scope
``com.anthropic.sdk.python``) while ours is on.

Both see the same call, and a trace must still sum to the true spend, so exactly one span may
carry the amount. Ours always does: it holds the budget decision, and it is priced before it ends.
What happens to theirs is the user's choice:

* ``duplicate`` (default): theirs is kept, nested in ours, and the ``CostSpanProcessor`` marks it
  ``genai_cost.status=duplicate`` with no amount. Nothing anthropic records is lost.
* ``off``: the SDK gets no tracer, so it makes no span (and sends no trace headers of its own),
  halving span volume. A client decides once, on its first call: clients that already made a
  call before ``instrument()`` keep what they had.

Set by ``AnthropicInstrumentor().instrument(sdk_tracing=...)``, the config file's
``instrumentation.anthropic.sdk_tracing``, or ``GENAI_COST_ANTHROPIC_SDK_TRACING``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from opentelemetry.trace import Tracer

from genai_cost import runtime
from genai_cost.instrumentation.base import Patch

ENV_SDK_TRACING = "GENAI_COST_ANTHROPIC_SDK_TRACING"
DUPLICATE = "duplicate"
OFF = "off"
MODES = (DUPLICATE, OFF)

_log = logging.getLogger("genai_cost.instrumentation")


def sdk_tracing_mode(value: Any = None) -> str:
    """The mode asked for: the argument, else the applied settings (``configure()`` or
    ``opentelemetry-instrument``, which already read the file and the environment and failed on a
    bad value), else the environment. A bad value here is named in a warning and the default
    kept, since an instrumentor must never raise."""
    if value is None and runtime.anthropic_sdk_tracing is not None:
        return runtime.anthropic_sdk_tracing
    source = "sdk_tracing" if value is not None else ENV_SDK_TRACING
    raw = value if value is not None else os.environ.get(ENV_SDK_TRACING, "")
    mode = str(raw).strip().lower() or DUPLICATE
    if mode not in MODES:
        _log.warning("genai-cost: %s=%r is not one of %s; keeping %r", source, raw, ", ".join(MODES), DUPLICATE)
        return DUPLICATE
    return mode


def tracer_off_patch(enabled: Callable[[], bool]) -> Patch:
    """Makes the SDK's tracer lookup answer "no tracer" while we are instrumented."""

    def make(_tracer: Tracer) -> Callable[..., Any]:
        def get_tracer(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            return None if enabled() else wrapped(*args, **kwargs)

        return get_tracer

    # _base_client looks the name up in its own globals each time a client first needs a tracer.
    return Patch("anthropic._base_client", "get_tracer", make)
