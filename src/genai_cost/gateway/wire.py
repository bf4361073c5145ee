"""OTLP attribute values in and out: ``AnyValue`` to Python, Python to ``AnyValue``, and whole
``Span.attributes`` entries encoded in protobuf wire format.

Shared by the enricher (cost attributes), the budget accounting (decision attributes) and the
trace roll-up (totals on roots); it sits below all three so none imports another for a helper.
"""

from __future__ import annotations

import struct
from typing import Any


def any_value(value: Any) -> Any:
    """A scalar ``AnyValue`` as its Python value; arrays, maps and bytes stay messages (never priced)."""
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind is not None else None


def set_any_value(target: Any, value: Any) -> None:
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    else:
        target.string_value = str(value)


# Lengths of keys, values and entries are almost always below 16,384: one or two bytes, from a table.
_SHORT_VARINTS = tuple(bytes((n,)) if n < 0x80 else bytes(((n & 0x7F) | 0x80, n >> 7)) for n in range(0x4000))


def _varint(value: int) -> bytes:
    if 0 <= value < 0x4000:
        return _SHORT_VARINTS[value]
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def length_delimited(tag: bytes, payload: bytes) -> bytes:
    return tag + _varint(len(payload)) + payload


# Wire tags: Span.attributes = 9, Span.events = 11, KeyValue.key = 1 / .value = 2, AnyValue
# string/bool/int/double = 1/2/3/4 (opentelemetry/proto/trace/v1/trace.proto, common.proto);
# tests check them against upb.
_SPAN_ATTRIBUTE, SPAN_EVENT, _KEY, _VALUE = b"\x4a", b"\x5a", b"\x0a", b"\x12"
_STRING, _BOOL, _INT, _DOUBLE = b"\x0a", b"\x10", b"\x18", b"\x21"
pack_double = struct.Struct("<d").pack
# A double's entry differs from another's of the same key only in its last 8 bytes.
double_prefixes: dict[str, bytes] = {}
_encoded_cache: dict[tuple[str, Any, type], bytes] = {}


def _entry(key: str, encoded_value: bytes) -> bytes:
    return length_delimited(
        _SPAN_ATTRIBUTE, length_delimited(_KEY, key.encode()) + length_delimited(_VALUE, encoded_value)
    )


def encode_attribute(key: str, value: Any) -> bytes:
    """One ``Span.attributes`` entry in protobuf wire format, ready for ``Span.MergeFromString``.

    Appending pre-encoded entries is one C call per span instead of a Python ``add()`` and
    setter per attribute. Amounts are doubles (a fixed prefix per key plus 8 bytes); status,
    currency, model and source strings repeat, so whole entries are cached.
    """
    if type(value) is float:
        prefix = double_prefixes.get(key)
        if prefix is None:
            prefix = double_prefixes[key] = _entry(key, _DOUBLE + bytes(8))[:-8]
        return prefix + pack_double(value)
    cache_key = (key, value, type(value))
    cached = _encoded_cache.get(cache_key)
    if cached is not None:
        return cached
    if isinstance(value, bool):
        encoded = _entry(key, _BOOL + (b"\x01" if value else b"\x00"))
    elif isinstance(value, int):
        encoded = _entry(key, _INT + _varint(value & 0xFFFFFFFFFFFFFFFF))  # int64: two's complement
    elif isinstance(value, float):
        encoded = _entry(key, _DOUBLE + pack_double(value))
    else:
        encoded = _entry(key, length_delimited(_STRING, str(value).encode()))
    if len(_encoded_cache) > 4096:
        _encoded_cache.clear()
    _encoded_cache[cache_key] = encoded
    return encoded
