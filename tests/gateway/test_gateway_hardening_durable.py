"""Crashes and full disks: what the gateway acknowledged is delivered, a full disk is a 503.

Issue 11, findings 3 and 10: a ``kill -9`` lost every acknowledged span held in memory; a full
disk answered 500 with a traceback (exporters drop a 500 batch); an unwritable spool directory
was a traceback at start; spool files were world-readable.
"""

from __future__ import annotations

import http.client
import signal
import stat
import subprocess
import sys

import pytest
from gateway_support import dead_endpoint, eventually, free_port, running_gateway
from hardening_support import gateway_process, metric, spans_request, wait_until

from genai_cost.gateway.spool import Spool
from genai_cost.testing.otlp_receiver import OtlpReceiver

PROTOBUF = {"Content-Type": "application/x-protobuf"}


def _post(port: int, body: bytes) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/v1/traces", body=body, headers=PROTOBUF)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_every_acknowledged_span_survives_kill_9(tmp_path):
    spool = tmp_path / "spool"
    downstream_port, port = free_port(), free_port()
    args = ["--downstream", f"http://127.0.0.1:{downstream_port}", "--http-port", str(port)]
    args += ["--grpc-port", "off", "--spool-dir", str(spool)]
    batches, per_batch = 40, 50
    with gateway_process(*args) as first:
        for batch in range(batches):  # the downstream is down: nothing can leave
            status, _, _ = _post(port, spans_request(f"k{batch:02d}", per_batch).SerializeToString())
            assert status == 200
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    with OtlpReceiver(port=downstream_port) as downstream, gateway_process(*args):
        spans = downstream.wait_for_spans(lambda s: len({x.name for x in s}) >= batches * per_batch, timeout=60)
        names = [s.name for s in spans]
        assert set(names) == {f"k{b:02d}-{i}" for b in range(batches) for i in range(per_batch)}
        assert wait_until(lambda: metric(f"http://127.0.0.1:{port}", "spool_spans") == 0)
        redelivered = metric(f"http://127.0.0.1:{port}", "spans_redelivered_total")
    # at least once: any duplicate is one the gateway counted (none here: nothing was ever sent)
    assert len(names) - len(set(names)) <= redelivered


def test_a_batch_caught_mid_send_by_a_crash_is_sent_again_and_counted(tmp_path):
    spool_dir = tmp_path / "spool"
    crashed = Spool(spool_dir, 10_000_000, durable=True)
    assert crashed.put(spans_request("mid", 7).SerializeToString(), 7)
    taken = crashed.take()  # a worker took it, sent it perhaps, and the process died before `done`
    assert taken is not None
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint, spool_dir=spool_dir) as gateway:
        spans = downstream.wait_for_spans(lambda s: len(s) >= 7)
        assert eventually(lambda: gateway.stats.get("spans_redelivered") == 7)
    assert sorted(s.name for s in spans) == sorted(f"mid-{i}" for i in range(7))
    assert not any(spool_dir.iterdir())


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 kB tmpfs: a real ENOSPC. Needs root and mount (this CI runs as root)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_is_a_503_with_retry_after_and_nothing_acknowledged_is_lost(tiny_disk, caplog):
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    spool = tiny_disk / "spool"
    accepted: list[str] = []
    with running_gateway(endpoint, spool_dir=spool, max_queue_spans=1, grpc_port=None, retry_after=2) as gateway:
        for batch in range(40):
            tag = f"f{batch:02d}"
            status, headers, _ = _post(
                gateway.http_port, spans_request(tag, 4, attribute_bytes=1500).SerializeToString()
            )
            if status != 200:
                break
            accepted.append(tag)
        assert status == 503, f"a full disk must push back with 503, got {status}"
        assert headers.get("Retry-After") == "2"
        assert 0 < len(accepted) < 40
        assert gateway.stats.get("spans_dropped") == 0
        with OtlpReceiver(port=port) as downstream:
            spans = downstream.wait_for_spans(lambda s: len(s) >= 4 * len(accepted))
            assert eventually(lambda: gateway.forwarder.spool.stored_bytes == 0)
            # room again: accepted once more
            assert _post(gateway.http_port, spans_request("after", 2).SerializeToString())[0] == 200
            downstream.wait_for_spans(lambda s: any(x.name == "after-1" for x in s))
    assert {s.name for s in spans} >= {f"{tag}-{i}" for tag in accepted for i in range(4)}
    assert "Traceback" not in caplog.text
    assert sum("cannot write to the spool" in r.getMessage() for r in caplog.records) == 1


def test_an_unwritable_spool_directory_is_a_one_line_error_at_start(tmp_path):
    not_a_directory = tmp_path / "file"
    not_a_directory.write_text("")
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "genai_cost.cli",
            "gateway",
            "--downstream",
            "http://127.0.0.1:9",
            "--grpc-port",
            "off",
            "--http-port",
            "0",
            "--spool-dir",
            str(not_a_directory / "spool"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    [line] = process.stderr.strip().splitlines()
    assert "spool directory" in line and str(not_a_directory / "spool") in line and "Not a directory" in line


@pytest.mark.parametrize("existing", [False, True])
def test_spool_files_and_directory_are_private(tmp_path, existing):
    spool = tmp_path / "spool"
    if existing:  # made beforehand with the usual umask: the gateway's own, so it is tightened
        spool.mkdir(mode=0o755)
        spool.chmod(0o755)
    with dead_endpoint() as endpoint, running_gateway(endpoint, spool_dir=spool) as gateway:
        assert _post(gateway.http_port, spans_request("p", 3).SerializeToString())[0] == 200
    # Read once the gateway has stopped: while it runs, the retry loop renames a batch to
    # ``.sending`` and back, so a file listed a moment ago may have another name by the stat.
    files = list(spool.iterdir())
    assert files
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}
