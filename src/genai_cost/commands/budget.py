"""``genai-cost budget status``: the budgets' spend read from a shared ledger, for people and scripts.

A CLI command, above the config reader it needs (the budget layer below knows no config file):
``budget/status.py`` formats what this reads.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TextIO

from genai_cost.budget.status import format_table, status_json
from genai_cost.redaction import redact_text, redact_url


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
