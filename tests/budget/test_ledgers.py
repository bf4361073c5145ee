"""The three ledgers keep the same books: the same operations give the same balances on memory,
a SQLite file and a real redis-server, including reservations whose call never settled."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from budget_support import CALL, RedisServer, redis_server

from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import LEASE_BUCKET_S, LEASE_BUCKETS, Balance, Ledger, Slot, open_ledger
from genai_cost.budget.policy import BudgetPolicy

__all__ = ["redis_server"]

NOW = 1_800_000_000.0
LEASE = int(NOW // LEASE_BUCKET_S)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "memory":
        url = "memory"
    elif request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'ledger.db'}"
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        server.flush()
        url = server.url
    opened = open_ledger(url, timeout=2.0)
    yield opened
    opened.close()


def slots(*limits: int, hard: bool = True) -> tuple[Slot, ...]:
    return tuple(Slot(f"b{i}/2027-01", limit, hard, NOW + 86_400) for i, limit in enumerate(limits))


def test_reserve_is_all_or_nothing_across_a_calls_budgets(ledger: Ledger) -> None:
    both = slots(1000, 300)
    assert ledger.reserve(both, 200, LEASE).admitted
    refused = ledger.reserve(both, 200, LEASE)  # 200 + 200 > 300 on the second
    assert not refused.admitted and refused.balances == (Balance(0, 200), Balance(0, 200))
    assert {k: b.reserved for k, b in ledger.balances("b", LEASE).items()} == {"b0/2027-01": 200, "b1/2027-01": 200}


def test_soft_slots_never_refuse(ledger: Ledger) -> None:
    soft = slots(10, hard=False)
    assert ledger.reserve(soft, 500, LEASE).admitted
    assert ledger.reserve(soft, 500, LEASE).balances == (Balance(0, 500),)


def test_settle_and_release(ledger: Ledger) -> None:
    one = slots(10_000)
    ledger.reserve(one, 300, LEASE)
    ledger.reserve(one, 300, LEASE)
    assert ledger.settle(one, 300, 120, LEASE) == (120,)
    ledger.release(one, 300, LEASE)
    assert ledger.balances("b0", LEASE) == {"b0/2027-01": Balance(120, 0)}


def test_a_limit_reached_exactly_admits_nothing_more(ledger: Ledger) -> None:
    one = slots(100)
    ledger.reserve(one, 100, LEASE)
    ledger.settle(one, 100, 100, LEASE)
    assert not ledger.reserve(one, 0, LEASE).admitted  # even a call that reserves nothing


def test_a_reservation_nobody_settles_lapses_with_its_lease(ledger: Ledger) -> None:
    one = slots(1000)
    assert ledger.reserve(one, 900, LEASE).admitted  # its process dies: no settle ever comes
    later = LEASE + LEASE_BUCKETS - 1
    assert not ledger.reserve(one, 200, later).admitted  # still held 15 minutes on
    lapsed = LEASE + LEASE_BUCKETS
    assert ledger.reserve(one, 200, lapsed).admitted
    assert ledger.balances("b0", lapsed) == {"b0/2027-01": Balance(0, 200)}
    # Settling the lapsed reservation late still counts its cost and takes nothing else back.
    assert ledger.settle(one, 900, 50, LEASE) == (50,)
    assert ledger.balances("b0", lapsed) == {"b0/2027-01": Balance(50, 200)}


def test_the_guard_heals_after_a_crashed_process(ledger: Ledger) -> None:
    now = [NOW]
    guard = BudgetGuard([BudgetPolicy("b", limit=0.001)], ledger, clock=lambda: now[0])
    crashed = guard.reserve(CALL, input_tokens=1000, max_output_tokens=1000)  # ~0.00075 reserved
    assert crashed is not None and crashed.decision == "allow"
    assert guard.reserve(CALL, input_tokens=1000, max_output_tokens=1000).decision == "block"
    now[0] += LEASE_BUCKETS * LEASE_BUCKET_S
    (status,) = guard.status()
    assert status.reserved == 0.0
    assert guard.reserve(CALL, input_tokens=1000, max_output_tokens=1000).decision == "allow"
