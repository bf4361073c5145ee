"""The gateway's live answers: anomaly detection every few minutes and digests on a schedule.

``genai-cost gateway --store S`` with an ``anomalies:`` or ``digests:`` section (or the alert
channels) starts one ``LiveAnswers`` thread. Every ``interval`` seconds it runs the same detectors
as ``genai-cost anomalies`` over yesterday and today, and sends each finding it has not sent
before (its ``key`` holds the rule, the dimension and the window: a day, an hour or a call) to the
alert channels — once per window, however often it looks, and across restarts: the store records
what went out (``EmbeddedStore.claim``). At the configured times it sends the
daily digest (the previous UTC day) and the weekly one (the previous seven days).

It reads the store, never the ingest path: a slow query delays the next look, not a span. Errors
are logged (once per kind) and retried at the next tick; the thread never takes the gateway down.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from genai_cost.reports.anomalies import AnomalySettings, detect
from genai_cost.reports.digest import Channels, deliver, findings_documents, send_digest
from genai_cost.reports.overview import gather, period_bounds

log = logging.getLogger("genai_cost.reports")

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_REMEMBERED = 10_000  # finding keys kept for de-duplication


class InvalidDigestSettings(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"digests.{key}: {problem}")
        self.key, self.problem = key, problem


@dataclass(frozen=True)
class DigestSchedule:
    """When digests go out (UTC): ``daily`` at a time, ``weekly`` on a weekday at a time; None: never."""

    daily: time | None = None
    weekly: tuple[int, time] | None = None

    @classmethod
    def from_mapping(cls, value: dict[str, Any]) -> DigestSchedule:
        unknown = sorted(set(value) - {"daily", "weekly"})
        if unknown:
            raise InvalidDigestSettings(unknown[0], "unknown key (expected daily, weekly)")
        daily = _clock(value["daily"], "daily") if value.get("daily") is not None else None
        weekly = None
        if value.get("weekly") is not None:
            text = str(value["weekly"]).strip().lower().split()
            if len(text) != 2 or text[0] not in WEEKDAYS:
                raise InvalidDigestSettings("weekly", f"expected 'monday 08:00', got {value['weekly']!r}")
            weekly = (WEEKDAYS.index(text[0]), _clock(text[1], "weekly"))
        return cls(daily, weekly)


def _clock(value: Any, key: str) -> time:
    try:
        hour, minute = (int(part) for part in str(value).split(":"))
        return time(hour, minute, tzinfo=UTC)
    except (ValueError, TypeError):
        raise InvalidDigestSettings(key, f"expected a UTC time like 08:00, got {value!r}") from None


class LiveAnswers:
    """One background thread per gateway: detectors on a timer, digests on a schedule."""

    def __init__(
        self,
        store: Any,
        channels: Channels,
        *,
        anomalies: AnomalySettings | None = None,
        schedule: DigestSchedule | None = None,
        interval: float = 300.0,
        budgets: Callable[[], Sequence[Any]] = lambda: (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.channels = channels
        self.anomalies = anomalies or AnomalySettings()
        self.schedule = schedule or DigestSchedule()
        self.interval = interval
        self._budgets = budgets
        self._clock = clock
        self._sent: OrderedDict[str, None] = OrderedDict()
        self._digests_sent: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._logged: set[str] = set()
        self.findings_sent = 0
        self.digests_sent = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="genai-cost-answers", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.interval)

    def tick(self) -> None:
        """One look: new findings out, and any digest that is due (public for tests and cron-like use)."""
        now = self._clock()
        for job, run in (("detecting anomalies", self._detect), ("sending digests", self._digests)):
            if self._stop.is_set():  # the gateway is stopping: leave the store to its writer
                return
            try:
                run(now)
            except Exception:
                if job not in self._logged:
                    self._logged.add(job)
                    log.exception("genai-cost: %s from the spend store failed; trying again next time", job)

    def _detect(self, now: datetime) -> None:
        since = datetime.combine(now.date(), datetime.min.time(), UTC) - timedelta(days=1)
        unseen = [f for f in detect(self.store, since, now, self.anomalies) if f.key not in self._sent]
        # Claimed before they are remembered: a store error here leaves them to the next tick.
        fresh = self._claimed(unseen, key=lambda finding: f"finding|{finding.key}")
        for finding in unseen:
            self._remember(finding.key)
        if not fresh:
            return
        for finding in fresh:
            log.warning("genai-cost: anomaly: %s", finding.message)
        if self.channels:
            title, plain, document, slack_document = findings_documents(fresh)
            for problem in deliver(
                self.channels, title=title, plain=plain, document=document, slack_document=slack_document
            ):
                log.warning("genai-cost: anomaly alert not delivered: %s", problem)
        self.findings_sent += len(fresh)

    def _claimed(self, items: list[Any], key: Callable[[Any], str]) -> list[Any]:
        """Those of ``items`` no earlier run of the gateway sent: the store remembers what went out
        (``claim``), so a restart does not send a finding or a digest twice. A store that cannot
        remember (read-only engines) leaves this process's own memory as the only guard."""
        claim = getattr(self.store, "claim", None)
        if claim is None or not items:
            return items
        fresh = set(claim([key(item) for item in items]))
        return [item for item in items if key(item) in fresh]

    def _remember(self, key: str) -> None:
        self._sent[key] = None
        if len(self._sent) > _REMEMBERED:
            self._sent.popitem(last=False)

    def _digests(self, now: datetime) -> None:
        today = datetime.combine(now.date(), datetime.min.time(), UTC)
        due = []
        if self.schedule.daily is not None and now.timetz() >= self.schedule.daily:
            due.append(("day", today))
        if self.schedule.weekly is not None:
            weekday, at = self.schedule.weekly
            if now.weekday() == weekday and now.timetz() >= at:
                due.append(("week", today))
        for period, until in due:
            key = f"{period}|{until.date().isoformat()}"
            if key in self._digests_sent:
                continue
            since, until = period_bounds(period, until)
            overview = gather(self.store, since, until, anomalies=self.anomalies, budgets=self._budgets())
            # A store error before this point leaves the digest to the next tick; once claimed it
            # goes out once, sent or failed (a broken channel must not mail every tick).
            if self._claimed([key], key=lambda k: f"digest|{k}"):  # else an earlier run sent it
                problems = send_digest(overview, "day" if period == "day" else "week", self.channels)
                self.digests_sent += 1
                for problem in problems:
                    log.warning("genai-cost: %s digest not delivered: %s", period, problem)
            self._digests_sent.add(key)
