"""Calendar windows across hour/day/month boundaries and time zones, with the clock injected."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from budget_support import spend

from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger.memory import MemoryLedger
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.budget.windows import WindowClock, window_at


def ts(*parts: int, tz: str = "UTC") -> float:
    from zoneinfo import ZoneInfo

    return datetime(*parts, tzinfo=ZoneInfo(tz)).timestamp()  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kind", "moment", "tz", "name", "start", "end"),
    [
        ("hour", (2026, 12, 1, 10, 59, 59), "UTC", "2026-12-01T10+0000", (2026, 12, 1, 10), (2026, 12, 1, 11)),
        ("day", (2026, 12, 31, 23, 59, 59), "UTC", "2026-12-31", (2026, 12, 31), (2027, 1, 1)),
        ("month", (2026, 12, 31, 23, 0), "UTC", "2026-12", (2026, 12, 1), (2027, 1, 1)),
        ("month", (2028, 2, 29, 12), "UTC", "2028-02", (2028, 2, 1), (2028, 3, 1)),
        # Half-hour offset zone: its hours start at :30 UTC.
        ("hour", (2026, 12, 1, 10, 15), "Asia/Kolkata", "2026-12-01T10+0530", (2026, 12, 1, 10), (2026, 12, 1, 11)),
        ("day", (2026, 12, 1, 0, 5), "Asia/Tokyo", "2026-12-01", (2026, 12, 1), (2026, 12, 2)),
        ("month", (2026, 11, 30, 23, 30), "America/Los_Angeles", "2026-11", (2026, 11, 1), (2026, 12, 1)),
    ],
)
def test_window_bounds_are_local_calendar_units(
    kind: str, moment: tuple[int, ...], tz: str, name: str, start: tuple[int, ...], end: tuple[int, ...]
) -> None:
    window = window_at(kind, ts(*moment, tz=tz), tz)
    assert window.name == name
    assert window.start == ts(*start, tz=tz)
    assert window.end == ts(*end, tz=tz)


def test_dst_days_are_23_and_25_hours_and_hours_stay_distinct() -> None:
    spring = window_at("day", ts(2026, 3, 29, 12, tz="Europe/Berlin"), "Europe/Berlin")
    autumn = window_at("day", ts(2026, 10, 25, 12, tz="Europe/Berlin"), "Europe/Berlin")
    assert (spring.end - spring.start, autumn.end - autumn.start) == (23 * 3600, 25 * 3600)
    # The repeated 02:00 hour of the autumn change is two windows with two names.
    first = window_at("hour", datetime(2026, 10, 25, 0, 30, tzinfo=UTC).timestamp(), "Europe/Berlin")
    second = window_at("hour", datetime(2026, 10, 25, 1, 30, tzinfo=UTC).timestamp(), "Europe/Berlin")
    assert first.name != second.name and first.end == second.start


def test_window_clock_recomputes_only_at_the_boundary() -> None:
    now = [ts(2026, 12, 1, 10, 59)]
    clock = WindowClock(lambda: now[0])
    first = clock.current("hour", "UTC", now[0])
    assert clock.current("hour", "UTC", now[0] + 30) is first
    assert clock.current("hour", "UTC", ts(2026, 12, 1, 11)).name == "2026-12-01T11+0000"


@pytest.mark.parametrize(
    ("window", "before", "after"),
    [
        ("hour", (2026, 12, 1, 10, 59, 59), (2026, 12, 1, 11, 0, 0)),
        ("day", (2026, 12, 1, 23, 59, 59), (2026, 12, 2, 0, 0, 0)),
        ("month", (2026, 12, 31, 23, 59, 59), (2027, 1, 1, 0, 0, 0)),
    ],
)
@pytest.mark.parametrize("tz", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_spend_resets_when_the_window_rolls_over(
    window: str, before: tuple[int, ...], after: tuple[int, ...], tz: str
) -> None:
    now = [ts(*before, tz=tz)]
    guard = BudgetGuard(
        [BudgetPolicy("b", limit=0.01, window=window, timezone=tz)], MemoryLedger(), clock=lambda: now[0]
    )
    assert spend(guard, 0.01).decision == "allow"
    blocked = spend(guard, 0.0)
    assert blocked.decision == "block"
    assert blocked.budget.reset_at.timestamp() == ts(*after, tz=tz)
    now[0] = ts(*after, tz=tz)
    fresh = spend(guard, 0.002)
    assert fresh.decision == "allow"
    (status,) = guard.status()
    assert status.spent == pytest.approx(0.002) and status.reset_at.timestamp() > now[0]


def test_the_same_instant_is_a_different_day_in_another_zone() -> None:
    # 2026-12-01 23:30 UTC is already 2 December in Tokyo.
    now = ts(2026, 12, 1, 23, 30)
    utc, tokyo = window_at("day", now, "UTC"), window_at("day", now, "Asia/Tokyo")
    assert (utc.name, tokyo.name) == ("2026-12-01", "2026-12-02")


def test_projection_extrapolates_the_month() -> None:
    # 10 of December's 31 days gone, 10 spent: 31 at this pace.
    now = ts(2026, 12, 11)
    guard = BudgetGuard([BudgetPolicy("m", limit=100.0)], MemoryLedger(), clock=lambda: now)
    decision = guard.reserve(
        {"gen_ai.request.model": "gpt-4o-mini", "gen_ai.provider.name": "openai"}, input_tokens=1, max_output_tokens=1
    )
    assert decision is not None
    guard.settle(decision, 10.0)
    (status,) = guard.status()
    assert status.projected == pytest.approx(31.0)
