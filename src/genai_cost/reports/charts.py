"""Charts as inline SVG: the visual report and the digest e-mail draw with these.

Plain SVG strings, no script and no library: the report is one file that opens from disk with no
network, renders the same in a browser and in a mail client that shows SVG, and prints. Every
chart has a ``<title>`` and a text fallback (``data-*`` attributes and a table beside it in the
report), so the figures are readable without the picture and testable without a browser.

Each function takes plain numbers and labels (the report module turns query groups into them);
labels are escaped here, so a hostile model or project name cannot inject markup.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

# A palette that stays distinguishable for the common forms of colour blindness (Okabe-Ito),
# then greys for "other".
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
OTHER_COLOUR = "#9a9a9a"
_FONT = 'font-family="system-ui,-apple-system,Segoe UI,Roboto,sans-serif"'


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def money(value: float | None, currency: str = "USD") -> str:
    """A money figure for people: cents for dollars, more digits for the small sums LLM calls cost."""
    if value is None:
        return "unknown"
    magnitude = abs(value)
    digits = 2 if magnitude >= 100 else 4 if magnitude >= 0.01 else 6
    return f"{value:,.{digits}f} {currency}"


def _svg(width: int, height: int, title: str, body: str, kind: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{escape(kind)}" role="img" '
        f'viewBox="0 0 {width} {height}" width="100%" style="max-width:{width}px" {_FONT} font-size="12">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def _nice_ceiling(value: float) -> float:
    """The axis top: 1, 2, 2.5 or 5 times a power of ten, at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def compact(value: float) -> str:
    """12,330 -> 12.3k; 267,554,082 -> 267.6M: counts that fit a tile."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{value:,.0f}"


def _axis_label(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value / 1000:g}k" if abs(value) < 1e6 else f"{value / 1e6:g}M"
    return f"{value:.6g}"


def donut(title: str, shares: Sequence[tuple[str, float]], currency: str = "USD", most: int = 7) -> str:
    """Share of a total by label (cost by model): the ``most`` largest slices and one "other"."""
    items = sorted(((label, value) for label, value in shares if value > 0), key=lambda item: -item[1])
    if len(items) > most:
        rest = sum(value for _, value in items[most:])
        items = [*items[:most], (f"other ({len(items) - most})", rest)]
    total = sum(value for _, value in items)
    width, height, cx, cy, r_out, r_in = 640, 240, 120, 120, 100, 58
    parts: list[str] = []
    if total <= 0:
        parts.append(f'<text x="{cx}" y="{cy}" text-anchor="middle">no priced calls</text>')
        return _svg(width, height, title, "".join(parts), "donut")
    angle = -math.pi / 2
    for index, (label, value) in enumerate(items):
        fill = OTHER_COLOUR if label.startswith("other (") else colour(index)
        fraction = value / total
        data = f'data-label="{escape(label)}" data-value="{value!r}"'
        if fraction >= 0.999999:  # one slice: an arc cannot close on itself
            parts.append(
                f'<circle cx="{cx}" cy="{cy}" r="{(r_out + r_in) / 2}" fill="none" stroke="{fill}" '
                f'stroke-width="{r_out - r_in}" {data}>'
                f"<title>{escape(label)}: {money(value, currency)}</title></circle>"
            )
        else:
            end = angle + fraction * 2 * math.pi
            large = 1 if fraction > 0.5 else 0
            points = (
                (cx + r_out * math.cos(angle), cy + r_out * math.sin(angle)),
                (cx + r_out * math.cos(end), cy + r_out * math.sin(end)),
                (cx + r_in * math.cos(end), cy + r_in * math.sin(end)),
                (cx + r_in * math.cos(angle), cy + r_in * math.sin(angle)),
            )
            (x1, y1), (x2, y2), (x3, y3), (x4, y4) = points
            path = (
                f"M{x1:.2f},{y1:.2f} A{r_out},{r_out} 0 {large} 1 {x2:.2f},{y2:.2f} "
                f"L{x3:.2f},{y3:.2f} A{r_in},{r_in} 0 {large} 0 {x4:.2f},{y4:.2f} Z"
            )
            parts.append(
                f'<path d="{path}" fill="{fill}" {data}><title>{escape(label)}: {money(value, currency)} '
                f"({fraction:.1%})</title></path>"
            )
            angle = end
        y = 24 + index * 24
        parts.append(
            f'<rect x="250" y="{y - 10}" width="12" height="12" fill="{fill}"/>'
            f'<text x="268" y="{y}">{escape(_short(label, 28))} <tspan fill="#555">{fraction:.1%} · '
            f"{escape(money(value, currency))}</tspan></text>"
        )
    parts.append(
        f'<text x="{cx}" y="{cy - 4}" text-anchor="middle" font-weight="600">{escape(money(total, currency))}</text>'
        f'<text x="{cx}" y="{cy + 14}" text-anchor="middle" fill="#555">total</text>'
    )
    return _svg(width, height, title, "".join(parts), "donut")


def stacked_bars(
    title: str,
    columns: Sequence[str],
    series: Mapping[str, Sequence[float]],
    unit: str = "USD",
) -> str:
    """One bar per column (a day), stacked by series (projects): daily cost by project."""
    width, height, left, bottom, top = 720, 280, 64, 40, 16
    plot_w, plot_h = width - left - 170, height - bottom - top
    totals = [sum(values[i] for values in series.values()) for i in range(len(columns))]
    ceiling = _nice_ceiling(max(totals, default=0.0))
    parts = _y_axis(left, top, plot_w, plot_h, ceiling, unit)
    slot = plot_w / max(len(columns), 1)
    bar = max(2.0, slot * 0.7)
    for index, name in enumerate(series):
        fill = OTHER_COLOUR if name.startswith("other (") else colour(index)
        y_legend = top + 12 + index * 20
        parts.append(
            f'<rect x="{left + plot_w + 16}" y="{y_legend - 10}" width="12" height="12" fill="{fill}"/>'
            f'<text x="{left + plot_w + 34}" y="{y_legend}">{escape(_short(name, 20))}</text>'
        )
    for i, column in enumerate(columns):
        x = left + i * slot + (slot - bar) / 2
        base = 0.0
        for index, (name, values) in enumerate(series.items()):
            value = values[i]
            if value <= 0:
                continue
            fill = OTHER_COLOUR if name.startswith("other (") else colour(index)
            h = value / ceiling * plot_h
            y = top + plot_h - (base + value) / ceiling * plot_h
            parts.append(
                f'<rect x="{x:.2f}" y="{y:.2f}" width="{bar:.2f}" height="{h:.2f}" fill="{fill}" '
                f'data-label="{escape(name)}" data-column="{escape(column)}" data-value="{value!r}">'
                f"<title>{escape(column)} · {escape(name)}: {escape(money(value, unit))}</title></rect>"
            )
            base += value
        if _show_tick(i, len(columns)):
            parts.append(
                f'<text x="{x + bar / 2:.2f}" y="{top + plot_h + 16}" text-anchor="middle">{escape(column[5:])}</text>'
            )
    return _svg(width, height, title, "".join(parts), "stacked-bars")


def paired_bars(
    title: str,
    labels: Sequence[str],
    first: Sequence[float],
    second: Sequence[float],
    names: tuple[str, str] = ("input", "output"),
) -> str:
    """Two horizontal bars per label (input and output tokens by app)."""
    row = 34
    width, left = 720, 170
    height = 40 + row * max(len(labels), 1)
    plot_w = width - left - 80
    ceiling = _nice_ceiling(max([*first, *second], default=0.0))
    parts = [
        f'<rect x="{left}" y="6" width="12" height="12" fill="{colour(0)}"/>'
        f'<text x="{left + 18}" y="16">{names[0]}</text>'
        f'<rect x="{left + 90}" y="6" width="12" height="12" fill="{colour(1)}"/>'
        f'<text x="{left + 108}" y="16">{names[1]}</text>'
    ]
    for i, label in enumerate(labels):
        y = 30 + i * row
        parts.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{escape(_short(label, 24))}</text>')
        for j, (value, name) in enumerate(((first[i], names[0]), (second[i], names[1]))):
            w = value / ceiling * plot_w if ceiling else 0
            parts.append(
                f'<rect x="{left}" y="{y + j * 13}" width="{w:.2f}" height="12" fill="{colour(j)}" '
                f'data-label="{escape(label)}" data-series="{name}" data-value="{value!r}">'
                f"<title>{escape(label)} · {name}: {value:,.0f}</title></rect>"
                f'<text x="{left + w + 6:.2f}" y="{y + j * 13 + 10}" fill="#555">{_axis_label(value)}</text>'
            )
    return _svg(width, height, title, "".join(parts), "paired-bars")


def bars_and_line(
    title: str,
    columns: Sequence[str],
    bars: Sequence[float],
    line: Sequence[float | None],
    bar_name: str = "requests",
    line_name: str = "cost",
    unit: str = "USD",
) -> str:
    """Bars on the left axis (requests per day) and a line on the right (cost per day): whether cost
    follows traffic or runs away from it."""
    width, height, left, right, bottom, top = 720, 280, 64, 90, 40, 24
    plot_w, plot_h = width - left - right, height - bottom - top
    bar_top = _nice_ceiling(max(bars, default=0.0))
    line_top = _nice_ceiling(max((v for v in line if v is not None), default=0.0))
    parts = _y_axis(left, top, plot_w, plot_h, bar_top, bar_name)
    for k in range(5):
        value = line_top * k / 4
        y = top + plot_h - plot_h * k / 4
        parts.append(f'<text x="{left + plot_w + 6}" y="{y + 4:.2f}" fill="{colour(5)}">{_axis_label(value)}</text>')
    parts.append(f'<text x="{left + plot_w + 6}" y="{top - 8}" fill="{colour(5)}">{escape(unit)}</text>')
    slot = plot_w / max(len(columns), 1)
    bar = max(2.0, slot * 0.6)
    points = []
    for i, column in enumerate(columns):
        x = left + i * slot + (slot - bar) / 2
        h = bars[i] / bar_top * plot_h
        parts.append(
            f'<rect x="{x:.2f}" y="{top + plot_h - h:.2f}" width="{bar:.2f}" height="{h:.2f}" fill="{colour(4)}" '
            f'data-column="{escape(column)}" data-series="{bar_name}" data-value="{bars[i]!r}">'
            f"<title>{escape(column)}: {bars[i]:,.0f} {bar_name}</title></rect>"
        )
        if line[i] is not None:
            points.append((x + bar / 2, top + plot_h - (line[i] or 0) / line_top * plot_h, column, line[i]))
        if _show_tick(i, len(columns)):
            parts.append(
                f'<text x="{x + bar / 2:.2f}" y="{top + plot_h + 16}" text-anchor="middle">{escape(column[5:])}</text>'
            )
    if points:
        path = " ".join(f"{'M' if k == 0 else 'L'}{x:.2f},{y:.2f}" for k, (x, y, _, _) in enumerate(points))
        parts.append(f'<path d="{path}" fill="none" stroke="{colour(5)}" stroke-width="2"/>')
        for x, y, column, value in points:
            parts.append(
                f'<circle cx="{x:.2f}" cy="{y:.2f}" r="3" fill="{colour(5)}" data-column="{escape(column)}" '
                f'data-series="{line_name}" data-value="{value!r}"><title>{escape(column)}: '
                f"{escape(money(value, unit))}</title></circle>"
            )
    return _svg(width, height, title, "".join(parts), "bars-and-line")


def _y_axis(left: int, top: int, plot_w: float, plot_h: float, ceiling: float, unit: str) -> list[str]:
    parts = [f'<text x="{left - 8}" y="{top - 6}" text-anchor="end" fill="#555">{escape(unit)}</text>']
    for k in range(5):
        y = top + plot_h - plot_h * k / 4
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w:.2f}" y1="{y:.2f}" y2="{y:.2f}" stroke="#e3e3e3"/>'
            f'<text x="{left - 8}" y="{y + 4:.2f}" text-anchor="end" fill="#555">{_axis_label(ceiling * k / 4)}</text>'
        )
    return parts


def _show_tick(index: int, count: int) -> bool:
    """About a dozen labels at most, counted back from the last column (the day people look at)."""
    return (count - 1 - index) % max(1, math.ceil(count / 12)) == 0


def _short(text: str, most: int) -> str:
    return text if len(text) <= most else text[: most - 1] + "…"
