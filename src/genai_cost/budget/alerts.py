"""Budget alerts: threshold crossings and blocks, to the log, to webhooks and by e-mail, off the call path.

The guard hands each ``BudgetAlert`` (kind ``threshold``, ``block``, ``warn`` or ``downgrade``) to
its ``on_alert`` callbacks on the caller's thread; an ``AlertDispatcher`` is one such callback. It
costs the caller a dict lookup: the first alert per ``dedup_key`` (budget + scope + window +
threshold or kind) is logged at WARNING on logger ``genai_cost.budget`` and queued for each
webhook; repeats in the same window (every further blocked call) are logged at DEBUG only. A
daemon thread does the HTTP: a timeout per attempt, retries with exponential backoff and jitter on
network errors, 408, 429 and 5xx. The queue is bounded (an unreachable webhook must not grow
memory without limit) and, at exit, the pending alerts get ``shutdown_timeout`` seconds to go out.

Webhook bodies: ``json`` is the alert as a flat object (``alert_json``); ``slack`` is what a Slack
incoming webhook takes (``{"text": ..., "blocks": [...]}``; Mattermost and Discord's ``/slack``
endpoint read it too).

Redirects are never followed (``Redirected``): the alert's headers would go wherever ``Location``
points. A redirect counts as a failed delivery, is not retried, and is logged once per webhook.

Only the stdlib's urllib talks HTTP here: no client library to pin against the host app's.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from genai_cost.budget.policy import BLOCK, DOWNGRADE
from genai_cost.budget.state import BudgetAlert as Alert
from genai_cost.channels.email import EmailChannel
from genai_cost.redaction import redact_url

log = logging.getLogger("genai_cost.budget")

JSON_FORMAT: Final = "json"
SLACK_FORMAT: Final = "slack"
FORMATS: Final = (JSON_FORMAT, SLACK_FORMAT)

THRESHOLD: Final = "threshold"  # BudgetAlert.kind; the others are the policy actions

# Statuses worth another attempt: the receiver is busy or broken now, not refusing the alert.
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_MAX_BACKOFF = 30.0
# Alert keys remembered for de-duplication: one per budget scope per window per threshold, so a
# per-user fan-out with many users stays bounded by forgetting the oldest.
_MAX_REMEMBERED = 10_000


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


@dataclass(frozen=True)
class AlertSettings:
    webhooks: tuple[Webhook, ...] = ()
    queue_size: int = 1000
    shutdown_timeout: float = 5.0
    email: EmailChannel | None = None


def redact(url: str) -> str:
    """A webhook URL fit for a log line: Slack-style URLs carry their secret in the path, and a
    password in the URL is masked."""
    parts = urlsplit(redact_url(url))
    return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "<webhook>"


# --- bodies --------------------------------------------------------------------------------


def _percent_spent(alert: Alert) -> float | None:
    return round(100.0 * alert.spent / alert.limit, 2) if alert.limit > 0 else None


def describe(alert: Alert) -> str:
    """One line for the log and for chat: what happened, to which budget, and until when."""
    name = f"{alert.budget}[{alert.scope}]" if alert.scope else alert.budget
    money = f"{alert.spent:.4f} of {alert.limit:.4f} {alert.currency} spent this {alert.window}"
    if alert.kind == THRESHOLD:
        what = f"passed {alert.threshold:g}% of its limit: {money}"
    # Block/downgrade/warn happen when a call's estimate would not fit, so "spent" can still be
    # under the limit (or the ledger was unreachable and the fail mode is closed).
    elif alert.kind == BLOCK:
        what = f"blocked a call: {money}"
    elif alert.kind == DOWNGRADE:
        what = f"downgraded {alert.model or 'a call'} to {alert.downgrade_to}: {money}"
    else:
        what = f"would be passed; calls go on (action warn): {money}"
    return f"budget {name} {what}; resets {alert.reset_at.isoformat()}"


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "event": f"genai_cost.budget.{alert.kind}",
        **alert.as_dict(),
        "remaining": max(0.0, alert.limit - alert.spent),
        "percent_spent": _percent_spent(alert),
        "message": describe(alert),
    }


def alert_slack(alert: Alert) -> dict[str, Any]:
    icon = ":no_entry:" if alert.kind == BLOCK else ":warning:"
    text = f"{icon} {describe(alert)}"
    # Slack renders <!date^...> in the reader's own time zone; the text after | is the fallback.
    resets = f"<!date^{int(alert.reset_at.timestamp())}^{{date_short_pretty}} {{time}}|{alert.reset_at.isoformat()}>"
    fields = [
        f"*Spent*\n{alert.spent:.4f} {alert.currency}",
        f"*Limit*\n{alert.limit:.4f} {alert.currency} per {alert.window}",
        f"*Resets*\n{resets}",
    ]
    if alert.scope:
        fields.append(f"*Scope*\n{alert.scope}")
    return {
        "text": text,  # the notification preview, and what clients without blocks show
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        ],
    }


_BODIES: Mapping[str, Callable[[Alert], dict[str, Any]]] = {JSON_FORMAT: alert_json, SLACK_FORMAT: alert_slack}


# --- delivery ------------------------------------------------------------------------------


class _Retry(Exception):
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
    """One attempt; raises ``_Retry`` when another attempt may succeed, ``Redirected`` for a 3xx."""
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
            raise _Retry(f"HTTP {error.code}", _retry_after(error.headers.get("Retry-After"))) from None
        raise
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise _Retry(str(getattr(error, "reason", error) or type(error).__name__)) from None


def backoff_delay(webhook: Webhook, attempt: int, retry_after: float | None = None) -> float:
    """Delay before retry ``attempt`` (0-based): exponential, capped, with "equal jitter" so
    many processes alerting at once do not retry in lock-step; never sooner than the receiver's
    ``Retry-After`` (up to the same cap: one sender must not stall for an hour)."""
    ceiling = min(_MAX_BACKOFF, webhook.backoff * (2**attempt))
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    return max(delay, min(retry_after, _MAX_BACKOFF)) if retry_after else delay


_STOP: Final = object()


class _Sender:
    """One webhook's queue and thread: a receiver that hangs delays only its own alerts."""

    def __init__(self, webhook: Webhook | None, queue_size: int, logger: logging.Logger) -> None:
        self.webhook = webhook
        self.target = redact(webhook.url) if webhook is not None else "?"  # for log lines: never a secret
        self._log = logger
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.deadline = float("inf")  # set by close(): no attempt, retry or wait goes past it
        self.dropped = 0
        self.delivered = 0
        self.failed = 0
        self._redirect_logged = False  # a misconfigured URL redirects every alert: say so once

    def submit(self, alert: Alert) -> None:
        if self._thread is None:
            self._start()
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1
            self._log.warning("genai-cost: budget alert queue full; not sending to %s", self.target)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="genai-cost-alerts", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            alert = self._queue.get()
            if alert is _STOP:
                return
            if time.monotonic() >= self.deadline:
                self.dropped += 1
                continue
            try:
                self._deliver(alert)
            except Exception:
                self.failed += 1
                self._log.exception("genai-cost: sending a budget alert to %s failed", self.target)

    def _deliver(self, alert: Alert) -> None:
        webhook = self.webhook
        if webhook is None:  # only _EmailSender has none, and it delivers its own way
            return
        body = json.dumps(_BODIES[webhook.format](alert), separators=(",", ":")).encode()
        attempt = 0
        while True:
            try:
                post(webhook, body, max(0.001, min(webhook.timeout, self.deadline - time.monotonic())))
                self.delivered += 1
                return
            except Redirected as redirect:
                self.failed += 1
                if not self._redirect_logged:
                    self._redirect_logged = True
                    self._log.warning("genai-cost: budget alert to %s not delivered: %s", redact(webhook.url), redirect)
                return
            except _Retry as why:
                delay = backoff_delay(webhook, attempt, why.retry_after)
                if attempt >= webhook.retries or time.monotonic() + delay >= self.deadline:
                    self.failed += 1
                    self._log.warning(
                        "genai-cost: budget alert to %s not delivered after %d attempts (%s)",
                        redact(webhook.url),
                        attempt + 1,
                        why,
                    )
                    return
            attempt += 1
            time.sleep(delay)

    def close(self, deadline: float) -> bool:
        thread = self._thread
        if thread is None:
            return True
        self.deadline = deadline
        try:
            self._queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
        except queue.Full:
            pass
        thread.join(max(0.0, deadline - time.monotonic()))
        return not thread.is_alive()


class _EmailSender(_Sender):
    """Budget alerts by e-mail (``alerts.email``): the same queue, thread and shutdown bound as a
    webhook's; an attempt that fails is retried twice, 5 and 10 s apart, inside that bound."""

    _RETRY_DELAYS = (5.0, 10.0)

    def __init__(self, channel: EmailChannel, queue_size: int, logger: logging.Logger) -> None:
        super().__init__(None, queue_size, logger)
        self.channel = channel
        self.target = channel.describe()

    def _deliver(self, alert: Alert) -> None:
        from genai_cost.channels.email import EmailNotSent

        subject = describe(alert)
        text = subject + "\n\n" + "\n".join(f"{k}: {v}" for k, v in alert_json(alert).items() if k != "message") + "\n"
        for attempt, delay in enumerate((*self._RETRY_DELAYS, None)):
            try:
                self.channel.send(subject, text)
                self.delivered += 1
                return
            except EmailNotSent as why:
                if delay is None or time.monotonic() + delay >= self.deadline:
                    self.failed += 1
                    self._log.warning(
                        "genai-cost: budget alert to %s not delivered after %d attempts (%s)",
                        self.target,
                        attempt + 1,
                        why,
                    )
                    return
            time.sleep(delay)


class AlertDispatcher:
    """An ``on_alert`` callback: log, de-duplicate, and hand each new alert to every webhook's
    sender thread."""

    def __init__(self, settings: AlertSettings | None = None, *, logger: logging.Logger = log) -> None:
        self.settings = settings or AlertSettings()
        self._log = logger
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._seen_lock = threading.Lock()
        senders = [_Sender(w, self.settings.queue_size, logger) for w in self.settings.webhooks]
        if self.settings.email is not None:
            senders.append(_EmailSender(self.settings.email, self.settings.queue_size, logger))
        self._senders = tuple(senders)
        self._closing = False
        if self._senders:
            _register_shutdown(self)

    # Totals over the webhooks, for tests and diagnostics.
    @property
    def delivered(self) -> int:
        return sum(s.delivered for s in self._senders)

    @property
    def failed(self) -> int:
        return sum(s.failed for s in self._senders)

    @property
    def dropped(self) -> int:
        """Alerts not delivered: a full queue, or still pending at the shutdown bound."""
        return sum(s.dropped for s in self._senders)

    # -- on the caller's thread: cheap, never raises --

    def __call__(self, alert: Alert) -> None:
        try:
            self._accept(alert)
        except Exception:
            self._log.exception("genai-cost: handling a budget alert failed")

    def _accept(self, alert: Alert) -> None:
        # The key holds the window's name: a new window is a new key, so each threshold fires again.
        if not self._first(alert.dedup_key):
            if self._log.isEnabledFor(logging.DEBUG):  # every blocked call lands here: stay cheap
                self._log.debug("%s (again)", describe(alert))
            return
        self._log.warning("%s", describe(alert))
        if self._closing:
            return
        for sender in self._senders:
            sender.submit(alert)

    def _first(self, key: str) -> bool:
        if key in self._seen:  # the common repeat (every blocked call) takes no lock
            return False
        with self._seen_lock:
            if key in self._seen:
                return False
            self._seen[key] = None
            if len(self._seen) > _MAX_REMEMBERED:
                self._seen.popitem(last=False)
            return True

    # -- shutdown --

    def close(self, timeout: float | None = None) -> bool:
        """Deliver what is queued, waiting at most ``timeout`` seconds in all (default: the
        settings' ``shutdown_timeout``); returns whether everything queued went out in time."""
        bound = self.settings.shutdown_timeout if timeout is None else timeout
        self._closing = True
        deadline = time.monotonic() + bound
        for sender in self._senders:  # every sender stops trying at the same moment
            sender.deadline = deadline
        done = all([sender.close(deadline) for sender in self._senders])
        if not done:
            self._log.warning("genai-cost: budget alerts still pending after %.1f s at shutdown; dropped", bound)
        return done


# Dispatchers with webhooks, flushed at interpreter exit (a replaced one too: its alerts count).
_live: list[AlertDispatcher] = []
_atexit_registered = False


def _register_shutdown(dispatcher: AlertDispatcher) -> None:
    global _atexit_registered
    _live.append(dispatcher)
    if not _atexit_registered:
        _atexit_registered = True
        atexit.register(_flush_all)


def _flush_all() -> None:
    for dispatcher in list(_live):
        dispatcher.close()
