"""MLflow shows the money genai-cost computed, for one app run sent through the gateway.

A real MLflow tracking server (pip ``mlflow``, in its own venv: scripts/ci-backends.sh mlflow)
takes the app's spans over OTLP/HTTP (experiment named by the ``x-mlflow-experiment-id`` header,
which the gateway passes on). MLflow prices usage itself unless a span carries
``mlflow.llm.cost``; we set it from our price, so its trace cost is ours — the discount included,
the unknown model not priced, the duplicate span not counted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from backends_support import AppRun, Server, backend_python, free_port, post_json, wait_until

from genai_cost.gateway import Gateway, GatewayConfig

CACHE_WRITE_TOKENS = 500  # the app's one Anthropic cache write (tests/backends/app_run.py)


class MLflow:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        mlflow = backend_python("mlflow").with_name("mlflow")
        argv = [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        argv += ["--backend-store-uri", f"sqlite:///{workdir / 'mlflow.db'}"]
        argv += ["--default-artifact-root", str(workdir / "artifacts")]
        self.server = Server(argv, workdir, {"MLFLOW_TRACKING_URI": ""}, f"{self.url}/health", 240)

    def create_experiment(self, name: str) -> str:
        return str(post_json(f"{self.url}/api/2.0/mlflow/experiments/create", {"name": name})["experiment_id"])

    def traces(self, experiment_id: str) -> dict[str, dict[str, Any]]:
        """OTel trace id (hex) -> MLflow's trace info."""
        location = {"type": "MLFLOW_EXPERIMENT", "mlflow_experiment": {"experiment_id": experiment_id}}
        found = post_json(f"{self.url}/api/3.0/mlflow/traces/search", {"locations": [location]})
        return {trace["trace_id"].removeprefix("tr-"): trace for trace in found.get("traces", [])}


def metadata(trace: dict[str, Any], key: str) -> dict[str, Any]:
    return json.loads(trace["trace_metadata"].get(key, "{}"))


@pytest.fixture(scope="module")
def mlflow_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MLflow, str, AppRun]]:
    mlflow = MLflow(tmp_path_factory.mktemp("mlflow"))
    gateway = None
    run = None
    try:
        experiment = mlflow.create_experiment("genai-cost interop")
        config = GatewayConfig(
            http_port=0,
            grpc_port=None,
            downstream=mlflow.url,
            downstream_headers={"x-mlflow-experiment-id": experiment},
        )
        gateway = Gateway(config).start()
        run = AppRun(APP_OTLP_ENDPOINT=f"{gateway.http_endpoint}/v1/traces").go()
        wait_until(lambda: len(mlflow.traces(experiment)) >= len(run.trace_totals()), 60, "MLflow to store the traces")
        yield mlflow, experiment, run
    finally:
        if run is not None:
            run.close()
        if gateway is not None:
            gateway.shutdown()
        mlflow.server.stop()


def test_every_trace_cost_in_mlflow_is_the_trace_amount(mlflow_run: tuple[MLflow, str, AppRun]) -> None:
    mlflow, experiment, run = mlflow_run
    traces = mlflow.traces(experiment)
    totals = run.trace_totals()
    assert set(traces) == set(totals)
    for trace_id, amount in totals.items():
        assert metadata(traces[trace_id], "mlflow.trace.cost")["total_cost"] == pytest.approx(amount, rel=1e-9)


def test_the_default_attribution_becomes_mlflow_trace_tags(mlflow_run: tuple[MLflow, str, AppRun]) -> None:
    mlflow, experiment, _ = mlflow_run
    for trace in mlflow.traces(experiment).values():
        assert trace["tags"]["genai_cost.project"] == "interop"
        assert trace["tags"]["genai_cost.team"] == "platform"


def test_mlflow_counts_the_cache_write_once(mlflow_run: tuple[MLflow, str, AppRun]) -> None:
    """The Anthropic SDK's own span of the same call carries its usage under genai_cost.duplicate.*"""
    mlflow, experiment, run = mlflow_run
    usage = [metadata(trace, "mlflow.trace.tokenUsage") for trace in mlflow.traces(experiment).values()]
    assert sum(u.get("cache_creation_input_tokens", 0) for u in usage) == CACHE_WRITE_TOKENS
    sent_input = sum(s["attributes"].get("gen_ai.usage.input_tokens", 0) for s in run.billed_calls())
    assert sum(u["input_tokens"] for u in usage) == sent_input
