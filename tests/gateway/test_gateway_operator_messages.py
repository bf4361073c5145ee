"""What an operator is told: no grpcio, a downstream outage and its end, spans lost at shutdown.

Issue 10, item 5: the gateway refused to start without grpcio though OTLP/HTTP needs nothing
extra, was silent while its downstream was down, and lost its queue at shutdown without saying
how much or what would have kept it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

from gateway_support import dead_endpoint, free_port, running_gateway
from hardening_support import spans_request, wait_until

from genai_cost.testing.otlp_receiver import OtlpReceiver


def _without_grpcio(tmp_path) -> dict[str, str]:
    """An environment where ``import grpc`` fails, as in an install without the gateway extra."""
    shadow = tmp_path / "no-grpcio"
    (shadow / "grpc").mkdir(parents=True)
    (shadow / "grpc" / "__init__.py").write_text("raise ImportError('No module named grpc')\n")
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(shadow), os.environ.get("PYTHONPATH", "")])}


def test_without_grpcio_the_gateway_serves_http_and_says_so(tmp_path):
    env = _without_grpcio(tmp_path)
    port = free_port()
    with OtlpReceiver() as downstream:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "genai_cost.cli",
                "gateway",
                "--downstream",
                downstream.endpoint,
                "--http-port",
                str(port),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            banner = process.stdout.readline()
            assert f"OTLP/HTTP 127.0.0.1:{port}" in banner and "gRPC" not in banner
        finally:
            process.terminate()
            process.wait(30)
        notice = [line for line in process.stderr.read().splitlines() if "grpcio" in line]
        process.stdout.close()
        process.stderr.close()
    assert len(notice) == 1 and "OTLP/HTTP only" in notice[0]


def test_without_grpcio_an_explicit_grpc_port_is_an_error_naming_the_way_out(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "genai_cost.cli",
            "gateway",
            "--downstream",
            "http://127.0.0.1:9",
            "--http-port",
            "0",
            "--grpc-port",
            "4317",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        env=_without_grpcio(tmp_path),
    )
    assert done.returncode == 2
    assert "grpcio" in done.stderr and "--grpc-port off" in done.stderr and "Traceback" not in done.stderr


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(caplog):
    caplog.set_level(logging.WARNING, logger="genai_cost.gateway")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    with running_gateway(endpoint, grpc_port=None) as gateway:
        import http.client

        for batch in range(5):
            connection = http.client.HTTPConnection("127.0.0.1", gateway.http_port, timeout=10)
            body = spans_request(f"o{batch}", 3).SerializeToString()
            connection.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
            assert connection.getresponse().status == 200
            connection.close()
        assert wait_until(lambda: gateway.stats.get("retries") >= 10)
        with OtlpReceiver(port=port) as downstream:
            downstream.wait_for_spans(lambda s: len(s) >= 15)
            assert wait_until(lambda: any("takes spans again" in r.getMessage() for r in caplog.records))
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("genai_cost.gateway")]
    assert sum("not taking spans" in m for m in messages) == 1, messages
    assert sum("takes spans again" in m for m in messages) == 1, messages
    assert all(r.levelno == logging.WARNING for r in caplog.records if "spans" in r.getMessage())


def test_spans_lost_at_shutdown_without_a_spool_are_counted_loudly(caplog):
    with dead_endpoint() as endpoint, running_gateway(endpoint, grpc_port=None, drain_timeout=0.3) as gateway:
        import http.client

        for batch in range(3):
            connection = http.client.HTTPConnection("127.0.0.1", gateway.http_port, timeout=10)
            body = spans_request(f"l{batch}", 4).SerializeToString()
            connection.request("POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"})
            assert connection.getresponse().status == 200
            connection.close()
    [loss] = [r for r in caplog.records if "LOST" in r.getMessage()]
    assert loss.levelno == logging.ERROR
    assert "12 spans" in loss.getMessage() and "--spool-dir" in loss.getMessage()
