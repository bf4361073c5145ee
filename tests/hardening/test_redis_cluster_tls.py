"""Budgets on Redis Cluster and on TLS Redis (issue 11, scale-out).

A real 3-node Redis Cluster started here (``redis-server --cluster-enabled yes`` x3 on free ports,
``redis-cli --cluster create``): a call's keys -- the organisation's budget and its user's --
hash to different slots unless they share a tag, and a Lua script over two slots is refused
(CROSSSLOT). Calls of 200 users (sync reserve/settle, async, and the gateway's batched record)
must all be accounted, exactly, and ``status`` must list every user. Then a real redis-server
listening on TLS only, with a CA and server certificate made here, reached as ``rediss://``.
"""

from __future__ import annotations

import asyncio
import datetime
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "budget"))
from budget_support import CALL, free_port

from genai_cost import attributes as attr
from genai_cost.budget.guard import BudgetGuard
from genai_cost.budget.ledger import open_ledger, to_micros
from genai_cost.budget.policy import BudgetPolicy

USERS = 200


def _cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free and valid too (ephemeral ports are not)."""
    import random

    for _ in range(200):
        port = random.randint(20_000, 30_000)
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10_000))
            return port
        except OSError:
            continue
    raise RuntimeError("no free port pair for a cluster node")


def _wait_for(predicate, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith((b"+PONG", b"-"))
    except OSError:
        return False


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if server is None or cli is None:
        pytest.fail("redis-server and redis-cli are needed: apt-get install redis-server (redis-tools)")
    directory = tmp_path_factory.mktemp("cluster")
    ports: list[int] = []
    while len(ports) < 3:
        port = _cluster_port()
        if port not in ports:
            ports.append(port)
    processes = []
    try:
        for port in ports:
            node = directory / str(port)
            node.mkdir()
            processes.append(
                subprocess.Popen(
                    [server, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                     "--cluster-config-file", "nodes.conf", "--save", "", "--appendonly", "no", "--dir", str(node)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )  # fmt: skip
        assert all(_wait_for(lambda p=port: _answers(p)) for port in ports), "cluster nodes did not start"
        created = subprocess.run(
            [
                cli,
                "--cluster",
                "create",
                *(f"127.0.0.1:{p}" for p in ports),
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert created.returncode == 0, created.stdout + created.stderr

        def ready() -> bool:
            info = subprocess.run([cli, "-p", str(ports[0]), "cluster", "info"], capture_output=True, text=True)
            return "cluster_state:ok" in info.stdout

        assert _wait_for(ready, 30), "the cluster did not reach cluster_state:ok"
        yield ports
    finally:
        for process in processes:
            process.kill()
            process.wait(10)


def policies() -> list[BudgetPolicy]:
    return [BudgetPolicy("company", limit=1000.0), BudgetPolicy("per-user", limit=10.0, per="user")]


def test_a_call_s_keys_share_a_slot_on_redis_cluster(cluster: list[int]) -> None:
    import redis

    url = f"redis://127.0.0.1:{cluster[1]}/0?cluster=yes"
    guard = BudgetGuard(policies(), open_ledger(url, timeout=5.0), fail_mode="closed")
    settled = 0
    try:
        for n in range(USERS):  # reserve + settle: one script over two keys
            decision = guard.reserve({**CALL, attr.USER_ID: f"user-{n}"}, input_tokens=100, max_output_tokens=10)
            assert decision is not None and decision.status is None, decision.status
            guard.settle(decision, 0.001 * (n + 1))
            settled += to_micros(0.001 * (n + 1))

        # The gateway's path: one script for a batch of calls of many users.
        recorded = guard.record_many([({**CALL, attr.USER_ID: f"user-{n}"}, 0.25, None) for n in range(USERS)])
        assert all(d is not None and d.status is None for d in recorded)
        settled += USERS * to_micros(0.25)

        async def in_a_loop() -> tuple[int, list]:
            total = 0
            for n in range(20):
                call = {**CALL, attr.USER_ID: f"user-{n}"}
                decision = await guard.areserve(call, input_tokens=100, max_output_tokens=10)
                assert decision is not None and decision.status is None, decision.status
                await guard.asettle(decision, 0.5)
                total += to_micros(0.5)
            rows = guard.status()
            await guard.ledger.aclose()
            return total, rows

        total, rows = asyncio.run(in_a_loop())
        settled += total
    finally:
        guard.close()
    assert all(row.status is None for row in rows), {row.status for row in rows}
    company = next(row for row in rows if row.name == "company")
    users = {row.scope: row for row in rows if row.name == "per-user"}
    assert to_micros(company.spent) == settled
    assert len(users) == USERS
    assert sum(to_micros(row.spent) for row in users.values()) == settled
    # The keys are real cluster keys: one slot, whichever node serves it.
    client = redis.RedisCluster(host="127.0.0.1", port=cluster[0])
    try:
        keys = list(client.scan_iter(match="*genai_cost*", count=1000))
        assert len(keys) == USERS + 1
        assert len({client.keyslot(key) for key in keys}) == 1
    finally:
        client.close()


@pytest.mark.parametrize("node", [0, 1, 2])
def test_status_reads_every_node(cluster: list[int], node: int) -> None:
    """Whichever node the URL names (two of the three do not hold the budget's slot), status
    lists every user the test before accounted."""
    guard = BudgetGuard(policies(), open_ledger(f"redis://127.0.0.1:{cluster[node]}/0?cluster=yes", timeout=5.0))
    try:
        rows = guard.status()
    finally:
        guard.close()
    assert all(row.status is None for row in rows)
    assert len([row for row in rows if row.name == "per-user"]) == USERS


# --- TLS -----------------------------------------------------------------------------------


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject: str, issuer: x509.Name | None, key, signer, ca: bool) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            import ipaddress

            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
            )
        return builder.sign(signer, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = build("genai-cost test CA", None, ca_key, ca_key, True)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = build("127.0.0.1", ca.subject, server_key, ca_key, False)
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    server = shutil.which("redis-server")
    assert server is not None
    directory = tmp_path_factory.mktemp("tls")
    ca, cert, key = _certificates(directory)
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--tls-cert-file", str(cert),
         "--tls-key-file", str(key), "--tls-ca-cert-file", str(ca), "--tls-auth-clients", "no", "--save", "",
         "--appendonly", "no", "--dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        if not _wait_for(lambda: _listening(port) or process.poll() is not None, 10) or process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            if "tls" in output.lower() and ("not" in output.lower() or "unrecognized" in output.lower()):
                pytest.skip(f"this redis-server was built without TLS: {output.strip()[-200:]}")
            pytest.fail(f"redis-server with TLS did not start: {output[-2000:]}")
        yield port, ca
    finally:
        process.kill()
        process.wait(10)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_budgets_on_tls_redis(tls_redis: tuple[int, Path]) -> None:
    port, ca = tls_redis
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}"
    guard = BudgetGuard(policies(), open_ledger(url, timeout=5.0), fail_mode="closed")
    try:
        for n in range(10):
            decision = guard.reserve({**CALL, attr.USER_ID: f"user-{n}"}, input_tokens=100, max_output_tokens=10)
            assert decision is not None and decision.status is None, decision.status
            guard.settle(decision, 0.01)
        rows = guard.status()
    finally:
        guard.close()
    assert to_micros(next(r for r in rows if r.name == "company").spent) == 10 * to_micros(0.01)
    # Plain text to the TLS port is refused: the ledger really spoke TLS.
    plain = BudgetGuard(policies(), open_ledger(f"redis://127.0.0.1:{port}/0", timeout=1.0), fail_mode="closed")
    try:
        assert plain.reserve(CALL, input_tokens=1, max_output_tokens=1).status is not None
    finally:
        plain.close()
