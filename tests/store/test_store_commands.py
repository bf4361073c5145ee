"""The commands as users run them: `genai-cost gateway --store`, `report`, and their errors."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys

from gateway_support import free_port, genai_attributes, oracle, service
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from genai_cost import attributes as attr
from genai_cost.testing.otlp_receiver import OtlpReceiver


def _cli(*args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "genai_cost.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("GENAI_COST_")},
        **popen,
    )


def _run(*args: str) -> tuple[int, str, str]:
    process = _cli(*args)
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def test_gateway_store_then_report_as_real_processes(tmp_path):
    store = str(tmp_path / "spend.duckdb")
    port = free_port()
    calls = [("search", "gpt-4o", 1000, 100), ("search", "gpt-4o-mini", 3000, 30), ("ads", "gpt-4o", 50, 500)]
    with OtlpReceiver() as downstream:
        gateway = _cli(
            "gateway", "--downstream", downstream.endpoint, "--http-port", str(port), "--grpc-port", "off",
            "--store", store, "--retention", "400d",
        )  # fmt: skip
        try:
            assert f"127.0.0.1:{port}" in gateway.stdout.readline()
            assert store in gateway.stdout.readline()  # the banner names the store
            provider = service("app", OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces"))
            tracer = provider.get_tracer("t")
            for team, model, inp, out in calls:
                attributes = {**genai_attributes(model, "openai", inp, out), attr.TEAM: team}
                with tracer.start_as_current_span(f"chat {model}", attributes=attributes):
                    pass
            provider.shutdown()
            downstream.wait_for_spans(lambda s: len(s) >= 3)
            gateway.send_signal(signal.SIGTERM)  # drains the forwarder and the store writer
            assert gateway.wait(60) == 0
        finally:
            if gateway.poll() is None:
                gateway.kill()
    code, out, err = _run("report", "--store", store, "--by", "team", "--since", "1d", "--format", "json")
    assert code == 0, err
    rows = {r["team"]: r for r in json.loads(out)}
    assert rows["search"]["calls"] == 2 and rows["ads"]["calls"] == 1
    expected = sum(oracle(m, "openai", input_tokens=i, output_tokens=o) for _, m, i, o in calls)
    assert math.isclose(sum(r["amount"] for r in rows.values()), expected, abs_tol=1e-9)

    code, out, _ = _run("report", "--store", store, "--by", "model", "--format", "table")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["model", "calls", "unpriced"]
    assert any(line.startswith("total") and " 3 " in line for line in lines)
    code, out, _ = _run("report", "--store", store, "--by", "team,day", "--format", "csv")
    assert code == 0 and out.splitlines()[0].startswith("team,day,amount,calls,input_tokens,output_tokens")


def test_errors_name_the_store_and_the_problem(tmp_path):
    code, _, err = _run("report", "--store", str(tmp_path / "none.duckdb"))
    assert code == 2 and "no spend store here" in err
    (tmp_path / "junk.duckdb").write_bytes(b"junk" * 1000)
    code, _, err = _run("report", "--store", str(tmp_path / "junk.duckdb"))
    assert code == 2 and "junk.duckdb: not a readable spend store" in err
    code, _, err = _run(
        "gateway", "--downstream", "http://127.0.0.1:9", "--grpc-port", "off", "--http-port", "0",
        "--store", "clickhouse://u:secret@127.0.0.1:8123/otel",
    )  # fmt: skip
    assert code == 2 and "clickhouseexporter" in err and "secret" not in err
    code, _, err = _run(
        "gateway", "--downstream", "http://127.0.0.1:9", "--grpc-port", "off", "--http-port", "0",
        "--store", str(tmp_path / "s.duckdb"), "--retention", "forever",
    )  # fmt: skip
    assert code == 2 and "retention 'forever'" in err


def test_report_names_an_unknown_dimension(tmp_path):
    from genai_cost.store import open_store

    path = str(tmp_path / "s.duckdb")
    open_store(path)
    code, _, err = _run("report", "--store", path, "--by", "teem")
    assert code == 2 and "unknown dimension teem" in err
    code, _, err = _run("report", "--store", path, "--by", "day,week")
    assert code == 2 and "one time bucket" in err
