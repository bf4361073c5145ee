"""Reading budgets: ``budget_status()``, what ``genai-cost budget status`` prints, and the
remaining-budget gauge.

All three read the guard's ``status()``: per budget scope in its current window, what is spent
(settled), reserved (calls in flight), remaining, when the window resets, and the month's
projection at the current pace. They read the ledger, never the call path.

From the command line only a shared ledger means anything: ``sqlite:///path`` or ``redis://...``
(``GENAI_COST_LEDGER`` or ``--ledger``). An in-memory ledger lives inside the application's
process; read it there with ``genai_cost.budget_status()`` or the gauge.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any, TextIO

from genai_cost import attributes as attr
from genai_cost.budget.state import BudgetStatus
from genai_cost.redaction import redact_text, redact_url

GuardSource = Callable[[], Any]  # returns the process's BudgetGuard, or None when budgets are off


def budget_status(guard: Any = None) -> list[BudgetStatus]:
    """Every budget scope's spend in its current window (an empty list when no budgets are set)."""
    if guard is None:
        from genai_cost.budget import active_guard

        guard = active_guard()
    return guard.status() if guard is not None else []


# --- the table -----------------------------------------------------------------------------


def _money(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") if value else "0"


def _until(reset_at: datetime, now: datetime) -> str:
    seconds = max(0, int((reset_at - now).total_seconds()))
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"in {days}d {hours}h"
    if hours:
        return f"in {hours}h {minutes}m"
    return f"in {minutes}m" if minutes else "in <1m"


def status_rows(statuses: Iterable[BudgetStatus], now: datetime) -> list[dict[str, str]]:
    """One dict of display strings per budget scope, in the table's column order."""
    rows = []
    for s in statuses:
        used = f"{100 * (s.spent + s.reserved) / s.limit:.1f}%" if s.limit > 0 else "-"
        rows.append(
            {
                "budget": f"{s.name}[{s.scope}]" if s.scope else s.name,
                "window": s.window_name,
                "spent": _money(s.spent),
                "reserved": _money(s.reserved),
                "limit": f"{_money(s.limit)} {s.currency}",
                "remaining": _money(s.remaining),
                "used": used,
                "resets": f"{s.reset_at.astimezone(UTC):%Y-%m-%d %H:%M}Z ({_until(s.reset_at, now)})",
                "projected/month": _money(s.projected),
                "action": s.action,
                "status": s.status or "ok",
            }
        )
    return rows


def format_table(statuses: Sequence[BudgetStatus], now: datetime) -> str:
    rows = status_rows(statuses, now)
    if not rows:
        return "no budgets configured"
    columns = list(rows[0])
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    numeric = {"spent", "reserved", "limit", "remaining", "used", "projected/month"}

    def line(cells: dict[str, str]) -> str:
        return "  ".join(
            cells[c].rjust(widths[c]) if c in numeric else cells[c].ljust(widths[c]) for c in columns
        ).rstrip()

    return "\n".join([line({c: c for c in columns}), *(line(r) for r in rows)])


def status_json(statuses: Iterable[BudgetStatus]) -> list[dict[str, Any]]:
    return [{**asdict(s), "reset_at": s.reset_at.isoformat()} for s in statuses]


# --- the command ---------------------------------------------------------------------------


def cmd_budget_status(args: argparse.Namespace, out: TextIO) -> int:
    from genai_cost.budget.guard import BudgetGuard
    from genai_cost.config import load_file, load_settings

    settings = load_file(args.config) if args.config else load_settings()
    budgets = settings.budgets
    ledger = args.ledger or budgets.ledger
    if not budgets.policies:
        print("genai-cost: no budgets configured (the budgets: section of the config file)", file=sys.stderr)
        return 1
    if ledger in ("", "memory", "memory://"):
        print(
            "genai-cost: the budget ledger is in memory: its spend lives inside the application's process "
            "(read it there with genai_cost.budget_status()). To read it from here, set GENAI_COST_LEDGER "
            "(or --ledger) to the shared ledger: sqlite:///path/to/ledger.db or redis://host:6379/0",
            file=sys.stderr,
        )
        return 2
    # Reading must not create: opening a SQLite ledger makes its file (and directories), so a
    # mistyped path would show a new, empty ledger with every budget "ok".
    if ledger.startswith("sqlite://") and not os.path.isfile(path := ledger.removeprefix("sqlite://")):
        print(
            f"genai-cost: no budget ledger at {path} ({ledger}): check the path; status reads a ledger the "
            "application has written, it never creates one",
            file=sys.stderr,
        )
        return 2
    from genai_cost.budget.ledger import LedgerUnavailable

    try:
        guard = BudgetGuard.from_settings(replace(budgets, ledger=ledger))
    except ImportError as error:  # redis-py missing: the message says what to install
        print(f"genai-cost: cannot read the budget ledger {redact_url(ledger)}: {error}", file=sys.stderr)
        return 2
    except (LedgerUnavailable, ValueError, OSError) as error:
        print(
            f"genai-cost: cannot read the budget ledger {redact_url(ledger)}: {redact_text(str(error))}",
            file=sys.stderr,
        )
        return 1
    try:
        statuses = guard.status()
    finally:
        guard.close()
    if args.json:
        json.dump(status_json(statuses), out, indent=2)
        print(file=out)
    else:
        print(f"ledger {redact_url(ledger)}", file=out)
        print(format_table(statuses, datetime.now(UTC)), file=out)
    return 1 if any(s.status for s in statuses) else 0


def add_budget_commands(commands: Any) -> None:
    """Register ``genai-cost budget ...`` on the CLI's subparsers."""
    budget = commands.add_parser("budget", help="budgets: spend, what is left, resets")
    sub = budget.add_subparsers(dest="budget_command", required=True)
    status = sub.add_parser(
        "status",
        help="spent, remaining, reset time and projection per budget",
        epilog="exit status: 0 all budgets read; 1 no budgets configured, or a budget's ledger could not be "
        "read; 2 a configuration problem (including an in-memory ledger, which only its own process can read, a "
        "SQLite ledger file that does not exist, and redis-py not installed for a redis:// ledger)",
    )
    status.add_argument("--ledger", help="ledger URL (default: $GENAI_COST_LEDGER or the config file's)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(run=cmd_budget_status)


# --- metric series: bounded and cached ------------------------------------------------------

# A per-user budget has one scope per user: a gauge series each would grow without bound (20,000
# users made /metrics 3.6 MB). Each fan-out budget exports its TOP scopes by spend, the ones near
# their limit, and one OTHER_SCOPE series summing the rest (its remaining is theirs together).
OTHER_SCOPE = "(other)"
DEFAULT_SERIES_TOP = 100
# Reading every scope is a full scan of the ledger's keys (Redis SCAN): a scrape reuses the last
# reading for this long instead of scanning each time.
DEFAULT_STATUS_MAX_AGE_S = 15.0


def _env_number(name: str, default: float) -> float:
    import os

    try:
        value = float(os.environ.get(name) or default)
    except ValueError:
        return default
    return value if value >= 0 else default


def bounded_series(statuses: Iterable[BudgetStatus], top: int | None = None) -> list[BudgetStatus]:
    """``statuses`` with each fan-out budget cut to its ``top`` scopes by spend (settled plus
    reserved) and one ``OTHER_SCOPE`` row summing the rest. Unreadable rows pass as they are."""
    if top is None:
        top = int(_env_number("GENAI_COST_BUDGET_SERIES_TOP", DEFAULT_SERIES_TOP))
    out: list[BudgetStatus] = []
    fanned: dict[tuple[str, str], list[BudgetStatus]] = {}
    for row in statuses:
        if row.scope and not row.status:
            fanned.setdefault((row.name, row.window), []).append(row)
        else:
            out.append(row)
    for rows in fanned.values():
        if len(rows) <= top:
            out.extend(rows)
            continue
        rows.sort(key=lambda r: r.spent + r.reserved, reverse=True)
        out.extend(rows[:top])
        rest = rows[top:]
        out.append(
            replace(
                rest[0],
                scope=OTHER_SCOPE,
                limit=sum(r.limit for r in rest),
                spent=sum(r.spent for r in rest),
                reserved=sum(r.reserved for r in rest),
                remaining=sum(r.remaining for r in rest),
                projected=sum(r.projected for r in rest),
            )
        )
    return out


class StatusCache:
    """A guard's ``status()`` read at most once per ``max_age`` seconds, for metric scrapes
    (Prometheus, several replicas of it, a person reloading /metrics): an unreadable ledger is
    never remembered, a good reading is reused."""

    def __init__(
        self, source: GuardSource, max_age: float | None = None, clock: Callable[[], float] | None = None
    ) -> None:
        import threading
        import time

        self.source = source
        self.max_age = (
            _env_number("GENAI_COST_BUDGET_STATUS_MAX_AGE", DEFAULT_STATUS_MAX_AGE_S) if max_age is None else max_age
        )
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()  # concurrent scrapes wait for one reading, not one each
        self._read: tuple[Any, float, list[BudgetStatus]] | None = None  # (guard, when, rows)

    def __call__(self) -> list[BudgetStatus]:
        guard = self.source()
        if guard is None:
            return []
        with self._lock:
            now = self._clock()
            read = self._read
            if read is not None and read[0] is guard and now - read[1] < self.max_age:
                return read[2]
            rows = guard.status()
            if not any(row.status for row in rows):  # an outage is not remembered
                self._read = (guard, now, rows)
            return rows


# --- the gauge -----------------------------------------------------------------------------


def _observations(statuses: Callable[[], list[BudgetStatus]]) -> Iterator[Any]:
    from opentelemetry.metrics import Observation

    for s in bounded_series(statuses()):
        if s.status:  # ledger unreadable: no figure rather than a made-up one
            continue
        attributes = {attr.BUDGET_NAME: s.name, attr.BUDGET_WINDOW: s.window, "currency": s.currency}
        if s.scope:
            attributes[attr.BUDGET_SCOPE] = s.scope
        yield Observation(s.remaining, attributes)


_process_gauge: Any = None


def ensure_remaining_gauge() -> None:
    """The process's gauge, once: it follows whichever guard is installed (``active_guard``), on
    the global meter provider (the API's proxy, so an SDK provider set later still gets it)."""
    global _process_gauge
    if _process_gauge is None:
        from genai_cost.budget import active_guard

        _process_gauge = register_remaining_gauge(active_guard)


def register_remaining_gauge(source: GuardSource, meter_provider: Any = None) -> Any:
    """An observable gauge of each budget scope's remaining money, read at each metrics export.

    Fan-out (``per: user``) budgets export their top scopes by spend and one ``(other)`` series
    (``bounded_series``). The ledger is read once per metrics export (the reader's interval).
    """
    from opentelemetry import metrics

    from genai_cost.version import __version__

    meter = metrics.get_meter("genai_cost", __version__, meter_provider)

    def statuses() -> list[BudgetStatus]:
        guard = source()
        return guard.status() if guard is not None else []

    def observe(options: Any) -> Iterator[Any]:
        try:
            yield from _observations(statuses)
        except Exception:
            from genai_cost.internal_errors import log_once

            log_once("reading budgets for the remaining-budget gauge")

    return meter.create_observable_gauge(
        attr.METRIC_BUDGET_REMAINING,
        callbacks=[observe],
        unit="USD",
        description="Money left in each budget's current window, in the budget's currency (the currency attribute).",
    )
