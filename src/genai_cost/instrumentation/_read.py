"""Reading provider SDK objects, shared by every instrumentation.

The SDKs (openai, anthropic, google-genai) hand back pydantic models, plain dicts (``parse(to=dict)``,
a caller's own messages) or their own sentinels for arguments left out; these readers take any of
them and never raise into the caller's code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from genai_cost.attributes import Status
from genai_cost.usage import InvalidUsage, TokenUsage

_Source = TypeVar("_Source")


def given(value: Any) -> Any:
    """The value, or None for the SDK's "not given" sentinels (``omit``, ``NOT_GIVEN``) and None."""
    if value is None or type(value).__name__ in ("NotGiven", "Omit"):
        return None
    return value


# How `get` reads each type it meets: an isinstance() against an ABC costs more than the read.
_MODEL, _MAPPING, _OBJECT = "model", "mapping", "object"
_kinds: dict[type, str] = {dict: _MAPPING}
_on_class: dict[tuple[type, str], bool] = {}  # (pydantic class, key) -> a class attribute serves it
_MISSING = object()


def get(obj: Any, key: str) -> Any:
    """``obj.key`` for SDK objects, ``obj[key]`` for dicts (``parse(to=dict)``), else None."""
    if obj is None:
        return None
    cls = type(obj)
    kind = _kinds.get(cls)
    if kind is None:
        kind = _kinds[cls] = _kind_of(cls)
    if kind is _MODEL:
        # What pydantic's own attribute lookup finds, minus its cost: a field is in the instance
        # dict, an unknown key (OpenRouter's usage.cost) in the extras -- where getattr() would
        # get there only after an AttributeError raised and caught inside pydantic.
        value = obj.__dict__.get(key, _MISSING)
        if value is not _MISSING:
            return value
        on_class = _on_class.get((cls, key))
        if on_class is None:
            on_class = _on_class[(cls, key)] = hasattr(cls, key)
        if not on_class:
            extra = getattr(obj, "__pydantic_extra__", None)
            return extra.get(key) if extra else None
        return getattr(obj, key, None)
    if kind is _MAPPING:
        return obj.get(key)
    return getattr(obj, key, None)


_NO_FIELDS: Mapping[str, Any] = {}


class _Attributes:
    """``get`` over a plain object's attributes, for ``fields``."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def get(self, key: str) -> Any:
        return getattr(self.obj, key, None)


def fields(obj: Any) -> Any:
    """Something whose ``.get(key)`` reads what ``get(obj, key)`` would, for reading several keys
    of one object: a pydantic model's own field dict (with its extras, if any), a dict itself --
    a C-level ``dict.get`` per key instead of a call to ``get``."""
    if obj is None:
        return _NO_FIELDS
    cls = type(obj)
    kind = _kinds.get(cls)
    if kind is None:
        kind = _kinds[cls] = _kind_of(cls)
    if kind is _MODEL:
        extra = getattr(obj, "__pydantic_extra__", None)
        return {**extra, **obj.__dict__} if extra else obj.__dict__
    if kind is _MAPPING:
        return obj
    return _Attributes(obj)


def _kind_of(cls: type) -> str:
    if issubclass(cls, Mapping):
        return _MAPPING
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover - every provider SDK we instrument depends on pydantic
        return _OBJECT
    if issubclass(cls, BaseModel) and "__dict__" in getattr(BaseModel, "__slots__", ()):
        return _MODEL
    return _OBJECT


def read_usage(
    read: Callable[[_Source], TokenUsage | None], source: _Source
) -> tuple[TokenUsage | None, tuple[str, str] | None]:
    """(usage, None), or (None, an ``invalid_usage`` status saying why) for numbers that cannot
    describe a real call -- never an exception into the caller's code."""
    try:
        return read(source), None
    except (InvalidUsage, TypeError, ValueError, OverflowError) as exc:
        return None, (Status.INVALID_USAGE, f"the response's usage is malformed: {exc}")


def put_given(attributes: dict[str, Any], key: str, value: Any, kinds: type | tuple[type, ...]) -> None:
    """``attributes[key] = value`` when the caller gave a value of one of ``kinds`` (never a bool
    taken for a number; SDK sentinels such as ``NOT_GIVEN`` / ``UNSET`` are of no kind)."""
    value = given(value)
    if isinstance(value, kinds) and not isinstance(value, bool):
        attributes[key] = value
