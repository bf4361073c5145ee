"""Many threads and processes spending against one hard budget on a shared ledger (SQLite file,
real redis-server): the final spend is exactly the sum of what was settled, and at no moment does
spend pass the limit by more than one in-flight estimate."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import pytest
from budget_support import SHARED_BUDGET, RedisServer, redis_server, spend_concurrently

from genai_cost.budget.estimate import estimate_cost
from genai_cost.budget.ledger import Ledger, lease_at, open_ledger, to_micros

__all__ = ["redis_server"]

LIMIT = 0.15  # dollars: about half of what the workers would spend unchecked
CALLS = 150
ESTIMATE = to_micros(estimate_cost("gpt-4o-mini", 1000, 500, provider_name="openai") or 0) + 1


@pytest.fixture(params=["sqlite", "redis"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'ledger.db'}"
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        server.flush()
        yield server.url


class SpendWatcher:
    """Samples the ledger while the workers run: the highest spend it ever saw."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.highest = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for balance in self.ledger.balances(SHARED_BUDGET, lease_at(time.time())).values():
                self.highest = max(self.highest, balance.spent)
            self.samples += 1
            self._stop.wait(0.002)

    def __enter__(self) -> SpendWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run(url: str, submit: Callable[..., list[tuple[list[int], int]]]) -> None:
    ledger = open_ledger(url, timeout=5.0)
    with SpendWatcher(ledger) as watcher:
        results = submit()
    settled = [micros for per_worker, _ in results for micros in per_worker]
    blocked = sum(b for _, b in results)
    (balance,) = ledger.balances(SHARED_BUDGET, lease_at(time.time())).values()
    ledger.close()
    assert balance.spent == sum(settled)  # exact, in integer micro-units
    assert balance.reserved == 0  # every reservation was settled
    limit = to_micros(LIMIT)
    assert max(watcher.highest, balance.spent) <= limit + ESTIMATE
    # The limit was really contended: calls were refused, and the budget is (nearly) used up.
    assert blocked > 0 and balance.spent > limit - 2 * ESTIMATE
    assert watcher.samples > 1


def test_eight_threads(ledger_url: str) -> None:
    with ThreadPoolExecutor(8) as pool:
        run(
            ledger_url, lambda: list(pool.map(spend_concurrently, [ledger_url] * 8, [LIMIT] * 8, [CALLS] * 8, range(8)))
        )


def test_four_processes(ledger_url: str) -> None:
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads running
    with ProcessPoolExecutor(4, mp_context=context) as pool:
        run(
            ledger_url,
            lambda: list(pool.map(spend_concurrently, [ledger_url] * 4, [LIMIT] * 4, [CALLS * 2] * 4, range(4))),
        )
