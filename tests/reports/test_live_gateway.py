"""`genai-cost gateway --store` as a real process finds yesterday's anomalies on its own and sends each
finding once to the alert webhook (a real HTTP receiver), while it serves OTLP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import traffic
from gateway_support import free_port

from genai_cost.pricing import PriceCatalog
from genai_cost.store import open_store
from genai_cost.testing.otlp_receiver import OtlpReceiver


def test_gateway_sends_live_findings_once(tmp_path):
    today = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC)
    yesterday = today - timedelta(days=1)
    calls = traffic.spiked(list(traffic.steady(until=today)), day=yesterday)
    calls += [c for cs in traffic.plants(day=yesterday).values() for c in cs]
    store = str(tmp_path / "spend.duckdb")
    open_store(store).write(traffic.rows(calls, PriceCatalog()))

    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    config = tmp_path / "genai-cost.yaml"
    config.write_text(f'alerts: {{webhooks: [{{url: "http://127.0.0.1:{hook.server_address[1]}/ops"}}]}}\n')
    with OtlpReceiver() as downstream:
        process = subprocess.Popen(
            [
                sys.executable,
                "-X",
                "faulthandler",  # a gateway that will not stop is made to say where (SIGABRT below)
                "-m",
                "genai_cost.cli",
                "--config",
                str(config),
                "gateway",
                "--downstream",
                downstream.endpoint,
                "--http-port",
                str(free_port()),
                "--grpc-port",
                "off",
                "--store",
                store,
                "--answers-interval",
                "0.5",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        try:
            deadline = time.monotonic() + 60
            while not received and time.monotonic() < deadline and process.poll() is None:
                time.sleep(0.1)
            time.sleep(2.0)  # several more ticks: nothing new may be sent
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
                _, stderr = process.communicate(timeout=10)
                pytest.fail(f"the gateway did not stop within 30 s of SIGTERM:\n{stderr[-8000:]}")
        finally:
            if process.poll() is None:
                process.kill()
            hook.shutdown()
    stderr = process.stderr.read()
    assert len(received) == 1, (received, stderr[-2000:])
    [document] = received
    assert document["event"] == "genai_cost.anomalies"
    rules = {a["rule"] for a in document["anomalies"]}
    assert {"cost_per_request", "expensive_call", "spend_rate", "new_model", "unpriced_jump"} <= rules
    assert "genai-cost: anomaly:" in stderr  # and each is logged
