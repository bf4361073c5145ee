"""Budgets on an event loop: async calls (``lifecycle.ainvoke``, here the real AsyncOpenAI SDK
speaking HTTP to the local stand-in) reserve and settle through the ledger's async operations --
redis.asyncio against a real redis-server, SQLite in worker threads -- so a stalled ledger holds
up only the call that asked it, never the loop's other tasks."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import openai
import pytest
from budget_support import CALL, RedisServer

sys.path.append(str(Path(__file__).resolve().parents[1] / "instrumentation" / "openai"))
from openai_support import MESSAGES, aclient, instrumented

from conftest import attrs, only_span
from genai_cost import BudgetExceeded
from genai_cost import attributes as attr
from genai_cost.budget import install_guard
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import lease_at, to_micros
from genai_cost.budget.ledger.redis import RedisLedger
from genai_cost.budget.ledger.sqlite import SQLiteLedger
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.testing import StubProvider

__all__ = ["aclient", "instrumented"]

# As in test_redis_outage: a healthy local Redis answers well within it on a loaded CI box.
TIMEOUT = 0.5
PER_CALL_CEILING_S = 4 * TIMEOUT
TICK_S = 0.005
# A loop held by a blocking ledger call does not tick at all while the ledger stalls; one left free
# ticks every TICK_S through it (up to 100 times in TIMEOUT: a wide margin for a loaded box).
FREE_LOOP_TICKS = 5


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own: it is paused (SIGSTOP) mid-test."""
    server = RedisServer(tmp_path).start()
    yield server
    if server.process is not None:
        server.process.send_signal(signal.SIGCONT)
    server.stop()


@pytest.fixture
async def guards() -> AsyncIterator[list[BudgetGuard]]:
    """Guards installed by a test (the last one is current), closed afterwards."""
    installed: list[BudgetGuard] = []
    yield installed
    install_guard(None)
    for guard in installed:
        ledger = guard.ledger
        if isinstance(ledger, RedisLedger):
            await ledger.aclose()
        guard.close()


def install(guards: list[BudgetGuard], guard: BudgetGuard) -> BudgetGuard:
    guards.append(guard)
    install_guard(guard)
    return guard


class Ticker:
    """Another task on the loop: counts how often it gets to run."""

    def __init__(self) -> None:
        self.ticks = 0
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            self.ticks += 1

    async def during(self, awaitable):  # type: ignore[no-untyped-def]
        """Await ``awaitable``; returns (its result or exception, ticks meanwhile, seconds)."""
        before, started = self.ticks, time.monotonic()
        try:
            outcome = await awaitable
        except Exception as error:
            outcome = error
        return outcome, self.ticks - before, time.monotonic() - started

    def stop(self) -> None:
        self._task.cancel()


@pytest.mark.parametrize("mode", ["open", "closed"])
async def test_a_paused_redis_holds_up_the_call_not_the_loop(
    aclient: openai.AsyncOpenAI, stub: StubProvider, redis: RedisServer, guards: list[BudgetGuard], span_exporter, mode
) -> None:
    install(
        guards, BudgetGuard([BudgetPolicy("b", limit=10.0)], RedisLedger(redis.url, timeout=TIMEOUT), fail_mode=mode)
    )
    await aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=50)
    span_exporter.clear()
    requests_before = len(stub.requests)

    redis.process.send_signal(signal.SIGSTOP)  # accepts, never answers: the timeout decides
    ticker = Ticker()
    outcome, ticks, took = await ticker.during(
        aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=50)
    )
    ticker.stop()

    assert ticks >= FREE_LOOP_TICKS, f"the loop ran {ticks} times in {took:.2f}s: the reserve held it"
    assert took < PER_CALL_CEILING_S
    a = attrs(only_span(span_exporter))
    assert a[attr.BUDGET_STATUS].startswith(f"fail_{mode}: ledger unavailable")
    if mode == "open":
        assert not isinstance(outcome, Exception)
        assert len(stub.requests) == requests_before + 1
    else:
        assert isinstance(outcome, BudgetExceeded)
        assert len(stub.requests) == requests_before  # refused before any HTTP


async def test_a_paused_redis_at_settle_does_not_hold_the_loop(redis: RedisServer, guards: list[BudgetGuard]) -> None:
    guard = install(guards, BudgetGuard([BudgetPolicy("b", limit=10.0)], RedisLedger(redis.url, timeout=TIMEOUT)))
    decision = await guard.areserve(CALL, input_tokens=1000, max_output_tokens=500)
    assert decision is not None and decision.decision == "allow" and decision.status is None

    redis.process.send_signal(signal.SIGSTOP)
    ticker = Ticker()
    crossings, ticks, took = await ticker.during(guard.asettle(decision, 0.0001))
    ticker.stop()
    redis.process.send_signal(signal.SIGCONT)

    assert crossings == []  # not settled: logged, and the guard stops asking for a while
    assert ticks >= FREE_LOOP_TICKS and took < PER_CALL_CEILING_S
    (balance,) = guard.ledger.balances("", lease_at(time.time())).values()
    assert balance.spent == 0 and balance.reserved == decision.ticket.estimate


async def test_a_locked_sqlite_file_holds_up_the_call_not_the_loop(
    aclient: openai.AsyncOpenAI, tmp_path: Path, guards: list[BudgetGuard], span_exporter
) -> None:
    path = str(tmp_path / "ledger.db")
    guard = install(guards, BudgetGuard([BudgetPolicy("b", limit=10.0)], SQLiteLedger(path)))
    # Another process's transaction holds the write lock for a while (shorter than the busy timeout).
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    unlock = threading.Timer(0.3, lambda: holder.execute("COMMIT"))
    unlock.start()
    try:
        ticker = Ticker()
        outcome, ticks, _ = await ticker.during(
            aclient.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=50)
        )
        ticker.stop()
    finally:
        unlock.join()
        holder.close()

    assert not isinstance(outcome, Exception)
    assert ticks >= FREE_LOOP_TICKS, f"the loop ran {ticks} times: the reserve waited on the lock in it"
    a = attrs(only_span(span_exporter))
    assert a[attr.BUDGET_DECISION] == "allow" and attr.BUDGET_STATUS not in a  # it waited, then reserved
    (balance,) = guard.ledger.balances("", lease_at(time.time())).values()
    assert (balance.spent, balance.reserved) == (to_micros(a[attr.COST_AMOUNT]), 0)


@pytest.mark.parametrize("stream", [False, True])
async def test_concurrent_async_calls_share_one_redis_budget_exactly(
    aclient: openai.AsyncOpenAI,
    stub: StubProvider,
    tmp_path: Path,
    guards: list[BudgetGuard],
    span_exporter,
    stream: bool,
) -> None:
    server = RedisServer(tmp_path).start()
    try:
        # Room for some of the calls, not all: each reserves its max_tokens estimate.
        limit = 0.0012
        guard = install(
            guards,
            BudgetGuard(
                [BudgetPolicy("shared", limit=limit)], RedisLedger(server.url, timeout=5.0), fail_mode="closed"
            ),
        )

        async def one() -> None:
            response = await aclient.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, max_tokens=1000, stream=stream
            )
            if stream:
                async for _ in response:
                    pass

        outcomes = await asyncio.gather(*(one() for _ in range(40)), return_exceptions=True)
        spans = [attrs(s) for s in span_exporter.get_finished_spans()]
        assert len(spans) == 40
        assert all(o is None or isinstance(o, BudgetExceeded) for o in outcomes), outcomes
        blocked = sum(isinstance(o, BudgetExceeded) for o in outcomes)
        assert 0 < blocked < 40
        settled = [a for a in spans if a[attr.BUDGET_DECISION] != "block"]
        assert len(settled) == 40 - blocked and all(attr.BUDGET_STATUS not in a for a in spans)

        (balance,) = guard.ledger.balances("", lease_at(time.time())).values()
        assert balance.spent == sum(to_micros(a[attr.COST_AMOUNT]) for a in settled)
        assert balance.reserved == 0
        largest_estimate = max(to_micros(a[attr.BUDGET_ESTIMATE]) for a in spans)
        assert balance.spent <= to_micros(limit) + largest_estimate
    finally:
        server.stop()
