"""API key fingerprints: which key a call used (``genai_cost.key.id``), never the key itself.

A fingerprint is HMAC-SHA256 of the key under a salt, truncated to 16 hex digits: enough to tell
keys apart in a report or a budget scope (``match: {key: ...}``), useless for recovering the key
(API keys carry ~150+ bits of randomness; 64 bits of a keyed hash reveal nothing usable). The salt
is fixed by default so every process and service names a key the same way; set
``GENAI_COST_KEY_SALT`` to make fingerprints private to your organisation.

``client_key_id(client)`` is called on every wrapped call, so it is computed once per client: a
weak-keyed cache by client id, re-checked against the key object itself (a client's ``api_key``
can be reassigned).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import weakref
from collections.abc import Callable
from typing import Any

_DEFAULT_SALT = b"genai-cost/key-id/v1"
_salt: bytes | None = None
# id(client) -> (weak reference to it, the api_key object read, its fingerprint)
_known: dict[int, tuple[Any, Any, str | None]] = {}


def key_fingerprint(api_key: str) -> str:
    """``k-`` and 16 hex digits of HMAC-SHA256(salt, key)."""
    global _salt
    if _salt is None:
        configured = os.environ.get("GENAI_COST_KEY_SALT", "")
        _salt = configured.encode() if configured else _DEFAULT_SALT
    return "k-" + hmac.new(_salt, api_key.encode(), hashlib.sha256).hexdigest()[:16]


def client_key_id(client: Any) -> str | None:
    """The fingerprint of ``client.api_key`` (None without a string key), cached per client."""
    api_key = getattr(client, "api_key", None)
    key = id(client)
    known = _known.get(key)
    if known is not None and known[1] is api_key and known[0]() is client:
        return known[2]
    fingerprint = key_fingerprint(api_key) if isinstance(api_key, str) and api_key else None
    try:
        _known[key] = (weakref.ref(client, _forget(key)), api_key, fingerprint)
    except TypeError:  # a client type without weak references: computed on every call
        pass
    return fingerprint


def _forget(key: int) -> Callable[[Any], None]:
    def forget(_: Any) -> None:
        _known.pop(key, None)

    return forget
