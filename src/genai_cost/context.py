"""Attribution: who and what a call's cost belongs to.

``cost_context(project=..., team=..., user=..., feature=..., tenant=...)`` writes W3C baggage
entries named like the span attributes (``genai_cost.team``, ``user.id`` ...). Custom dimensions
(``cost_context(prompt_version="v3")``) must be declared in config (``dimensions:``), so their
number stays bounded (metrics, store columns) and baggage stays small; they travel as
``genai_cost.dim.<name>``. An undeclared one is dropped with a warning, never an error in the app. Baggage is carried
in-process by the OpenTelemetry context and across services by the propagators, so a downstream
service inherits attribution without any code of ours. Inner contexts override outer ones because
each ``set_baggage`` layers on the current context.
"""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context

from genai_cost.attributes import ATTRIBUTION_SPAN_ATTRIBUTES, DIMENSION_PREFIX

F = TypeVar("F", bound=Callable[..., Any])

_BAGGAGE_KEYS = tuple(ATTRIBUTION_SPAN_ATTRIBUTES.values())
_defaults: dict[str, str] = {}
_dimensions: dict[str, str] = {}  # declared custom dimension -> its baggage key / span attribute
_warned_undeclared: set[str] = set()
MAX_DIMENSIONS = 16
_DIMENSION_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
MAX_DIMENSION_VALUE = 256  # characters: baggage travels in every outgoing request's headers


def dimension_problem(name: str) -> str | None:
    if not isinstance(name, str) or not _DIMENSION_NAME.fullmatch(name):
        return f"dimension {name!r}: expected lower-case letters, digits and '_' (a letter first, 40 at most)"
    if name in ATTRIBUTION_SPAN_ATTRIBUTES:
        return f"dimension {name!r} is one of the built-in attribution keys"
    return None


def set_dimensions(names: Sequence[str]) -> None:
    """Declare the custom dimensions ``cost_context`` accepts (from configuration)."""
    global _BAGGAGE_KEYS, _dimensions
    for name in names:
        if (problem := dimension_problem(name)) is not None:
            raise ValueError(problem)
    if len(set(names)) > MAX_DIMENSIONS:
        raise ValueError(f"at most {MAX_DIMENSIONS} custom dimensions, got {len(set(names))}")
    _dimensions = {name: DIMENSION_PREFIX + name for name in names}
    _BAGGAGE_KEYS = (*ATTRIBUTION_SPAN_ATTRIBUTES.values(), *_dimensions.values())


def declared_dimensions() -> tuple[str, ...]:
    return tuple(_dimensions)


def set_default_attribution(defaults: Mapping[str, str | None]) -> None:
    """Process-wide defaults (from configuration) used when no context sets a key."""
    global _defaults
    unknown = set(defaults) - set(ATTRIBUTION_SPAN_ATTRIBUTES)
    if unknown:
        raise ValueError(f"unknown attribution keys {sorted(unknown)}; use {list(ATTRIBUTION_SPAN_ATTRIBUTES)}")
    _defaults = {ATTRIBUTION_SPAN_ATTRIBUTES[k]: str(v) for k, v in defaults.items() if v}


def current_attribution(context: Context | None = None) -> dict[str, str]:
    """Attribution span attributes in effect: baggage over configured defaults."""
    entries = baggage.get_all(context)
    if not entries:
        return dict(_defaults)
    found = dict(_defaults)
    for key in _BAGGAGE_KEYS:
        value = entries.get(key)
        if value is not None:
            found[key] = str(value)
    return found


def baggage_attribution(context: Context | None = None) -> dict[str, str]:
    """Attribution carried in baggage only (no configured defaults); empty when there is none."""
    entries = baggage.get_all(context)
    if not entries:
        return {}
    return {key: str(entries[key]) for key in _BAGGAGE_KEYS if key in entries}


def default_attribution() -> dict[str, str]:
    return _defaults


class cost_context:
    """Attribute every GenAI call made inside to a project/team/user/feature/tenant.

    Use as ``with cost_context(team="search"):`` or as a decorator on sync or async functions.
    Keys left as ``None`` inherit from the enclosing context.
    """

    def __init__(
        self,
        *,
        project: str | None = None,
        team: str | None = None,
        user: str | None = None,
        feature: str | None = None,
        tenant: str | None = None,
        **dimensions: str | None,
    ) -> None:
        given = {"project": project, "team": team, "user": user, "feature": feature, "tenant": tenant}
        self._entries = {ATTRIBUTION_SPAN_ATTRIBUTES[k]: str(v) for k, v in given.items() if v is not None}
        for name, value in dimensions.items():
            key = _dimensions.get(name)
            if key is None:
                if name not in _warned_undeclared:
                    _warned_undeclared.add(name)
                    logging.getLogger("genai_cost").warning(
                        "genai-cost: cost_context(%s=...) ignored: declare it in config (dimensions: [%s])", name, name
                    )
            elif value is not None:
                self._entries[key] = str(value)[:MAX_DIMENSION_VALUE]
        self._tokens: list[object] = []

    def _context(self) -> Context:
        ctx = otel_context.get_current()
        for key, value in self._entries.items():
            ctx = baggage.set_baggage(key, value, ctx)
        return ctx

    def __enter__(self) -> cost_context:
        # A stack of tokens makes one instance safe to re-enter (e.g. a decorated recursive call).
        self._tokens.append(otel_context.attach(self._context()))
        return self

    def __exit__(self, *exc_info: object) -> None:
        otel_context.detach(self._tokens.pop())  # type: ignore[arg-type]

    def __call__(self, func: F) -> F:
        entries = self._entries

        def fresh() -> cost_context:
            clone = cost_context()
            clone._entries = entries
            return clone

        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with fresh():
                    return await func(*args, **kwargs)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with fresh():
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
