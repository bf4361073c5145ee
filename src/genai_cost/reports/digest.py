"""Digests: a period's spend told to the people who pay, by webhook (JSON), Slack and e-mail.

``genai-cost digest --store S --period week --send CHANNEL`` (from cron) and the gateway's schedule
both build an ``Overview`` (``reports.overview``) and render it here: a plain-text summary, Slack
blocks, a JSON document, and for e-mail the text plus the HTML report as the alternative part.

Contents: the total and its change against the previous period, calls and unpriced calls, the top
movers by project, feature, model and user, budgets used, and the anomalies of the period.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from genai_cost.channels.webhook import SLACK_FORMAT, Webhook, redact, send
from genai_cost.channels.email import EmailChannel, EmailNotSent
from genai_cost.reports import html
from genai_cost.reports.charts import money
from genai_cost.reports.overview import Overview

log = logging.getLogger("genai_cost.reports")


def subject(overview: Overview, period: str) -> str:
    change = overview.change
    trend = f" ({change:+.0%})" if change is not None else ""
    anomalies = f", {len(overview.findings)} anomalies" if overview.findings else ""
    return (
        f"AI spend, {period} to {overview.until:%Y-%m-%d}: {money(overview.total.amount, overview.currency)}"
        f"{trend}{anomalies}"
    )


def text(overview: Overview, period: str) -> str:
    total, currency = overview.total, overview.currency
    lines = [
        subject(overview, period),
        f"Period: {overview.since:%Y-%m-%d %H:%M} – {overview.until:%Y-%m-%d %H:%M} UTC",
        "",
        f"Spend:          {money(total.amount, currency)}"
        + (f" (previous period {money(overview.previous.amount, currency)})" if overview.previous else ""),
        f"Calls:          {total.calls:,} ({total.unpriced_calls:,} unpriced: not in the spend, never counted as $0)",
        f"Cost per call:  {money(total.cost_per_call, currency)}",
    ]
    if total.savings:
        lines.append(f"Cache savings:  {money(total.savings, currency)}")
    for dimension in ("project", "model"):
        groups = overview.by[dimension][:5]
        if groups:
            lines += ["", f"Top {dimension}s:"]
            lines += [
                f"  {g.keys[dimension] or '(none)'}: {money(g.amount, currency)} over {g.calls:,} calls" for g in groups
            ]
    if overview.movers:
        lines += ["", "Top movers against the previous period:"]
        lines += [
            f"  {m.dimension} {m.value or '(none)'}: {money(m.previous, currency)} -> {money(m.amount, currency)}"
            for m in overview.movers[:8]
        ]
    if overview.budgets:
        lines += ["", "Budgets:"]
        for status in overview.budgets:
            used = f"{status.spent / status.limit:.0%}" if status.limit else "–"
            lines.append(
                f"  {status.name}{' [' + status.scope + ']' if status.scope else ''}: "
                f"{money(status.spent, currency)} of {money(status.limit, currency)} ({used}) this {status.window}"
            )
    lines += ["", f"Anomalies: {len(overview.findings) or 'none'}"]
    lines += [f"  - {f.message}" for f in overview.findings]
    return "\n".join(lines) + "\n"


def as_json(overview: Overview, period: str) -> dict[str, Any]:
    total = overview.total
    return {
        "event": "genai_cost.digest",
        "period": period,
        "since": overview.since.isoformat(),
        "until": overview.until.isoformat(),
        "currency": overview.currency,
        "amount": total.amount,
        "previous_amount": overview.previous.amount if overview.previous else None,
        "change": overview.change,
        "calls": total.calls,
        "unpriced_calls": total.unpriced_calls,
        "savings": total.savings,
        "top": {d: [g.as_dict() for g in overview.by[d][:10]] for d in ("project", "feature", "model", "user")},
        "movers": [
            {"dimension": m.dimension, "value": m.value, "amount": m.amount, "previous_amount": m.previous}
            for m in overview.movers
        ],
        "budgets": [_budget_json(s) for s in overview.budgets],
        "anomalies": [f.as_dict() for f in overview.findings],
        "message": subject(overview, period),
    }


def _budget_json(status: Any) -> dict[str, Any]:
    return {k: getattr(status, k, None) for k in ("name", "scope", "window", "spent", "limit", "currency")}


def slack(overview: Overview, period: str) -> dict[str, Any]:
    headline = subject(overview, period)
    body = text(overview, period).split("\n", 2)[2]  # the headline is the section's title
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": headline[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"```{body[:2900]}```"}},
    ]
    return {"text": headline, "blocks": blocks}


# --- delivery -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Channels:
    """Where digests and anomaly findings go: the alert webhooks (JSON or Slack) and e-mail."""

    webhooks: tuple[Webhook, ...] = ()
    email: EmailChannel | None = None

    def __bool__(self) -> bool:
        return bool(self.webhooks or self.email)


def send_webhook(webhook: Webhook, document: dict[str, Any]) -> None:
    """One document to one webhook, retried like budget alerts (backoff, jitter, Retry-After)."""
    send(webhook, json.dumps(document, separators=(",", ":"), default=str).encode())


def deliver(
    channels: Channels,
    *,
    title: str,
    plain: str,
    document: dict[str, Any],
    slack_document: dict[str, Any],
    html_page: str | None = None,
) -> list[str]:
    """Send to every channel; returns the problems (empty when all went out). One channel failing
    does not keep the message from the others."""
    problems = []
    for webhook in channels.webhooks:
        try:
            send_webhook(webhook, slack_document if webhook.format == SLACK_FORMAT else document)
        except Exception as error:
            problems.append(f"webhook {redact(webhook.url)}: {error}")
    if channels.email is not None:
        try:
            channels.email.send(title, plain, html_page)
        except EmailNotSent as error:
            problems.append(f"email: {error}")
    return problems


def send_digest(overview: Overview, period: str, channels: Channels) -> list[str]:
    return deliver(
        channels,
        title=subject(overview, period),
        plain=text(overview, period),
        document=as_json(overview, period),
        slack_document=slack(overview, period),
        html_page=html.render(overview, title=f"AI spend, {period} to {overview.until:%Y-%m-%d}"),
    )


def findings_documents(findings: Sequence[Any]) -> tuple[str, str, dict[str, Any], dict[str, Any]]:
    """Title, text, JSON and Slack bodies for a batch of anomaly findings (live alerts)."""
    title = f"{len(findings)} spend anomal{'y' if len(findings) == 1 else 'ies'}: {findings[0].message[:80]}"
    plain = "\n".join(f"- [{f.rule}] {f.message}" for f in findings) + "\n"
    document = {"event": "genai_cost.anomalies", "anomalies": [f.as_dict() for f in findings], "message": title}
    slack_document = {
        "text": title,
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f":rotating_light: *{f.rule.replace('_', ' ')}*: {f.message}"},
            }
            for f in findings[:20]
        ],
    }
    return title, plain, document, slack_document
