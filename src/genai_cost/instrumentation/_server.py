"""Who serves a call, for every instrumentation that reads its endpoint from a URL: the span's
``gen_ai.provider.name``, ``server.address`` and ``server.port`` (the scheme's default port when the
URL names none). Described once per distinct endpoint (cached), not on every call."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Server:
    provider_name: str
    address: str | None
    port: int | None


@lru_cache(maxsize=256)
def server_at(provider: str, host: str | None, port: int | None, scheme: str) -> Server:
    if port is None:
        port = 443 if scheme == "https" else 80 if scheme == "http" else None
    return Server(provider, host or None, port)


@lru_cache(maxsize=256)
def server_from_url(provider: str, url: str) -> Server:
    """From a URL string (``https://api.mistral.ai``); a malformed one gives the provider alone."""
    try:
        parts = urlsplit(url)
        return server_at(provider, parts.hostname, parts.port, parts.scheme)
    except ValueError:
        return Server(provider, None, None)


def server_from_base_url(provider: str, base_url: Any) -> Server:
    """From an ``httpx.URL`` (a Stainless client's ``base_url``), or the provider alone when absent."""
    if base_url is None:
        return Server(provider, None, None)
    host = getattr(base_url, "host", None)
    return server_at(provider, host, getattr(base_url, "port", None), str(getattr(base_url, "scheme", "") or ""))
