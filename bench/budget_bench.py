"""The budget guard's added time per call, for each ledger.

One "call" is what the instrumentation does around a provider call when a budget covers it:
``guard.reserve(...)`` (match policies, current window, price the estimate, one atomic ledger
operation, decide) then ``guard.settle(...)`` (one atomic ledger operation, threshold check).
Measured directly on the guard, single thread, three budgets covering the call (global, team,
per-user) so nesting is included; the baseline is an empty loop. For Redis the round trips are
counted by the server itself (``INFO commandstats``), not assumed. The async rows are what an
async app's call pays: ``await guard.areserve(...)`` / ``await guard.asettle(...)`` on an event
loop (redis.asyncio; SQLite in a worker thread), one call at a time.

    .venv/bin/python bench/budget_bench.py            # ~20 s; starts its own redis-server

Goals (issue 5): memory <= 5 us, SQLite <= 100 us, Redis one round trip for reserve and one for
settle.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from genai_cost import attributes as attr
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import open_ledger
from genai_cost.budget.policy import BudgetPolicy
from genai_cost.pricing import catalog

CALL = {
    attr.REQUEST_MODEL: "gpt-4o-mini",
    attr.PROVIDER_NAME: "openai",
    attr.TEAM: "search",
    attr.USER_ID: "alice",
}
ONE_POLICY = [BudgetPolicy("global", limit=1e9)]
POST_HOC_BATCH = 512  # spans per export request, as the gateway bench sends them
POLICIES = [
    BudgetPolicy("global", limit=1e9),
    BudgetPolicy("search", limit=1e9, window="day", match={"team": "search"}),
    BudgetPolicy("per-user", limit=1e9, window="day", per="user", action="warn"),
]


def per_call_us(guard: BudgetGuard, calls: int, repeats: int = 7, *, post_hoc: bool = False) -> float:
    """The best of ``repeats`` runs of the mean time of one reserve + settle (``post_hoc``: one
    span's share of a ``record_many`` of ``POST_HOC_BATCH``, what the gateway does per export
    request), in µs (the best, as timeit advises: on a shared box the slower runs measure the
    neighbours)."""
    reserve, settle, record_many = guard.reserve, guard.settle, guard.record_many
    batch = [(CALL, 0.0003, None)] * POST_HOC_BATCH
    runs = []
    for _ in range(repeats):
        started = time.perf_counter()
        if post_hoc:
            for _ in range(calls // POST_HOC_BATCH):
                record_many(batch)
        else:
            for _ in range(calls):
                decision = reserve(CALL, input_tokens=1000, max_output_tokens=500)
                settle(decision, 0.0003)  # type: ignore[arg-type]
        runs.append((time.perf_counter() - started) / calls * 1e6)
    return min(runs)


def async_per_call_us(guard: BudgetGuard, calls: int, repeats: int = 7) -> float:
    """``per_call_us`` for ``areserve`` + ``asettle`` awaited on one event loop (its Redis
    client belongs to that loop, so warm-up and runs share it)."""

    async def runs() -> float:
        areserve, asettle = guard.areserve, guard.asettle
        best = float("inf")
        for count in (200, *([calls] * repeats)):  # the first: warm-up (client, scripts, memos)
            started = time.perf_counter()
            for _ in range(count):
                decision = await areserve(CALL, input_tokens=1000, max_output_tokens=500)
                await asettle(decision, 0.0003)  # type: ignore[arg-type]
            if count == calls:
                best = min(best, (time.perf_counter() - started) / calls * 1e6)
        aclose = getattr(guard.ledger, "aclose", None)
        if aclose is not None:
            await aclose()
        return best

    return asyncio.run(runs())


def price_us(calls: int = 20_000) -> float:
    """One PriceCatalog.price call, the yardstick bench/README's pricing table gives (1.12 µs):
    the box is shared, so each run says how loaded it was."""
    from genai_cost.usage import TokenUsage

    usage = TokenUsage(input_tokens=1000, output_tokens=300)
    price = catalog().price
    runs = []
    for _ in range(7):
        started = time.perf_counter()
        for _ in range(calls):
            price("gpt-4o-mini", usage, provider_name="openai")
        runs.append((time.perf_counter() - started) / calls * 1e6)
    return min(runs)


def redis_commands(port: int) -> dict[str, int]:
    import redis

    stats = redis.Redis(port=port).info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def start_redis(directory: str) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server not found (apt-get install redis-server)")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    process = subprocess.Popen(
        [binary, "--port", str(port), "--save", "", "--appendonly", "no", "--dir", directory],
        stdout=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            return process, port
        except OSError:
            time.sleep(0.02)
    sys.exit("redis-server did not start")


def main() -> None:
    catalog().warm_up()
    catalog().price("gpt-4o-mini", None)  # wait for the price data
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        redis_process, port = start_redis(tmp)
        try:
            sqlite, redis = f"sqlite://{Path(tmp) / 'ledger.db'}", f"redis://127.0.0.1:{port}/0"
            for name, url, calls, policies, post_hoc in (
                ("memory, 1 budget", "memory", 20_000, ONE_POLICY, False),
                ("memory, 3 nested budgets", "memory", 20_000, POLICIES, False),
                ("sqlite (WAL, one file), 3 budgets", sqlite, 2_000, POLICIES, False),
                ("redis (local server), 3 budgets", redis, 2_000, POLICIES, False),
                ("memory, 3 budgets, async call (inline)", "memory", 20_000, POLICIES, "async"),
                ("sqlite, 3 budgets, async call (worker thread)", sqlite, 2_000, POLICIES, "async"),
                ("redis, 3 budgets, async call (redis.asyncio)", redis, 2_000, POLICIES, "async"),
                (
                    "gateway post hoc, per span of a 512-span request: memory, 3 budgets",
                    "memory",
                    20_480,
                    POLICIES,
                    True,
                ),
                ("gateway post hoc, per span of a 512-span request: sqlite", sqlite, 5_120, POLICIES, True),
                ("gateway post hoc, per span of a 512-span request: redis", redis, 5_120, POLICIES, True),
            ):
                guard = BudgetGuard(policies, open_ledger(url, timeout=1.0))
                if post_hoc == "async":
                    before = redis_commands(port) if url.startswith("redis") else {}
                    calls_counted = calls * 7 + 200
                    us = async_per_call_us(guard, calls)
                else:
                    per_call_us(guard, 200, repeats=1, post_hoc=post_hoc)  # warm: connections, scripts, memos
                    before = redis_commands(port) if url.startswith("redis") else {}
                    calls_counted = calls * 7
                    us = per_call_us(guard, calls, post_hoc=post_hoc)
                trips = ""
                if before:
                    after = redis_commands(port)
                    # What clients sent (commands a script runs inside the server count apart).
                    sent = sum(after.get(c, 0) - before.get(c, 0) for c in ("evalsha", "eval", "script"))
                    trips = f"{sent / calls_counted:.4f}" if post_hoc is True else f"{sent / calls_counted:.2f}"
                rows.append((name, us, trips))
                guard.close()
        finally:
            redis_process.kill()
    reference = price_us()
    print(f"reference on this machine now: PriceCatalog.price = {reference:.2f} µs (1.12 µs on a quiet one)")
    print("| ledger | reserve + settle (or record), µs/call (best of 7) | Redis commands/call |")
    print("|---|---|---|")
    for name, us, trips in rows:
        print(f"| {name} | {us:.1f} | {trips or '—'} |")


if __name__ == "__main__":
    main()
