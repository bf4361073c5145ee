"""A Redis ledger that goes away mid-run: calls keep flowing per the fail mode, each within the
ledger timeout (no hang), and budgets count again once Redis is back."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from budget_support import CALL, RedisServer

from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger.redis import RedisLedger
from genai_cost.budget.policy import BudgetPolicy

# Long enough that a healthy local Redis always answers in time on a loaded 2-core CI box (at
# the product's 50 ms a stalled test process reads as an outage before and after it).
TIMEOUT = 0.5
# Generous against that box, yet far below what a hanging client would take (a paused Redis
# without socket timeouts never answers; redis-py's defaults retry with backoff for seconds).
PER_CALL_CEILING_S = 4 * TIMEOUT


def calls(guard: BudgetGuard, n: int) -> list[tuple[str, str | None, float]]:
    out = []
    for _ in range(n):
        started = time.monotonic()
        decision = guard.reserve(CALL, input_tokens=100, max_output_tokens=100)
        assert decision is not None
        if not decision.blocked:
            guard.settle(decision, 0.00001)
        out.append((decision.decision, decision.status, time.monotonic() - started))
    return out


@pytest.mark.parametrize(("mode", "during"), [("open", "allow"), ("closed", "block")])
@pytest.mark.parametrize("how", ["killed", "paused"])
def test_redis_stopped_mid_run(tmp_path: Path, mode: str, during: str, how: str) -> None:
    server = RedisServer(tmp_path).start()
    now = [1_800_000_000.0]
    guard = BudgetGuard(
        [BudgetPolicy("b", limit=10.0)],
        RedisLedger(server.url, timeout=TIMEOUT),
        fail_mode=mode,
        clock=lambda: now[0],
        retry_after=1.0,
    )
    try:
        before = calls(guard, 20)
        assert {(d, s) for d, s, _ in before} == {("allow", None)}

        if how == "killed":
            server.stop()  # connections refused at once
        else:
            server.process.send_signal(signal.SIGSTOP)  # accepts, never answers: the timeout decides
        outage = calls(guard, 50)
        assert {d for d, _, _ in outage} == {during}
        assert all(s is not None and s.startswith(f"fail_{mode}") for _, s, _ in outage)
        assert max(t for _, _, t in outage) < PER_CALL_CEILING_S
        # After the first failure the guard stops asking for retry_after: no more waiting at all.
        assert sum("moments ago" in s for _, s, _ in outage) == 49

        if how == "killed":
            server.start()  # same port, empty memory (no persistence)
        else:
            server.process.send_signal(signal.SIGCONT)
        now[0] += 2.0  # past retry_after
        after = calls(guard, 20)
        assert {(d, s) for d, s, _ in after} == {("allow", None)}
        (status,) = guard.status()
        if how == "killed":  # only calls since Redis came back are counted
            assert status.spent == pytest.approx(20 * 0.00001) and status.reserved == 0
        else:
            # Redis kept its data; the outage's calls were not counted. The one reservation that
            # timed out may still have run once Redis woke: at most one estimate stays reserved
            # until its lease lapses.
            assert status.spent == pytest.approx(40 * 0.00001)
            assert status.reserved <= 100 * 0.15e-6 + 100 * 0.6e-6 + 1e-6
    finally:
        guard.close()
        server.stop()
