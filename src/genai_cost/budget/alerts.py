"""Budget alerts: threshold crossings and blocks, to the log, to webhooks and by e-mail, off the call path.

The guard hands each ``BudgetAlert`` (kind ``threshold``, ``block``, ``warn`` or ``downgrade``) to
its ``on_alert`` callbacks on the caller's thread; an ``AlertDispatcher`` is one such callback. It
costs the caller a dict lookup: the first alert per ``dedup_key`` (budget + scope + window +
threshold or kind) is logged at WARNING on logger ``genai_cost.budget`` and queued for each
webhook; repeats in the same window (every further blocked call) are logged at DEBUG only. A
daemon thread does the HTTP: a timeout per attempt, retries with exponential backoff and jitter on
network errors, 408, 429 and 5xx. The queue is bounded (an unreachable webhook must not grow
memory without limit) and, at exit, the pending alerts get ``shutdown_timeout`` seconds to go out.

Delivery (timeouts, retries, backoff, no redirects) is ``channels.webhook.send``, shared with
the digests. Webhook bodies: ``json`` is the alert as a flat object (``alert_json``); ``slack`` is what a Slack
incoming webhook takes (``{"text": ..., "blocks": [...]}``; Mattermost and Discord's ``/slack``
endpoint read it too).

A redirect counts as a failed delivery, is not retried, and is logged once per webhook.
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from genai_cost.budget.policy import BLOCK, DOWNGRADE
from genai_cost.budget.state import BudgetAlert as Alert
from genai_cost.channels.email import EmailChannel
from genai_cost.channels.webhook import JSON_FORMAT, SLACK_FORMAT, NotDelivered, Redirected, Webhook, redact, send

log = logging.getLogger("genai_cost.budget")

THRESHOLD: Final = "threshold"  # BudgetAlert.kind; the others are the policy actions

# Alert keys remembered for de-duplication: one per budget scope per window per threshold, so a
# per-user fan-out with many users stays bounded by forgetting the oldest.
_MAX_REMEMBERED = 10_000


@dataclass(frozen=True)
class AlertSettings:
    webhooks: tuple[Webhook, ...] = ()
    queue_size: int = 1000
    shutdown_timeout: float = 5.0
    email: EmailChannel | None = None


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
        try:
            send(webhook, body, deadline=self.deadline)
        except Redirected as redirect:
            self.failed += 1
            if not self._redirect_logged:  # a misconfigured URL redirects every alert: say so once
                self._redirect_logged = True
                self._log.warning("genai-cost: budget alert to %s not delivered: %s", self.target, redirect)
        except NotDelivered as why:
            self.failed += 1
            self._log.warning("genai-cost: budget alert to %s %s", self.target, why)
        else:
            self.delivered += 1

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
