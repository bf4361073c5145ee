"""``genai-cost report`` and ``genai-cost export focus``: the command-line front of ``reports``."""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from genai_cost.reports.formats import FORMATS


def _by(value: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in value.split(",") if part.strip())
    if not names:
        raise argparse.ArgumentTypeError("--by: name at least one dimension")
    return names


def _where(value: str) -> tuple[str, str]:
    name, sep, wanted = value.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"--where {value!r}: expected NAME=VALUE, e.g. team=search")
    return name.strip(), wanted


def _add_period(parser: argparse.ArgumentParser, default_since: str | None) -> None:
    parser.add_argument("--store", required=True, help="spend store: a path, or clickhouse://host:8123/db")
    parser.add_argument(
        "--since", default=default_since, help="from (inclusive): 2026-11-01, an ISO time, or an age: 30d, 12h, 2w, 3m"
    )
    parser.add_argument("--until", help="to (exclusive); default now")
    parser.add_argument("--where", type=_where, action="append", default=[], metavar="NAME=VALUE")


def add_commands(commands: Any) -> None:
    """Register ``report`` and ``export`` on the ``genai-cost`` parser."""
    report = commands.add_parser("report", help="spend by project, team, model, day ... from a spend store")
    _add_period(report, "30d")
    report.add_argument(
        "--by",
        type=_by,
        default=("model",),
        help="comma-separated: project, team, feature, tenant, user, model, provider, service, key, "
        "a custom dimension, day, week, month (default: model)",
    )
    report.add_argument("--top", type=int, help="keep the N costliest groups (per time bucket)")
    report.add_argument("--format", choices=[*sorted(FORMATS), "html"], default="table")
    report.add_argument("--output", help="with --format html: the file to write the visual report to")
    report.add_argument("--no-compare", dest="compare", action="store_false", help="skip the previous-period column")
    report.set_defaults(run=run_report)

    export = commands.add_parser("export", help="export stored spend for other tools")
    kinds = export.add_subparsers(dest="export_kind", required=True)
    focus = kinds.add_parser("focus", help="FinOps FOCUS cost and usage rows (CSV or Parquet)")
    _add_period(focus, None)
    focus.add_argument("--output", required=True, help="F.csv or F.parquet (Parquet needs pyarrow)")
    focus.set_defaults(run=run_export_focus)


def _open(args: argparse.Namespace) -> Any:
    from genai_cost.reports.query import parse_time
    from genai_cost.store import open_store

    since = parse_time(args.since) if args.since else None
    until = parse_time(args.until) if args.until else None
    if since and until and since >= until:
        raise ValueError(f"--since {args.since} is not before --until {args.until}")
    return open_store(args.store, create=False), since, until


def run_report(args: argparse.Namespace, out: TextIO) -> int:
    if args.format == "html":
        from genai_cost.commands.answers import write_html_report

        return write_html_report(args, out)
    from genai_cost.reports.query import UnknownDimension, parse_time, spend
    from genai_cost.store import StoreError

    try:
        store, since, until = _open(args)
        report = spend(
            store,
            args.by,
            since,
            until or parse_time("now"),
            dict(args.where) or None,
            top=args.top,
            compare=args.compare,
        )
    except UnknownDimension as exc:
        dims = getattr(store, "dimensions", ())
        extra = f"; custom dimensions in this store: {', '.join(dims)}" if dims else ""
        print(f"genai-cost: report: unknown dimension {exc} (see --help{extra})", file=sys.stderr)
        return 2
    except (StoreError, ValueError) as exc:
        print(f"genai-cost: report: {exc}", file=sys.stderr)
        return 2
    out.write(FORMATS[args.format](report))
    return 0


def run_export_focus(args: argparse.Namespace, out: TextIO) -> int:
    from genai_cost.reports.focus import FocusExportError, export_focus
    from genai_cost.store import StoreError

    try:
        store, since, until = _open(args)
        count, unpriced = export_focus(store, args.output, since, until, dict(args.where) or None)
    except (StoreError, ValueError, FocusExportError) as exc:
        print(f"genai-cost: export focus: {exc}", file=sys.stderr)
        return 2
    print(f"genai-cost: {count} FOCUS row(s) written to {args.output}", file=out)
    if unpriced:
        print(f"genai-cost: {unpriced} unpriced call(s) left out (their cost is unknown, not $0)", file=out)
    return 0
