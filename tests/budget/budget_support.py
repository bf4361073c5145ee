"""Shared pieces of the budget tests: a real redis-server on a free port, guards over each ledger,
and a way to spend through a guard the way the instrumentation does.

Not a conftest.py (that would shadow the root one); tests import what they need.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from genai_cost import attributes as attr

CALL = {attr.REQUEST_MODEL: "gpt-4o-mini", attr.PROVIDER_NAME: "openai"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """A throwaway redis-server process (no persistence) that tests can stop and start again."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed: run scripts/bootstrap.sh (apt-get install redis-server)")
        self.binary = binary
        self.directory = directory
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def flush(self) -> None:
        import redis

        client = redis.Redis.from_url(self.url)
        client.flushall()
        client.close()


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


def ledger_url_for(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh ledger of ``kind`` (memory, sqlite, redis: the module's real redis-server, flushed)."""
    if kind == "memory":
        return "memory"
    if kind == "sqlite":
        return f"sqlite://{tmp_path / 'ledger.db'}"
    server: RedisServer = request.getfixturevalue("redis_server")
    server.flush()
    return server.url


def spend(guard: Any, cost: float, **attributes: Any) -> Any:
    """One call through the guard: reserve (1000 tokens in, 500 out), then settle ``cost``."""
    decision = guard.reserve({**CALL, **attributes}, input_tokens=1000, max_output_tokens=500)
    if decision is not None and not decision.blocked:
        guard.settle(decision, cost)
    return decision


# --- concurrent spending (module-level so spawned processes can import it) ----------------------

SHARED_BUDGET = "shared"


def spend_concurrently(url: str, limit: float, calls: int, seed: int) -> tuple[list[int], int]:
    """``calls`` calls against one hard budget on the ledger at ``url``; each allowed call settles
    a random share of its estimate. Returns (micro-units settled per allowed call, calls blocked)."""
    import random

    from genai_cost.budget.guard import BudgetGuard
    from genai_cost.budget.ledger import open_ledger, to_micros
    from genai_cost.budget.policy import BudgetPolicy

    guard = BudgetGuard(
        [BudgetPolicy(SHARED_BUDGET, limit=limit, window="month")],
        open_ledger(url, timeout=5.0),
        fail_mode="closed",  # an unreachable ledger would show up as a status, failing the test
    )
    rng = random.Random(seed)
    settled: list[int] = []
    blocked = 0
    try:
        for _ in range(calls):
            decision = guard.reserve(CALL, input_tokens=1000, max_output_tokens=500)
            assert decision is not None and decision.status is None, decision
            if decision.blocked:
                blocked += 1
                continue
            cost = decision.estimate * rng.uniform(0.3, 1.0)
            guard.settle(decision, cost)
            settled.append(to_micros(cost))
    finally:
        guard.close()
    return settled, blocked
