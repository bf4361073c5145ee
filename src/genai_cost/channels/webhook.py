"""Webhooks: where budget alerts, anomaly findings and spend digests are POSTed, and how.

One ``Webhook`` is a receiver (URL, body format, timeout, retries, headers); ``send`` delivers one
body to it: a timeout per attempt, retries with exponential backoff and "equal jitter" on network
errors, 408, 425, 429 and 5xx, never sooner than the receiver's ``Retry-After`` and never past the
caller's deadline. Budget alerts (``budget.alerts``, on a daemon thread) and digests
(``reports.digest``, from the CLI) use this one function, so they retry alike.

Redirects are never followed (``Redirected``): the body's headers (``Authorization``) would go
wherever ``Location`` points. URLs are redacted (``redact``) before any log line: Slack-style
URLs carry their secret in the path.

Only the stdlib's urllib talks HTTP here: no client library to pin against the host app's.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from genai_cost.redaction import redact_url

JSON_FORMAT: Final = "json"
SLACK_FORMAT: Final = "slack"
FORMATS: Final = (JSON_FORMAT, SLACK_FORMAT)

# Statuses worth another attempt: the receiver is busy or broken now, not refusing the alert.
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_MAX_BACKOFF = 30.0


class InvalidWebhook(ValueError):
    """A webhook setting that cannot be used; ``key`` names it (config errors point at it)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"webhook {key}: {problem}")
        self.key, self.problem = key, problem


@dataclass(frozen=True)
class Webhook:
    """One alert receiver. ``timeout`` is per attempt; ``retries`` are attempts after the first;
    ``backoff`` is the first retry's delay (doubling, with jitter, up to 30 s)."""

    url: str
    format: str = JSON_FORMAT
    timeout: float = 5.0
    retries: int = 3
    backoff: float = 0.5
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url) if isinstance(self.url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise InvalidWebhook("url", "expected an http:// or https:// URL")  # no echo: it holds a secret
        if self.format not in FORMATS:
            raise InvalidWebhook("format", f"expected one of {', '.join(FORMATS)}, got {self.format!r}")
        if not self.timeout > 0:
            raise InvalidWebhook("timeout", f"expected a number of seconds > 0, got {self.timeout!r}")
        if self.retries < 0:
            raise InvalidWebhook("retries", f"expected an integer >= 0, got {self.retries!r}")
        if self.backoff < 0:
            raise InvalidWebhook("backoff", f"expected a number of seconds >= 0, got {self.backoff!r}")
        object.__setattr__(self, "headers", dict(self.headers))


def redact(url: str) -> str:
    """A webhook URL fit for a log line: Slack-style URLs carry their secret in the path, and a
    password in the URL is masked."""
    parts = urlsplit(redact_url(url))
    return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "<webhook>"


class _TryAgain(Exception):
    """A failed attempt worth repeating; ``retry_after`` is what the receiver asked for, if it did."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (Slack sends it with 429); the HTTP-date form is not used by
    webhook receivers and is ignored."""
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


class Redirected(Exception):
    """The webhook answered with a redirect. Never followed: urllib would resend the alert's
    headers (``Authorization``) to wherever ``Location`` points, another host included, as a
    GET without the body -- and a redirect is not a delivery either. Not retried."""

    def __init__(self, status: int, location: str | None) -> None:
        where = redact_url(location) if location else "nowhere"
        super().__init__(f"HTTP {status} redirect to {where}; alerts are not sent on (fix the webhook URL)")


_opener: Any = None


def _no_redirect_opener() -> Any:
    """A urllib opener whose redirect handler follows nothing (urllib then raises the 3xx)."""
    global _opener
    if _opener is None:
        import urllib.request

        class NoRedirects(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        _opener = urllib.request.build_opener(NoRedirects)
    return _opener


def post(webhook: Webhook, body: bytes, timeout: float) -> None:
    """One attempt; raises ``_TryAgain`` when another attempt may succeed, ``Redirected`` for a 3xx."""
    import urllib.error  # deferred: most processes never send an alert
    import urllib.request

    request = urllib.request.Request(
        webhook.url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": "genai-cost", **webhook.headers},
    )
    try:
        with _no_redirect_opener().open(request, timeout=timeout) as response:
            response.read()
    except urllib.error.HTTPError as error:
        if 300 <= error.code < 400:
            raise Redirected(error.code, error.headers.get("Location")) from None
        if error.code in _RETRY_STATUSES:
            raise _TryAgain(f"HTTP {error.code}", _retry_after(error.headers.get("Retry-After"))) from None
        raise
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise _TryAgain(str(getattr(error, "reason", error) or type(error).__name__)) from None


def backoff_delay(webhook: Webhook, attempt: int, retry_after: float | None = None) -> float:
    """Delay before retry ``attempt`` (0-based): exponential, capped, with "equal jitter" so
    many processes alerting at once do not retry in lock-step; never sooner than the receiver's
    ``Retry-After`` (up to the same cap: one sender must not stall for an hour)."""
    ceiling = min(_MAX_BACKOFF, webhook.backoff * (2**attempt))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    return max(delay, min(retry_after, _MAX_BACKOFF)) if retry_after else delay


class NotDelivered(RuntimeError):
    """Every attempt allowed (``retries``, or the deadline) failed; the message says how many and why."""


def send(webhook: Webhook, body: bytes, *, deadline: float = math.inf) -> None:
    """POST ``body`` to ``webhook``, retrying as the webhook allows; no attempt, wait or retry goes
    past ``deadline`` (a ``time.monotonic()`` value). Raises ``NotDelivered`` when every attempt
    failed, ``Redirected`` on a 3xx (not retried) and the ``HTTPError`` of any other refusal."""
    attempt = 0
    while True:
        try:
            post(webhook, body, max(0.001, min(webhook.timeout, deadline - time.monotonic())))
            return
        except _TryAgain as why:
            delay = backoff_delay(webhook, attempt, why.retry_after)
            if attempt >= webhook.retries or time.monotonic() + delay >= deadline:
                raise NotDelivered(f"not delivered after {attempt + 1} attempts ({why})") from None
        attempt += 1
        time.sleep(delay)
