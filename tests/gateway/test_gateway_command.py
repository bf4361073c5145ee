"""`genai-cost gateway` as a real process: serves, forwards, drains on SIGTERM, refuses bad flags clearly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from gateway_support import free_port, genai_attributes, service
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from genai_cost import attributes as attr
from genai_cost.testing.otlp_receiver import OtlpReceiver


def _gateway(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "genai_cost.cli", "gateway", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "GENAI_COST_GATEWAY_TOKEN": "t0ken"},
    )


def test_the_command_prices_forwards_and_drains_on_sigterm(tmp_path):
    port = free_port()
    with OtlpReceiver() as downstream:
        process = _gateway("--downstream", downstream.endpoint, "--http-port", str(port), "--grpc-port", "off")
        try:
            banner = process.stdout.readline()
            assert f"OTLP/HTTP 127.0.0.1:{port}" in banner and downstream.endpoint in banner
            exporter = OTLPSpanExporter(
                endpoint=f"http://127.0.0.1:{port}/v1/traces", headers={"Authorization": "Bearer t0ken"}
            )
            provider = service("cli", exporter)
            with provider.get_tracer("t").start_as_current_span(
                "chat gpt-4o", attributes=genai_attributes("gpt-4o", "openai", 10, 1)
            ):
                pass
            provider.shutdown()
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:
                process.kill()
        [span] = downstream.wait_for_spans(lambda s: len(s) >= 1)
    assert span.attributes[attr.COST_STATUS] == "priced"
    assert "genai-cost gateway stopped" in process.stderr.read()


def test_bad_flags_fail_fast_naming_the_problem():
    process = _gateway("--downstream", "ftp://nowhere", "--grpc-port", "off", "--http-port", "0")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert "ftp://nowhere" in err and "http(s)://" in err
    process = _gateway("--downstream", "http://x", "--http-port", "off", "--grpc-port", "off")
    _, err = process.communicate(timeout=30)
    assert process.returncode == 2 and "at least one listener" in err
