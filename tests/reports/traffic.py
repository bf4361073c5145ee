"""Synthetic but realistic spend for the answer tests: 14 days of steady traffic with a weekly rhythm
(weekends quieter, office hours busier), three projects on three models, and plants — a cost per
request spike, one very dear call, an hourly burst, a new model, a jump in unpriced calls — each of
which one anomaly rule must name and the others must not.

Rows are built with the store's own ``call_row`` from span attributes, the way both writers build
them, with amounts from the real price catalog, so totals compare with independent arithmetic.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from genai_cost import attributes as attr
from genai_cost.pricing import PriceCatalog
from genai_cost.store.schema import call_row
from genai_cost.usage import TokenUsage

# The evaluated day (a Wednesday); the baseline is the 14 days before it.
DAY = datetime(2026, 11, 18, tzinfo=UTC)
PROJECTS = {  # project -> (feature, model, calls per office hour, input, output)
    "search": ("autocomplete", "gpt-4o-mini", 40, 20_000, 2_000),
    "support": ("chat", "gpt-4o", 30, 20_000, 2_000),
    "docs": ("summarise", "claude-3-5-haiku-20241022", 10, 30_000, 3_000),
}
UNPRICED_MODEL = "our-finetune-v9"
PROVIDER = {"gpt-4o-mini": "openai", "gpt-4o": "openai", "claude-3-5-haiku-20241022": "anthropic"}


@dataclass
class Call:
    when: datetime
    project: str
    feature: str
    model: str
    input_tokens: int
    output_tokens: int
    key: str = "key-main"
    user: str = "u-1"
    service: str = "web"

    def attributes(self, catalog: PriceCatalog) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            attr.OPERATION_NAME: "chat",
            attr.PROVIDER_NAME: PROVIDER.get(self.model, "openai"),
            attr.REQUEST_MODEL: self.model,
            attr.RESPONSE_MODEL: self.model,
            attr.USAGE_INPUT_TOKENS: self.input_tokens,
            attr.USAGE_OUTPUT_TOKENS: self.output_tokens,
            attr.PROJECT: self.project,
            attr.FEATURE: self.feature,
            attr.USER_ID: self.user,
            "genai_cost.key.id": self.key,
        }
        cost = catalog.price(
            self.model,
            TokenUsage(input_tokens=self.input_tokens, output_tokens=self.output_tokens),
            provider_name=attributes[attr.PROVIDER_NAME],
            start_time_ns=int(self.when.timestamp() * 1e9),
        )
        attributes[attr.COST_STATUS] = cost.status
        if cost.amount is not None:
            attributes.update({attr.COST_AMOUNT: cost.amount, attr.COST_CURRENCY: cost.currency})
        return attributes


def steady(days: int = 15, *, seed: int = 7, until: datetime = DAY + timedelta(days=1)) -> Iterator[Call]:
    """Calls from ``days`` days before ``until``: office hours busy, nights and weekends quiet."""
    rng = random.Random(seed)
    start = until - timedelta(days=days)
    hour = start
    while hour < until:
        weekend = hour.weekday() >= 5
        office = 8 <= hour.hour < 19
        for project, (feature, model, per_hour, input_tokens, output_tokens) in PROJECTS.items():
            rate = per_hour * (0.25 if weekend else 1.0) * (1.0 if office else 0.15)
            for _ in range(_poisson(rng, rate)):
                yield Call(
                    hour + timedelta(seconds=rng.randrange(3600)),
                    project,
                    feature,
                    model,
                    int(input_tokens * rng.uniform(0.8, 1.2)),
                    int(output_tokens * rng.uniform(0.8, 1.2)),
                    user=f"u-{rng.randrange(20)}",
                    service="web" if project != "docs" else "batch",
                )
        if hour.hour == 12:  # a trickle of calls to a model nobody priced: the usual, not an anomaly
            yield Call(hour + timedelta(minutes=5), "support", "chat", UNPRICED_MODEL, 2000, 300)
        hour += timedelta(hours=1)


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth; means here are small.
    import math

    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def plants(day: datetime = DAY) -> dict[str, list[Call]]:
    """What each rule must find on ``day`` (added to steady traffic)."""
    at = day.replace(hour=15)
    return {
        # search's answers got 6x longer, same number of requests: cost per request up.
        "cost_per_request": [],  # applied by spiked(), which rewrites search's calls that day
        "expensive_call": [Call(at.replace(hour=11), "support", "chat", "gpt-4o", 100_000, 100_000)],
        "spend_rate": [
            Call(at.replace(hour=3, minute=m), "docs", "summarise", "claude-3-5-haiku-20241022", 30_000, 3_000)
            for m in range(60)
            for _ in range(12)
        ],
        "new_model": [Call(at, "support", "chat", "gpt-4.1-mini", 2000, 300)],
        "unpriced_jump": [Call(at.replace(minute=m), "support", "chat", UNPRICED_MODEL, 2000, 300) for m in range(30)],
    }


def spiked(calls: list[Call], day: datetime = DAY) -> list[Call]:
    out = []
    for call in calls:
        if call.project == "search" and day <= call.when < day + timedelta(days=1):
            call = Call(
                call.when,
                call.project,
                call.feature,
                call.model,
                call.input_tokens,
                call.output_tokens * 8,
                user=call.user,
                service=call.service,
            )
        out.append(call)
    return out


def rows(calls: list[Call], catalog: PriceCatalog) -> list[tuple[tuple[Any, ...], None]]:
    out = []
    for index, call in enumerate(calls, 1):
        start_ns = int(call.when.timestamp() * 1e9)
        out.append(
            (
                call_row(
                    call.attributes(catalog),
                    start_ns=start_ns,
                    end_ns=start_ns + 800_000_000,
                    trace_id=format(index, "032x"),
                    span_id=index,
                    service=call.service,
                ),
                None,
            )
        )
    return out
