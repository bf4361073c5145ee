"""A ``SpendReport`` as a terminal table, JSON (a list of row objects) or CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from genai_cost.reports.query import Group, SpendReport


def _money(value: float | None, currency: str | None = None) -> str:
    if value is None:
        return "unknown"
    text = f"{value:,.4f}" if abs(value) >= 0.01 or value == 0 else f"{value:.6f}"
    return f"{text} {currency}" if currency else text


def _change(group: Group) -> str:
    change = group.change
    return "" if change is None else f"{change:+.0%}"


def _cells(group: Group, by: tuple[str, ...], currency: str | None) -> list[str]:
    return [
        *((group.keys.get(name) or "(none)") for name in by),
        f"{group.calls:,}",
        f"{group.unpriced_calls:,}" if group.unpriced_calls else "",
        f"{group.input_tokens:,}",
        f"{group.output_tokens:,}",
        _money(group.amount, currency),
        _money(group.cost_per_call),
        _money(group.savings) if group.savings else "",
        _change(group),
    ]


def table(report: SpendReport) -> str:
    currency = report.total.currency
    header = [*report.by, "calls", "unpriced", "input tok", "output tok", "spend", "per call", "cache saved", "change"]
    rows = [_cells(group, report.by, currency) for group in report.groups]
    total = _cells(report.total, (), currency)
    rows.append(["total", *[""] * (len(report.by) - 1), *total] if report.by else ["total", *total])
    if not report.by:
        header = ["", *header]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    numeric = set(range(len(report.by) or 1, len(header)))

    def line(cells: list[str]) -> str:
        return "  ".join(
            str(c).rjust(w) if i in numeric else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    out = [line(header), line(["-" * w for w in widths])]
    out += [line(r) for r in rows[:-1]]
    out += [line(["-" * w for w in widths]), line(rows[-1])]
    notes = []
    if report.omitted_groups:
        notes.append(f"{report.omitted_groups} more group(s) not shown (--top)")
    if report.total.unpriced_calls:
        notes.append(f"{report.total.unpriced_calls} unpriced call(s) are not in the spend (unknown, not $0)")
    return "\n".join(out + notes) + "\n"


def rows(report: SpendReport) -> list[dict[str, Any]]:
    return [group.as_dict() for group in report.groups]


def as_json(report: SpendReport) -> str:
    return json.dumps(rows(report), indent=2) + "\n"


def as_csv(report: SpendReport) -> str:
    buffer = io.StringIO()
    fields = list(Group(keys=dict.fromkeys(report.by)).as_dict())
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows(report):
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    return buffer.getvalue()


FORMATS = {"table": table, "json": as_json, "csv": as_csv}
