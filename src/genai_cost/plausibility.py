"""Bounds on what one call can plausibly report: token counts and money, checked at every entry.

A token count or an amount comes from outside: a provider's response, a foreign span, a span
received by the gateway. One absurd number (``2**63 - 1`` tokens, ``1e300``, ``-50`` dollars)
priced and settled in a shared ledger would set a budget's spend to anything -- and block, or
unblock, every process that shares it. So every entry refuses it before pricing, and the
ledgers never see it: usage above the bound is ``invalid_usage`` (``usage.TokenUsage`` checks),
an amount outside ``[0, max_call_amount]`` or not finite is not accounted (``amount_problem``).

The defaults, and why:

* ``max_usage_tokens`` = 100,000,000 per count of one call. The largest context windows sold
  today are 10M tokens (Llama 4 Scout; Gemini 1M-2M); OpenAI caps an embeddings request at 300k
  tokens. 10x the largest window leaves room for growth and for multi-modal counts while staying
  far below what overflows a ledger: 1e8 tokens at the dearest list price known ($600 per 1M
  output tokens) is $60,000, 6e10 micro-units.
* ``max_call_amount`` = 1,000,000 (in the call's currency). A million for one call is beyond any
  real price list; in micro-units it is 1e12, so even a billion such calls fit a signed 64-bit
  ledger counter.

Both are process-wide (read on the hot path as module attributes): set them with
``set_bounds(...)`` or the environment variables ``GENAI_COST_MAX_USAGE_TOKENS`` and
``GENAI_COST_MAX_CALL_AMOUNT`` (read once at import; a value that is not a positive number is
ignored with a warning).
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

_log = logging.getLogger("genai_cost")

DEFAULT_MAX_USAGE_TOKENS = 100_000_000
DEFAULT_MAX_CALL_AMOUNT = 1_000_000.0


def _from_env(name: str, default: float, kind: type) -> Any:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = kind(float(raw)) if kind is int else kind(raw)
    except (ValueError, OverflowError):
        value = None
    if value is None or not (0 < value < math.inf):
        _log.warning("genai-cost: %s=%r is not a positive number; using %s", name, raw, default)
        return default
    return value


max_usage_tokens: int = _from_env("GENAI_COST_MAX_USAGE_TOKENS", DEFAULT_MAX_USAGE_TOKENS, int)
max_call_amount: float = _from_env("GENAI_COST_MAX_CALL_AMOUNT", DEFAULT_MAX_CALL_AMOUNT, float)


def set_bounds(*, usage_tokens: int | None = None, call_amount: float | None = None) -> None:
    """Change the process-wide bounds (``None`` leaves one as it is)."""
    global max_usage_tokens, max_call_amount
    if usage_tokens is not None:
        if type(usage_tokens) is not int or usage_tokens <= 0:
            raise ValueError(f"usage_tokens must be a positive integer, got {usage_tokens!r}")
        max_usage_tokens = usage_tokens
    if call_amount is not None:
        if isinstance(call_amount, bool) or not isinstance(call_amount, int | float) or not 0 < call_amount < math.inf:
            raise ValueError(f"call_amount must be a positive finite number, got {call_amount!r}")
        max_call_amount = float(call_amount)


def amount_problem(value: Any) -> str | None:
    """Why ``value`` cannot be the cost of one call (not a number, a bool, not finite, negative,
    above ``max_call_amount``), or None when it can."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"amount {value!r} is not a number"
    if not math.isfinite(value):
        return f"amount {value!r} is not finite"
    if value < 0:
        return f"amount {value!r} is negative"
    if value > max_call_amount:
        return f"amount {value!r} is above the plausible bound for one call ({max_call_amount:g})"
    return None
