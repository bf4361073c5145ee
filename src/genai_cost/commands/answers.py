"""``genai-cost anomalies`` and ``genai-cost digest``: the spend store's answers for people, from a
shell or cron. (``report`` and ``export`` are in ``commands/reports.py``; the HTML report is
``report --format html``.)

    genai-cost anomalies --store spend.duckdb --since 1d            # exit 1 when something fired
    genai-cost digest --store spend.duckdb --period week --send all  # the channels in the config

Exit status: 0 nothing fired / sent; 1 anomalies found (``anomalies``) or a channel failed
(``digest``); 2 a usage, config or store error.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

CHANNEL_CHOICES = ("all", "webhook", "slack", "email", "none")


def add_commands(commands: Any) -> None:
    anomalies = commands.add_parser("anomalies", help="find what changed in stored spend (exit 1 when something did)")
    anomalies.add_argument("--store", required=True, help="spend store: a path, or clickhouse://host:8123/db")
    anomalies.add_argument("--since", default="1d", help="look at calls from (default 1d: the last day)")
    anomalies.add_argument("--until", help="to (exclusive); default now")
    anomalies.add_argument("--format", choices=("table", "json"), default="table")
    anomalies.set_defaults(run=run_anomalies)

    digest = commands.add_parser(
        "digest", help="a day's or week's spend summary, printed or sent to the alert channels"
    )
    digest.add_argument("--store", required=True, help="spend store: a path, or clickhouse://host:8123/db")
    digest.add_argument("--period", choices=("day", "week"), default="week")
    digest.add_argument("--until", help="end of the period (exclusive); default today 00:00 UTC")
    digest.add_argument(
        "--send",
        choices=CHANNEL_CHOICES,
        default="none",
        help="the channels of the config file's alerts: section to send to (default: print only)",
    )
    digest.add_argument("--format", choices=("text", "json", "html"), default="text", help="what to print")
    digest.set_defaults(run=run_digest)


def _settings(args: argparse.Namespace) -> Any:
    from genai_cost.config import load_file, load_settings

    return load_file(args.config) if getattr(args, "config", None) else load_settings()


def run_anomalies(args: argparse.Namespace, out: TextIO) -> int:
    from genai_cost.reports.anomalies import detect
    from genai_cost.reports.query import parse_time
    from genai_cost.store import StoreError, open_store

    try:
        settings = _settings(args)
        now = datetime.now(UTC)
        since = parse_time(args.since, now=now)
        until = parse_time(args.until, now=now) if args.until else now
        if since >= until:
            raise ValueError(f"--since {args.since} is not before --until {args.until or 'now'}")
        findings = detect(open_store(args.store, create=False), since, until, settings.anomalies)
    except (StoreError, ValueError) as exc:  # ConfigError is a ValueError
        print(f"genai-cost: anomalies: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        json.dump([f.as_dict() for f in findings], out, indent=2, default=str)
        out.write("\n")
    elif not findings:
        print(f"no anomalies from {since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC", file=out)
    else:
        width = max(len(f.rule) for f in findings)
        for finding in findings:
            print(f"{finding.rule:<{width}}  {finding.message}", file=out)
    return 1 if findings else 0


def _channels(settings: Any, which: str) -> Any:
    from genai_cost.channels.webhook import SLACK_FORMAT
    from genai_cost.reports.digest import Channels

    alerts = settings.alerts
    if which == "all":
        webhooks = tuple(alerts.webhooks)
    elif which in ("webhook", "slack"):
        webhooks = tuple(w for w in alerts.webhooks if (w.format == SLACK_FORMAT) == (which == "slack"))
    else:
        webhooks = ()
    email = alerts.email if which in ("all", "email") else None
    return Channels(webhooks, email)


def run_digest(args: argparse.Namespace, out: TextIO) -> int:
    from genai_cost.reports import digest, html
    from genai_cost.reports.overview import gather, period_bounds
    from genai_cost.reports.query import parse_time
    from genai_cost.store import StoreError, open_store

    try:
        settings = _settings(args)
        since, until = period_bounds(args.period, parse_time(args.until) if args.until else None)
        channels = _channels(settings, args.send)
        if args.send != "none" and not channels:
            raise ValueError(
                f"--send {args.send}: no such channel in the config file's alerts: section "
                "(webhooks with format json or slack, or email)"
            )
        overview = gather(
            open_store(args.store, create=False),
            since,
            until,
            anomalies=settings.anomalies,
            budgets=_budget_statuses(settings),
        )
    except (StoreError, ValueError) as exc:
        print(f"genai-cost: digest: {exc}", file=sys.stderr)
        return 2
    if args.format == "json":
        json.dump(digest.as_json(overview, args.period), out, indent=2, default=str)
        out.write("\n")
    elif args.format == "html":
        out.write(html.render(overview, title=f"AI spend, {args.period} to {until:%Y-%m-%d}"))
    else:
        out.write(digest.text(overview, args.period))
    if args.send == "none":
        return 0
    problems = digest.send_digest(overview, args.period, channels)
    for problem in problems:
        print(f"genai-cost: digest: not delivered: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _budget_statuses(settings: Any) -> list[Any]:
    """The configured budgets' spend, when their ledger is shared (SQLite, Redis) and reachable."""
    budgets = settings.budgets
    if not budgets.policies or budgets.ledger in ("", "memory", "memory://"):
        return []
    try:
        from genai_cost.budget.guard import BudgetGuard

        guard = BudgetGuard.from_settings(budgets)
        try:
            return list(guard.status())
        finally:
            guard.close()
    except Exception as exc:
        print(f"genai-cost: digest: budgets left out: {type(exc).__name__}", file=sys.stderr)
        return []


def write_html_report(args: argparse.Namespace, out: TextIO) -> int:
    """``report --format html --output F``: the visual report for ``--since``/``--until``."""
    from genai_cost.reports import html
    from genai_cost.reports.overview import gather
    from genai_cost.reports.query import parse_time
    from genai_cost.store import StoreError, open_store

    if not getattr(args, "output", None):
        print("genai-cost: report: --format html needs --output FILE.html", file=sys.stderr)
        return 2
    try:
        settings = _settings(args)
        now = datetime.now(UTC)
        since = parse_time(args.since, now=now) if args.since else parse_time("30d", now=now)
        until = parse_time(args.until, now=now) if args.until else now
        overview = gather(
            open_store(args.store, create=False),
            since,
            until,
            anomalies=settings.anomalies,
            budgets=_budget_statuses(settings),
        )
        page = html.render(overview)
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(page)
    except (StoreError, ValueError, OSError) as exc:
        print(f"genai-cost: report: {exc}", file=sys.stderr)
        return 2
    print(f"{args.output}: {overview.total.calls} calls, {len(overview.findings)} anomalies", file=out)
    return 0
