"""Anomaly detection over the spend store: what changed, named with its figures and baseline.

Detectors (each can be switched off or tuned in the config file's ``anomalies:`` section):

* ``cost_per_request`` — a project's or feature's daily spend up by ``daily_increase`` (50 %) or
  more while its requests did not grow as much: cost per request rose. A bug that loops a prompt,
  an injected prompt that asks for pages, a model switched to a dearer one. Compared with the
  same weekday of earlier weeks when the baseline holds two or more of them (weekly seasonality:
  Monday's traffic is not Sunday's), else with the baseline's daily mean.
* ``expensive_call`` — any single call above ``call_threshold`` ($1).
* ``call_outlier`` — calls costing more than ``outlier_factor`` × the p95 of their feature and model
  over the baseline (with at least ``outlier_min_calls`` calls behind that p95, and each call above
  ``outlier_min_amount``), one finding per feature, model and day.
* ``spend_rate`` — an hour's spend above ``rate_factor`` × its usual for that hour of the day (of
  the week, with two or more weeks of baseline).
* ``new_model`` / ``new_key`` — a model or API-key fingerprint never seen in the baseline.
* ``unpriced_jump`` — a day's unpriced calls well above their usual: a model we cannot price is
  spend nobody sees.

Quiet by design: a group needs ``min_baseline_days`` days of history before anything about it
fires (no page for a new project's first calls, nor for "new" models in a store that is new
itself), and money rules ignore sums under ``min_amount`` (noise of a few cents).

Each ``Finding`` names its rule, its dimension, the figure, the baseline it was held against and
a ``key`` that is the same for the same finding in the same window: the gateway's live detector
sends each key once.

Everything reads the store through ``reports.query`` (grouped totals by day and hour, quantiles,
calls above an amount), so it runs the same on the embedded store and on ClickHouse.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

from genai_cost.reports import query

RULES = (
    "cost_per_request",
    "expensive_call",
    "call_outlier",
    "spend_rate",
    "new_model",
    "new_key",
    "unpriced_jump",
)


class InvalidAnomalySettings(ValueError):
    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"anomalies.{key}: {problem}")
        self.key, self.problem = key, problem


@dataclass(frozen=True)
class AnomalySettings:
    """Thresholds and baselines (the config file's ``anomalies:`` section)."""

    rules: tuple[str, ...] = RULES
    baseline_days: int = 14
    min_baseline_days: int = 3
    min_amount: float = 1.0  # money rules ignore days/hours below this
    daily_increase: float = 0.5  # +50 % spend ...
    dimensions: tuple[str, ...] = ("project", "feature")
    call_threshold: float = 1.0
    outlier_factor: float = 2.0
    outlier_min_calls: int = 50
    outlier_min_amount: float = 0.01  # a call under a cent is not worth a page, whatever its ratio
    rate_factor: float = 2.0
    unpriced_factor: float = 2.0
    unpriced_min_calls: int = 10

    def __post_init__(self) -> None:
        unknown = [rule for rule in self.rules if rule not in RULES]
        if unknown:
            raise InvalidAnomalySettings("rules", f"unknown rule {unknown[0]!r} (expected some of {', '.join(RULES)})")
        for name in ("baseline_days", "min_baseline_days", "outlier_min_calls", "unpriced_min_calls"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidAnomalySettings(name, f"expected a whole number >= 1, got {value!r}")
        if self.min_baseline_days > self.baseline_days:
            raise InvalidAnomalySettings("min_baseline_days", "cannot exceed baseline_days")
        for name in (
            "min_amount",
            "daily_increase",
            "call_threshold",
            "outlier_factor",
            "outlier_min_amount",
            "rate_factor",
            "unpriced_factor",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
                raise InvalidAnomalySettings(name, f"expected a number >= 0, got {value!r}")
        for dimension in self.dimensions:
            if dimension not in query.DIMENSIONS:
                raise InvalidAnomalySettings("dimensions", f"unknown dimension {dimension!r}")

    @classmethod
    def from_mapping(cls, value: Mapping[str, Any]) -> AnomalySettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(value) - known)
        if unknown:
            raise InvalidAnomalySettings(unknown[0], f"unknown key (expected some of {', '.join(sorted(known))})")
        values = dict(value)
        for name in ("rules", "dimensions"):
            if name in values:
                if isinstance(values[name], str) or not isinstance(values[name], Sequence):
                    raise InvalidAnomalySettings(name, "expected a list")
                values[name] = tuple(values[name])
        return cls(**values)


@dataclass(frozen=True)
class Finding:
    """One anomaly: ``rule``, where (``dimension``), when (``window``), the figure and its baseline."""

    rule: str
    dimension: dict[str, str | None]
    window: str  # the day, hour or call it is about
    value: float
    baseline: float | None
    message: str
    figures: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The same for the same finding in the same window (what live alerts de-duplicate on)."""
        where = ",".join(f"{k}={v}" for k, v in sorted(self.dimension.items()))
        return f"{self.rule}|{where}|{self.window}"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key}


# --- the detectors ----------------------------------------------------------------------------


def detect(
    store: Any,
    since: datetime,
    until: datetime,
    settings: AnomalySettings | None = None,
) -> list[Finding]:
    """Every enabled rule over ``[since, until)``, against the ``baseline_days`` before ``since``."""
    settings = settings or AnomalySettings()
    baseline_start = _day(since) - timedelta(days=settings.baseline_days)
    findings: list[Finding] = []
    rules = set(settings.rules)
    if "cost_per_request" in rules:
        for dimension in settings.dimensions:
            groups = query.totals(store, (dimension, "day"), baseline_start, until)
            findings += cost_per_request(groups, dimension, since, until, settings)
    if "expensive_call" in rules:
        findings += expensive_calls(query.calls(store, since, until, min_amount=settings.call_threshold), settings)
    if "call_outlier" in rules:
        p95 = query.quantiles(store, ("feature", "model"), 0.95, baseline_start, _day(since))
        findings += call_outliers(store, p95, since, until, settings)
    if "spend_rate" in rules:
        groups = query.totals(store, ("hour",), baseline_start, until)
        findings += spend_rate(groups, since, until, settings)
    for rule, dimension in (("new_model", "model"), ("new_key", "key")):
        if rule in rules:
            before = query.totals(store, (dimension, "day"), baseline_start, _day(since))
            now = query.totals(store, (dimension,), since, until)
            findings += never_seen(rule, dimension, before, now, settings)
    if "unpriced_jump" in rules:
        groups = query.totals(store, ("day",), baseline_start, until)
        findings += unpriced_jump(groups, since, until, settings)
    return findings


def cost_per_request(
    groups: Iterable[query.Group], dimension: str, since: datetime, until: datetime, settings: AnomalySettings
) -> list[Finding]:
    """Daily groups by (dimension, day) over baseline + period: days in the period whose spend and
    cost per request both rose by ``daily_increase`` against their baseline."""
    by_value: dict[str | None, dict[str, query.Group]] = defaultdict(dict)
    for group in groups:
        day = group.keys["day"]
        if day is not None:
            by_value[group.keys[dimension]][day] = group
    findings = []
    threshold = 1 + settings.daily_increase
    for value, days in by_value.items():
        for day in _complete_days(since, until):
            today = days.get(day)
            if today is None or today.amount is None or today.amount < settings.min_amount or not today.priced_calls:
                continue
            baseline = _baseline_days(days, day, settings)
            if baseline is None:
                continue
            base_amount, base_calls = baseline
            if base_amount <= 0 or base_calls <= 0:
                continue
            cost_per_call = today.amount / today.priced_calls
            base_cost_per_call = base_amount / base_calls
            if today.amount >= threshold * base_amount and cost_per_call >= threshold * base_cost_per_call:
                findings.append(
                    Finding(
                        "cost_per_request",
                        {dimension: value},
                        day,
                        today.amount,
                        base_amount,
                        f"{dimension} {value or '(none)'} spent {_money(today.amount)} on {day}, "
                        f"{today.amount / base_amount - 1:+.0%} against its usual {_money(base_amount)}, "
                        f"while requests went {today.priced_calls / base_calls - 1:+.0%} "
                        f"({today.priced_calls} vs {base_calls:.0f}): cost per request "
                        f"{_money(cost_per_call)} vs {_money(base_cost_per_call)}",
                        {
                            "calls": today.priced_calls,
                            "baseline_calls": base_calls,
                            "cost_per_call": cost_per_call,
                            "baseline_cost_per_call": base_cost_per_call,
                        },
                    )
                )
    return findings


def _baseline_days(days: Mapping[str, query.Group], day: str, settings: AnomalySettings) -> tuple[float, float] | None:
    """Mean (amount, priced calls) of the group on its baseline days before ``day``: the same
    weekday of earlier weeks when there are two or more, else every baseline day; None when the
    group has fewer than ``min_baseline_days`` days of history (a new project is not an anomaly)."""
    start = datetime.fromisoformat(day)
    earlier = [(start - timedelta(days=offset)).date().isoformat() for offset in range(1, settings.baseline_days + 1)]
    seen = [days[d] for d in earlier if d in days and days[d].calls]
    if len(seen) < settings.min_baseline_days:
        return None
    same_weekday = [days[d] for d in earlier[6::7] if d in days and days[d].calls]
    chosen = same_weekday if len(same_weekday) >= 2 else seen
    # Days with calls but nothing priced count as zero spend (unpriced calls are their own rule).
    amount = sum(g.amount or 0.0 for g in chosen) / len(chosen)
    calls = sum(g.priced_calls for g in chosen) / len(chosen)
    return amount, calls


def expensive_calls(rows: Iterable[Mapping[str, Any]], settings: AnomalySettings) -> list[Finding]:
    findings = []
    for row in rows:
        amount = row.get("amount")
        if amount is None or amount <= settings.call_threshold:
            continue
        findings.append(
            Finding(
                "expensive_call",
                {
                    "project": row.get("project"),
                    "feature": row.get("feature"),
                    "model": row.get("response_model") or row.get("request_model"),
                },
                _call_window(row),
                amount,
                settings.call_threshold,
                f"one call cost {_money(amount)} (threshold {_money(settings.call_threshold)}): "
                f"{row.get('response_model') or row.get('request_model')} "
                f"for project {row.get('project') or '(none)'}, "
                f"{row.get('input_tokens') or 0} input / {row.get('output_tokens') or 0} output tokens, "
                f"trace {_hex(row.get('trace_id'))}",
                _call_figures(row),
            )
        )
    return findings


def call_outliers(
    store: Any,
    p95: Mapping[tuple[str | None, ...], tuple[float, int]],
    since: datetime,
    until: datetime,
    settings: AnomalySettings,
) -> list[Finding]:
    """Calls in the period above ``outlier_factor`` × their (feature, model) baseline p95 and above
    ``outlier_min_amount``: one finding per feature, model and day, naming how many and the dearest."""
    eligible = {key: value for key, (value, count) in p95.items() if count >= settings.outlier_min_calls and value > 0}
    if not eligible:
        return []
    lowest = max(min(eligible.values()) * settings.outlier_factor, settings.outlier_min_amount)
    outliers: dict[tuple[Any, ...], list[Mapping[str, Any]]] = defaultdict(list)
    for row in query.calls(store, since, until, min_amount=lowest):
        key = (row.get("feature"), row.get("response_model"))
        p = eligible.get(key)
        amount = row.get("amount")
        if p is None or amount is None or amount <= settings.outlier_factor * p:
            continue
        outliers[(*key, row["time"].date().isoformat())].append(row)
    findings = []
    for (feature, model, day), rows in outliers.items():
        p = eligible[(feature, model)]
        dearest = max(rows, key=lambda r: r["amount"])
        findings.append(
            Finding(
                "call_outlier",
                {"feature": feature, "model": model},
                day,
                dearest["amount"],
                p,
                f"{len(rows)} {model} call{'s' if len(rows) > 1 else ''} for feature {feature or '(none)'} on {day} "
                f"cost more than {settings.outlier_factor:g}× the feature's p95 of {_money(p)}; the dearest "
                f"{_money(dearest['amount'])} ({dearest['amount'] / p:.1f}×), trace {_hex(dearest.get('trace_id'))}",
                {"calls": len(rows), **_call_figures(dearest)},
            )
        )
    return findings


def spend_rate(
    groups: Iterable[query.Group], since: datetime, until: datetime, settings: AnomalySettings
) -> list[Finding]:
    """Hours in the period whose spend passed ``rate_factor`` × the usual for that hour: the mean
    over the baseline days of the same hour (of the same weekday, with two or more weeks), an hour
    without spend counting as zero."""
    hours = {_hour(g.keys["hour"]): g for g in groups if g.keys.get("hour")}
    first_hour = since.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    history_days = {_day(h) for h in hours if h < first_hour}
    if len(history_days) < settings.min_baseline_days:
        return []
    findings = []
    hour = first_hour
    while hour < until:
        current = hours.get(hour)
        if current is not None and current.amount is not None and current.amount >= settings.min_amount:
            earlier = [hour - timedelta(days=d) for d in range(1, settings.baseline_days + 1)]
            earlier = [h for h in earlier if _day(h) in history_days] or earlier
            weekly = [h for h in earlier if (hour - h).days % 7 == 0]
            chosen = weekly if len(weekly) >= 2 else earlier
            usual = sum((hours[h].amount or 0.0) if h in hours else 0.0 for h in chosen) / len(chosen)
            if current.amount > settings.rate_factor * usual:
                key = hour.strftime("%Y-%m-%dT%H:00:00")
                ratio = f"{current.amount / usual:.1f}× the usual" if usual else "against a usual of"
                findings.append(
                    Finding(
                        "spend_rate",
                        {},
                        key,
                        current.amount,
                        usual,
                        f"{_money(current.amount)} spent in the hour from {key}Z, {ratio} {_money(usual)} "
                        "for that hour",
                        {"calls": current.calls},
                    )
                )
        hour += timedelta(hours=1)
    return findings


def never_seen(
    rule: str,
    dimension: str,
    before: Iterable[query.Group],
    now: Iterable[query.Group],
    settings: AnomalySettings,
) -> list[Finding]:
    """Values of ``dimension`` in the period that the baseline never saw (models, key ids); only in a
    store with ``min_baseline_days`` days of history, so a new store does not page for everything."""
    seen = set()
    days = set()
    for group in before:
        seen.add(group.keys[dimension])
        days.add(group.keys["day"])
    if len(days) < settings.min_baseline_days:
        return []
    findings = []
    for group in now:
        value = group.keys[dimension]
        if value is None or value in seen:
            continue
        what = "model" if dimension == "model" else "API key (fingerprint)"
        findings.append(
            Finding(
                rule,
                {dimension: value},
                value,
                group.amount or 0.0,
                None,
                f"{what} {value} never seen in the last {settings.baseline_days} days: {group.calls} calls, "
                f"{_money(group.amount)}",
                {"calls": group.calls},
            )
        )
    return findings


def unpriced_jump(
    groups: Iterable[query.Group], since: datetime, until: datetime, settings: AnomalySettings
) -> list[Finding]:
    days = {g.keys["day"]: g for g in groups if g.keys.get("day")}
    findings = []
    for day in _complete_days(since, until, include_partial=True):
        today = days.get(day)
        if today is None or today.unpriced_calls < settings.unpriced_min_calls:
            continue
        start = datetime.fromisoformat(day)
        earlier = [(start - timedelta(days=d)).date().isoformat() for d in range(1, settings.baseline_days + 1)]
        history = [days[d] for d in earlier if d in days]
        if len(history) < settings.min_baseline_days:
            continue
        usual = sum(g.unpriced_calls for g in history) / len(history)
        if today.unpriced_calls > settings.unpriced_factor * max(usual, 1.0):
            findings.append(
                Finding(
                    "unpriced_jump",
                    {},
                    day,
                    float(today.unpriced_calls),
                    usual,
                    f"{today.unpriced_calls} calls could not be priced on {day} (usually {usual:.1f} a day): "
                    "spend nobody sees; `genai-cost report --by model,status` names the models",
                    {"calls": today.calls},
                )
            )
    return findings


# --- helpers --------------------------------------------------------------------------------------


def _day(when: datetime) -> datetime:
    return datetime.combine(when.astimezone(UTC).date(), datetime.min.time(), UTC)


def _complete_days(since: datetime, until: datetime, include_partial: bool = False) -> list[str]:
    """Days that start at or after ``since``'s day and end by ``until`` (or start before it)."""
    day = _day(since)
    out = []
    while day < until:
        if day + timedelta(days=1) <= until or include_partial:
            out.append(day.date().isoformat())
        day += timedelta(days=1)
    return out


def _hour(key: str) -> datetime:
    return datetime.fromisoformat(key).replace(tzinfo=UTC)


def _money(value: float | None) -> str:
    if value is None:
        return "unknown"
    return f"${value:,.2f}" if abs(value) >= 1 else f"${value:.4f}"


def _hex(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return value.hex()
    return str(value) if value is not None else "?"


def _call_window(row: Mapping[str, Any]) -> str:
    span = row.get("span_id")
    return f"{_hex(row.get('trace_id'))}:{span:016x}" if isinstance(span, int) else _hex(row.get("trace_id"))


def _call_figures(row: Mapping[str, Any]) -> dict[str, Any]:
    when = row.get("time")
    return {
        "time": when.isoformat() if isinstance(when, datetime) else when,
        "trace_id": _hex(row.get("trace_id")),
        "input_tokens": row.get("input_tokens"),
        "output_tokens": row.get("output_tokens"),
        "user": row.get("user"),
        "service": row.get("service"),
    }
