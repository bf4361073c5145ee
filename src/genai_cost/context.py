"""Attribution: who and what a call's cost belongs to.

``cost_context(project=..., team=..., user=..., feature=..., tenant=...)`` writes W3C baggage
entries named like the span attributes (``genai_cost.team``, ``user.id`` ...). Baggage is carried
in-process by the OpenTelemetry context and across services by the propagators, so a downstream
service inherits attribution without any code of ours. Inner contexts override outer ones because
each ``set_baggage`` layers on the current context.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.context import Context

from genai_cost.attributes import ATTRIBUTION_SPAN_ATTRIBUTES

F = TypeVar("F", bound=Callable[..., Any])

_BAGGAGE_KEYS = tuple(ATTRIBUTION_SPAN_ATTRIBUTES.values())
_defaults: dict[str, str] = {}


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
    ) -> None:
        given = {"project": project, "team": team, "user": user, "feature": feature, "tenant": tenant}
        self._entries = {ATTRIBUTION_SPAN_ATTRIBUTES[k]: str(v) for k, v in given.items() if v is not None}
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
