"""A failed ledger operation changes nothing and leaves the ledger usable (issue 11, finding 2).

On every ledger (memory, a SQLite file, a real redis-server): an operation carrying an amount no
ledger can store (2**70 micro-units: SQLite raises OverflowError, Redis' HINCRBY refuses it
mid-script) raises, writes nothing -- not even the valid calls before it in the same batch --
and the next operation works. For SQLite, a second *process* must then write at once: a
``BEGIN IMMEDIATE`` left open would hold the file's lock until the first process exits.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "budget"))
from budget_support import CALL, ledger_url_for, redis_server

from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import Slot, lease_at, open_ledger, to_micros
from genai_cost.budget.policy import BudgetPolicy

__all__ = ["redis_server"]

HUGE = 2**70


def slot(key: str = "company/2026-12") -> Slot:
    return Slot(key, limit=10**12, hard=True, expires_at=time.time() + 86_400)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return ledger_url_for(request.param, request, tmp_path)


def spent(ledger, key: str = "company/2026-12") -> int:
    balance = ledger.balances(key, lease_at(time.time())).get(key)
    return balance.spent if balance else 0


def test_an_overflowing_batch_writes_nothing_and_the_ledger_stays_usable(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url, timeout=2.0)
    try:
        s = [slot()]
        ledger.record(s, [((0,), 1_000)])
        with pytest.raises(Exception):  # noqa: B017 - which class is the ledger's business
            ledger.record(s, [((0,), 5), ((0,), HUGE)])
        assert spent(ledger) == 1_000  # not even the valid first call of the failed batch
        with pytest.raises(Exception):  # noqa: B017
            ledger.settle(s, 0, HUGE, lease_at(time.time()))
        with pytest.raises(Exception):  # noqa: B017
            ledger.reserve(s, HUGE, lease_at(time.time()))
        assert ledger.settle(s, 0, 2_000, lease_at(time.time())) == (3_000,)
        assert spent(ledger) == 3_000
    finally:
        ledger.close()


def test_an_overflowing_async_settle_leaves_the_ledger_usable(ledger_url: str) -> None:
    ledger = open_ledger(ledger_url, timeout=2.0)

    async def run() -> tuple[int, ...]:
        s = [slot()]
        lease = lease_at(time.time())
        try:
            with pytest.raises(Exception):  # noqa: B017
                await ledger.asettle(s, 0, HUGE, lease)
            return await ledger.asettle(s, 0, 7, lease)
        finally:
            aclose = getattr(ledger, "aclose", None)
            await aclose() if aclose is not None else ledger.close()

    if not hasattr(ledger, "asettle"):
        ledger.close()
        pytest.skip("the memory ledger has no async operations (the guard calls it inline)")
    assert asyncio.run(run()) == (7,)


SECOND_PROCESS = """
import sys, time
from genai_cost.budget.ledger import Slot, lease_at
from genai_cost.budget.ledger.sqlite import SQLiteLedger
ledger = SQLiteLedger(sys.argv[1], timeout=3.0)
slot = Slot("company/2026-12", 10**12, True, time.time() + 86400)
started = time.monotonic()
print(ledger.settle([slot], 0, 1, lease_at(time.time())), round(time.monotonic() - started, 3))
"""


@pytest.mark.parametrize("where", ["amount", "inside the transaction"])
def test_after_an_overflow_another_process_writes_the_sqlite_ledger_at_once(tmp_path: Path, where: str) -> None:
    path = tmp_path / "ledger.db"
    ledger = open_ledger(f"sqlite://{path}", timeout=3.0)
    try:
        with pytest.raises(Exception):  # noqa: B017
            if where == "amount":
                ledger.record([slot()], [((0,), HUGE)])
            else:  # an expiry no REAL column takes: OverflowError between BEGIN IMMEDIATE and COMMIT
                ledger.settle([slot(), slot("other")._replace(expires_at=HUGE)], 0, 5, lease_at(time.time()))
        assert spent(ledger) == 0
        done = subprocess.run(
            [sys.executable, "-c", SECOND_PROCESS, str(path)], capture_output=True, text=True, timeout=60
        )
        output = done.stdout + done.stderr
        assert done.returncode == 0, output
        assert "locked" not in output
        result, seconds = done.stdout.split(")")
        assert result == "(1,"
        assert float(seconds) < 1.0  # no wait on a lock left behind
    finally:
        ledger.close()


@pytest.mark.parametrize("action", ["block", "warn"])
def test_an_absurd_max_tokens_is_decided_not_a_broken_ledger(ledger_url: str, action: str) -> None:
    """A caller's max_tokens=10**30 makes an estimate of 6e23 dollars: a hard budget blocks the
    call, a soft one warns and reserves no more than a ledger can hold -- never a ledger error (the
    fail mode), and the ledger answers the next call."""
    policy = BudgetPolicy("company", limit=100.0, action=action)
    guard = BudgetGuard([policy], open_ledger(ledger_url, timeout=2.0), fail_mode="closed")
    try:
        absurd = guard.reserve(CALL, input_tokens=10, max_output_tokens=10**30)
        assert absurd is not None and absurd.status is None, absurd
        assert absurd.decision == action
        guard.settle(absurd, None)  # the call failed: its reservation goes back
        fine = guard.reserve(CALL, input_tokens=10, max_output_tokens=10)
        assert fine is not None and fine.decision == "allow" and fine.status is None, fine
        guard.settle(fine, 0.5)
        [row] = guard.status()
        assert row.status is None and to_micros(row.spent) == 500_000 and row.reserved == 0
    finally:
        guard.close()
