"""What a budget is: its scope, window, limit, thresholds and the action taken when it is spent.

Data only (no I/O, no ledger): the YAML reader in ``genai_cost.config`` and
``genai_cost.configure(budgets=[...])`` both produce these, and the guard compiles them once.

A policy's *scope* picks the calls it covers:

* ``match`` -- attribution dimensions (``project``, ``team``, ``feature``, ``user``, ``tenant``)
  and ``model`` / ``provider``, each an exact value or an ``fnmatch`` pattern (``gpt-4o*``);
  an empty match covers every call;
* ``per`` -- a fan-out: ``per="user"`` gives every user their own budget of ``limit``; a call
  without that dimension is not covered by a fan-out budget (give it a plain budget as well).

Budgets nest: a call must pass every budget whose scope covers it.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Windows: calendar-aligned in the policy's time zone; spend resets at the boundary.
HOUR: Final = "hour"
DAY: Final = "day"
MONTH: Final = "month"
WINDOWS: Final = (HOUR, DAY, MONTH)

# Actions when a call would take spend past the limit.
WARN: Final = "warn"  # the call goes on; the span and the alerts say so
BLOCK: Final = "block"  # BudgetExceeded before the call reaches the provider
DOWNGRADE: Final = "downgrade"  # the call goes on with ``downgrade_to``
ACTIONS: Final = (WARN, BLOCK, DOWNGRADE)

# Decisions recorded on the span (``genai_cost.budget.decision``): ALLOW plus the actions.
ALLOW: Final = "allow"

# Dimensions a scope can match or fan out on; besides these, ``dim.<name>`` for a custom
# dimension declared in config (``cost_context(prompt_version=...)``).
SCOPE_DIMENSIONS: Final = ("project", "team", "feature", "user", "tenant", "model", "provider", "key")
CUSTOM_SCOPE_PREFIX: Final = "dim."


def is_scope_dimension(key: str) -> bool:
    if key in SCOPE_DIMENSIONS:
        return True
    return key.startswith(CUSTOM_SCOPE_PREFIX) and re.fullmatch(r"[a-z][a-z0-9_]{0,39}", key[4:]) is not None


FAIL_OPEN: Final = "open"
FAIL_CLOSED: Final = "closed"

DEFAULT_THRESHOLDS: Final = (50.0, 80.0, 95.0)


class InvalidBudget(ValueError):
    """A budget field that cannot be used: ``key`` names it, ``problem`` says why."""

    def __init__(self, name: str, key: str, problem: str) -> None:
        super().__init__(f"budget {name!r}: {key}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class BudgetPolicy:
    """One budget. ``limit`` is in ``currency`` units per ``window``; ``thresholds`` are fractions
    of the limit in percent (``(50, 80, 95)``) that each fire an alert once per window."""

    name: str
    limit: float
    window: str = MONTH
    match: Mapping[str, str] = field(default_factory=dict)
    per: str | None = None
    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    action: str = BLOCK
    downgrade_to: str | None = None
    timezone: str = "UTC"
    currency: str = "USD"

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem is not None:
            raise InvalidBudget(self.name, *problem)
        object.__setattr__(self, "match", dict(self.match))
        object.__setattr__(self, "thresholds", tuple(sorted(float(t) for t in self.thresholds)))

    def problem(self) -> tuple[str, str] | None:
        """The first invalid field as (key, problem), or None; config errors name the key."""
        if not isinstance(self.name, str) or not re.fullmatch(r"[\w.\-]+", self.name or ""):
            return "name", f"expected letters, digits, '_', '-' or '.', got {self.name!r}"
        if isinstance(self.limit, bool) or not isinstance(self.limit, int | float) or self.limit < 0:
            return "limit", f"expected a number >= 0, got {self.limit!r}"
        if self.window not in WINDOWS:
            return "window", f"expected one of {', '.join(WINDOWS)}, got {self.window!r}"
        for key in self.match:
            if not is_scope_dimension(key):
                return f"match.{key}", f"unknown dimension; allowed: {', '.join(SCOPE_DIMENSIONS)}, dim.<name>"
        if self.per is not None and not is_scope_dimension(self.per):
            return "per", f"expected one of {', '.join(SCOPE_DIMENSIONS)} or dim.<name>, got {self.per!r}"
        for value in self.thresholds:
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 100:
                return "thresholds", f"expected percentages in (0, 100], got {value!r}"
        if self.action not in ACTIONS:
            return "action", f"expected one of {', '.join(ACTIONS)}, got {self.action!r}"
        if self.action == DOWNGRADE and not self.downgrade_to:
            return "downgrade_to", "is required when action is downgrade (the cheaper model to use)"
        if self.action != DOWNGRADE and self.downgrade_to:
            return "downgrade_to", f"only applies to action downgrade (action is {self.action})"
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            return "timezone", f"unknown time zone {self.timezone!r} (an IANA name such as Europe/Berlin)"
        if not isinstance(self.currency, str) or not re.fullmatch(r"[A-Za-z]{3}", self.currency):
            return "currency", f"expected an ISO 4217 code such as USD, got {self.currency!r}"
        return None

    @property
    def hard(self) -> bool:
        """Whether the limit stops calls (block); warn and downgrade let them through."""
        return self.action == BLOCK


@dataclass(frozen=True)
class BudgetSettings:
    """Budgets plus where their spend is kept.

    ``ledger``: ``memory`` (default, this process), ``sqlite:///path`` (processes on one host),
    ``redis://host:port/db`` (a fleet). ``fail_mode``: what a call gets when the ledger cannot be
    reached within ``timeout`` seconds -- ``open`` (allowed, the span says why) or ``closed``
    (blocked). ``default_max_output_tokens`` is the output size assumed when a request sets no
    ``max_tokens``.
    """

    policies: tuple[BudgetPolicy, ...] = ()
    ledger: str = "memory"
    fail_mode: str = FAIL_OPEN
    timeout: float = 0.05
    default_max_output_tokens: int = 4096

    def __post_init__(self) -> None:
        object.__setattr__(self, "policies", tuple(self.policies))
        from genai_cost.budget.ledger import url_problem

        problem = url_problem(self.ledger)
        if problem is not None:
            raise InvalidBudget("*", "ledger", problem)
        if self.fail_mode not in (FAIL_OPEN, FAIL_CLOSED):
            raise InvalidBudget("*", "fail_mode", f"expected open or closed, got {self.fail_mode!r}")
        names = [p.name for p in self.policies]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate is not None:
            raise InvalidBudget(duplicate, "name", "is used by two budgets; names key the ledger")


def as_policies(budgets: Sequence[BudgetPolicy | Mapping[str, object]]) -> tuple[BudgetPolicy, ...]:
    """Policies from dataclasses or plain mappings (``configure(budgets=[{...}])``)."""
    return tuple(b if isinstance(b, BudgetPolicy) else BudgetPolicy(**b) for b in budgets)  # type: ignore[arg-type]


def compile_pattern(value: str) -> str | re.Pattern[str]:
    """An exact value stays a string (a dict-speed compare); a glob becomes a regex."""
    if any(ch in value for ch in "*?["):
        return re.compile(fnmatch.translate(value))
    return value
