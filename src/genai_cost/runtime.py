"""Process-wide state shared by instrumentations and the processor, set by ``configure()``.

Kept in one small module so the hot path reads plain module attributes instead of looking
settings up per call.
"""

from __future__ import annotations

from typing import Any

from genai_cost import attributes as attr
from genai_cost.backend_view import BackendView

# Instrumentation scope name of every span genai-cost creates.
OUR_SCOPE = "genai_cost"

# Our own calls that have started and not ended: span id -> (trace id, provider, request model).
# The processor consults it to make a foreign span of the same call (nested somewhere inside one
# of ours) the duplicate: ours carries the budget decision. Dict set/pop are atomic under the GIL,
# so no lock is taken on the call path.
open_calls: dict[int, tuple[int, str, str | None]] = {}

# What becomes of anthropic's own spans while ours are on ("duplicate" or "off"), once settings
# are applied; None until then (the Anthropic instrumentor then reads the environment itself).
anthropic_sdk_tracing: str | None = None

# Extra attributes that carry the amount (configurable; OpenLIT, Langfuse, LiteLLM read these).
amount_aliases: tuple[str, ...] = (attr.USAGE_COST_ALIAS,)

# The end-of-call work of our calls that ended and left it to the processor, to be done off the
# caller's thread (``instrumentation.lifecycle.completes_later``): span id -> a callable returning
# the span's end-of-call attributes. The processor pops each as the span reaches it (the SDK hands
# processors a copy of the span, so the work cannot travel on the span object itself).
completions: dict[int, Any] = {}

# Why genai-cost disabled itself at start-up (a broken config file under zero-code), if it did.
disabled_reason: str | None = None

# The budget guard when budgets are configured (genai_cost.budget.guard.BudgetGuard), else None:
# the call path checks this one attribute and skips budgets entirely.
budget_guard: Any = None

# What priced spans carry for other backends (attributes.BACKENDS), once settings are applied.
backend_view: BackendView = BackendView()

# The port the in-process Prometheus endpoint listens on (configure(prometheus_port=...)), if any.
prometheus_port: int | None = None
