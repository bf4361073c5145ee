"""The visual report: one self-contained HTML file (``genai-cost report --format html``) and the
HTML part of the digest e-mail.

Self-contained means it opens from disk with no network: CSS inline, charts as inline SVG
(``reports.charts``), no script, no web font. Every figure shown is also in a table, and the key
totals carry ``data-value`` attributes with the exact number, so a test (or a person with a
screen reader) reads the same money the store holds. Text from spans (model, project, user
names) is escaped: a hostile attribute cannot inject markup into a page someone forwards.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape

from genai_cost.reports import charts
from genai_cost.reports.overview import Overview
from genai_cost.reports.query import Group

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
main{max-width:1080px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 10px}
.sub{color:#5b6475;margin:0 0 18px}
.tiles{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px}
.tile{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:12px 14px}
.tile .label{color:#5b6475;font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.tile .value{font-size:20px;font-weight:600;margin-top:4px}
.up{color:#b42318}.down{color:#067647}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(480px,1fr));gap:16px}
.card{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:14px;overflow:auto}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:right;padding:5px 8px;border-bottom:1px solid #eef0f3;white-space:nowrap}
th:first-child,td:first-child{text-align:left}
th{color:#5b6475;font-weight:600}
.finding{border-left:4px solid #d92d20;background:#fff;padding:8px 12px;margin:8px 0;border-radius:4px}
.finding .rule{font-weight:600;font-size:12px;text-transform:uppercase;color:#b42318}
.muted{color:#5b6475}
"""


def render(overview: Overview, title: str = "AI spend report") -> str:
    currency = overview.currency
    total = overview.total
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width,initial-scale=1'>",
        # No network at view time, ever: nothing this page could load from elsewhere.
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{escape(title)}</h1>",
        f"<p class='sub'>{_period(overview)} · generated {overview.generated_at:%Y-%m-%d %H:%M} UTC</p>",
        _tiles(overview),
        "<h2>Where the money went</h2><div class='grid'>",
        _card(charts.donut("Cost share by model", _shares(overview.by["model"], "model"), currency)),
        _card(_daily_by_project(overview)),
        _card(
            charts.paired_bars(
                "Input and output tokens by app",
                [g.keys["service"] or "(unknown service)" for g in overview.tokens_by_service[:10]],
                [float(g.input_tokens) for g in overview.tokens_by_service[:10]],
                [float(g.output_tokens) for g in overview.tokens_by_service[:10]],
            )
        ),
        _card(_cost_and_requests(overview)),
        "</div>",
        _findings(overview),
    ]
    if overview.budgets:
        parts.append(_budgets(overview))
    for dimension in ("project", "feature", "model", "user"):
        parts.append(
            f"<h2>By {dimension}</h2><div class='card'>{_table(dimension, overview.by[dimension], currency)}</div>"
        )
    if overview.movers:
        parts.append(_movers(overview))
    parts.append(
        f"<p class='muted'>Unknown is not zero: {total.unpriced_calls} calls in this period could not be priced "
        "and are not in any amount above; they are counted as unpriced.</p>"
    )
    parts.append("</main></body></html>")
    return "".join(parts)


def _period(overview: Overview) -> str:
    return f"{overview.since:%Y-%m-%d %H:%M} – {overview.until:%Y-%m-%d %H:%M} UTC"


def _tiles(overview: Overview) -> str:
    total, currency = overview.total, overview.currency
    change = overview.change
    change_html = ""
    if change is not None:
        css = "up" if change > 0 else "down"
        change_html = f" <span class='{css}' id='change' data-value='{change!r}'>{change:+.1%}</span>"
    tiles = [
        (
            "Spend",
            f"<span id='total' data-value='{total.amount!r}'>{escape(charts.money(total.amount, currency))}</span>"
            f"{change_html}",
        ),
        ("Calls", f"<span id='calls' data-value='{total.calls}'>{total.calls:,}</span>"),
        ("Unpriced calls", f"<span id='unpriced' data-value='{total.unpriced_calls}'>{total.unpriced_calls:,}</span>"),
        ("Cost per call", escape(charts.money(total.cost_per_call, currency))),
        ("Cache savings", escape(charts.money(total.savings, currency)) if total.savings is not None else "–"),
        ("Tokens in / out", f"{charts.compact(total.input_tokens)} / {charts.compact(total.output_tokens)}"),
    ]
    body = "".join(
        f"<div class='tile'><div class='label'>{label}</div><div class='value'>{value}</div></div>"
        for label, value in tiles
    )
    return f"<div class='tiles'>{body}</div>"


def _card(svg: str) -> str:
    return f"<div class='card'>{svg}</div>"


def _shares(groups: list[Group], dimension: str) -> list[tuple[str, float]]:
    return [(g.keys[dimension] or "(none)", g.amount or 0.0) for g in groups if g.amount]


def _daily_by_project(overview: Overview, most: int = 6) -> str:
    days = overview.days()
    per_project: dict[str, dict[str, float]] = defaultdict(dict)
    for group in overview.daily_by_project:
        if group.amount and group.keys["day"]:
            per_project[group.keys["project"] or "(none)"][group.keys["day"]] = group.amount
    ranked = sorted(per_project, key=lambda p: -sum(per_project[p].values()))
    series: dict[str, list[float]] = {}
    for project in ranked[:most]:
        series[project] = [per_project[project].get(day, 0.0) for day in days]
    if len(ranked) > most:
        rest = ranked[most:]
        series[f"other ({len(rest)})"] = [sum(per_project[p].get(day, 0.0) for p in rest) for day in days]
    return charts.stacked_bars("Daily cost by project", days, series, overview.currency)


def _cost_and_requests(overview: Overview) -> str:
    by_day = {g.keys["day"]: g for g in overview.daily}
    days = overview.days()
    return charts.bars_and_line(
        "Cost against requests, per day",
        days,
        [float(by_day[d].calls) if d in by_day else 0.0 for d in days],
        [by_day[d].amount if d in by_day else 0.0 for d in days],
        unit=overview.currency,
    )


def _table(dimension: str, groups: list[Group], currency: str, most: int = 15) -> str:
    head = (
        f"<tr><th>{escape(dimension)}</th><th>spend</th><th>calls</th><th>unpriced</th><th>per call</th>"
        "<th>input tokens</th><th>output tokens</th><th>change</th></tr>"
    )
    rows = []
    for group in groups[:most]:
        change = group.change
        rows.append(
            f"<tr data-{escape(dimension)}='{escape(group.keys[dimension] or '')}'>"
            f"<td>{escape(group.keys[dimension] or '(none)')}</td>"
            f"<td data-value='{group.amount!r}'>{escape(charts.money(group.amount, currency))}</td>"
            f"<td>{group.calls:,}</td><td>{group.unpriced_calls:,}</td>"
            f"<td>{escape(charts.money(group.cost_per_call, currency))}</td>"
            f"<td>{group.input_tokens:,}</td><td>{group.output_tokens:,}</td>"
            f"<td>{'' if change is None else f'{change:+.0%}'}</td></tr>"
        )
    if len(groups) > most:
        rows.append(f"<tr><td class='muted' colspan='8'>… and {len(groups) - most} more</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _findings(overview: Overview) -> str:
    if not overview.findings:
        return "<h2>Anomalies</h2><p class='muted' id='anomalies' data-count='0'>None in this period.</p>"
    items = "".join(
        f"<div class='finding' data-rule='{escape(f.rule)}'><div class='rule'>{escape(f.rule.replace('_', ' '))}</div>"
        f"{escape(f.message)}</div>"
        for f in overview.findings
    )
    return f"<h2>Anomalies</h2><div id='anomalies' data-count='{len(overview.findings)}'>{items}</div>"


def _budgets(overview: Overview) -> str:
    rows = []
    for status in overview.budgets:
        spent, limit = getattr(status, "spent", None), getattr(status, "limit", None)
        used = f"{spent / limit:.0%}" if isinstance(spent, int | float) and limit else "–"
        rows.append(
            f"<tr><td>{escape(str(getattr(status, 'name', '?')))}"
            f"{escape(' [' + status.scope + ']') if getattr(status, 'scope', None) else ''}</td>"
            f"<td>{escape(charts.money(spent, overview.currency))}</td>"
            f"<td>{escape(charts.money(limit, overview.currency))}</td><td>{used}</td>"
            f"<td>{escape(str(getattr(status, 'window', '')))}</td></tr>"
        )
    head = "<tr><th>budget</th><th>spent</th><th>limit</th><th>used</th><th>window</th></tr>"
    return f"<h2>Budgets</h2><div class='card'><table>{head}{''.join(rows)}</table></div>"


def _movers(overview: Overview) -> str:
    rows = "".join(
        f"<tr><td>{escape(m.dimension)}: {escape(m.value or '(none)')}</td>"
        f"<td>{escape(charts.money(m.previous, overview.currency))}</td>"
        f"<td>{escape(charts.money(m.amount, overview.currency))}</td>"
        f"<td class='{'up' if m.delta > 0 else 'down'}'>{m.delta:+,.4f}</td></tr>"
        for m in overview.movers
    )
    head = "<tr><th>group</th><th>previous period</th><th>this period</th><th>change</th></tr>"
    return f"<h2>Top movers</h2><div class='card'><table>{head}{rows}</table></div>"
