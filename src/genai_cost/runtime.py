"""Process-wide state shared by instrumentations and the processor, set by ``configure()``.

Kept in one small module so the hot path reads plain module attributes instead of looking
settings up per call.
"""

from __future__ import annotations

from genai_cost import attributes as attr

# Instrumentation scope name of every span genai-cost creates.
OUR_SCOPE = "genai_cost"

# Span ids of our own calls that have started and not ended. The processor consults it to make
# a foreign span nested in one of ours the duplicate (ours carries the budget decision). Set
# add/discard are atomic under the GIL, so no lock is taken on the call path.
open_call_span_ids: set[int] = set()

# Extra attributes that carry the amount (configurable; OpenLIT, Langfuse, LiteLLM read these).
amount_aliases: tuple[str, ...] = (attr.USAGE_COST_ALIAS,)

# Why genai-cost disabled itself at start-up (a broken config file under zero-code), if it did.
disabled_reason: str | None = None
