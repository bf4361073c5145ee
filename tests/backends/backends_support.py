"""Shared pieces of the backend tests: the app run in its own process, and real backend servers
(Prometheus from its Debian package; Phoenix and MLflow from their own venvs, made by
scripts/ci-backends.sh) started on free loopback ports and stopped by the tests.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from genai_cost import attributes as attr

ROOT = Path(__file__).resolve().parents[2]
APP = Path(__file__).with_name("app_run.py")


def missing(what: str, how: str) -> None:
    """Skip a test whose backend is not installed here — but fail it where CI says it installed
    that backend (``GENAI_COST_REQUIRE_BACKENDS=prometheus,phoenix,mlflow`` or ``all``, .ci/run):
    a test that silently skips cannot fail."""
    message = f"{what} is not installed: {how}"
    required = {name.strip() for name in os.environ.get("GENAI_COST_REQUIRE_BACKENDS", "").split(",")}
    if what in required or "all" in required:
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check: Callable[[], Any], timeout: float, what: str, interval: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
            last = result
        except Exception as exc:  # a server still starting
            last = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


class AppRun:
    """The app's process (tests/backends/app_run.py): started, told to go, read, then let exit."""

    def __init__(self, **env: str) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GENAI_COST_", "OPENAI_"))}
        environment.update(env, APP_WAIT_TO_START="1")
        self.process = subprocess.Popen(
            [sys.executable, str(APP)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment
        )
        self.prometheus_port: int | None = self._line()["prometheus_port"]
        self.spans: list[dict[str, Any]] = []
        self.total = 0.0

    def _line(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(30)
            raise AssertionError(f"the app run failed (exit {self.process.returncode})")
        return json.loads(line)

    def go(self) -> AppRun:
        """Make the calls; returns once they are exported (the app's report read)."""
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()
        report = self._line()
        self.spans, self.total = report["spans"], report["total"]
        return self

    def priced(self) -> list[dict[str, Any]]:
        return [s for s in self.spans if attr.COST_AMOUNT in s["attributes"]]

    def billed_calls(self) -> list[dict[str, Any]]:
        """One span per provider call: every span with a cost status but duplicates."""
        return [s for s in self.spans if s["attributes"].get(attr.COST_STATUS) not in (None, "duplicate")]

    def trace_totals(self) -> dict[str, float]:
        """trace id -> genai_cost.trace.amount of its root."""
        return {
            s["trace_id"]: s["attributes"][attr.TRACE_AMOUNT]
            for s in self.spans
            if attr.TRACE_AMOUNT in s["attributes"]
        }

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.communicate("done\n", timeout=30)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def app_run(**env: str) -> Iterator[AppRun]:
    run = AppRun(**env)
    try:
        yield run
    finally:
        run.close()


class Prometheus:
    """A real Prometheus scraping ``targets`` every second, with ``rule_files`` loaded."""

    def __init__(self, workdir: Path, targets: dict[str, str], rule_files: list[Path]) -> None:
        binary = shutil.which("prometheus")
        if binary is None:
            missing("prometheus", "scripts/ci-backends.sh prometheus installs it")
        self.port = free_port()
        jobs = "".join(
            f"  - job_name: {name}\n    static_configs:\n      - targets: ['{target}']\n"
            for name, target in targets.items()
        )
        rules = "".join(f"  - {path}\n" for path in rule_files)
        config = workdir / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n{rules}scrape_configs:\n{jobs}"
        )
        self.log = (workdir / "prometheus.log").open("w")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_until(self._ready, 60, "Prometheus to be ready")

    def _ready(self) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as response:
            return response.status == 200

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector; a query Prometheus refuses fails the test with its error."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"Prometheus refused {expr!r}: {exc.read().decode()}") from None
        assert body["status"] == "success", body
        return body["data"]["result"]

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None

    def targets_up(self) -> bool:
        return all(float(row["value"][1]) == 1 for row in self.query("up")) and bool(self.query("up"))

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


BACKENDS = ROOT / ".backends"


def backend_python(name: str) -> Path:
    """The Python of a backend's own venv (scripts/ci-backends.sh NAME makes it)."""
    python = Path(os.environ.get(f"GENAI_COST_{name.upper()}_PYTHON", BACKENDS / name / "bin" / "python"))
    if not python.exists():
        missing(name, f"run scripts/ci-backends.sh {name}")
    return python


class Server:
    """A backend server process with its output in a log file; ``stop()`` ends it and its children."""

    def __init__(self, argv: list[str], workdir: Path, env: dict[str, str], ready_url: str, timeout: float) -> None:
        self.log_path = workdir / "server.log"
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            argv,
            cwd=workdir,
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(lambda: self._ready(ready_url), timeout, f"{argv[0]} to answer {ready_url}", 0.5)
        except AssertionError:
            self.stop()
            raise AssertionError(f"{argv} did not start; its log:\n{self.log_path.read_text()[-3000:]}") from None

    def _ready(self, url: str) -> bool:
        if self.process.poll() is not None:
            raise AssertionError(f"exited with {self.process.returncode}")
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200

    def stop(self) -> None:
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


def post_json(url: str, document: dict[str, Any], headers: dict[str, str] | None = None) -> Any:
    request = urllib.request.Request(
        url, json.dumps(document).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{url} answered {exc.code}: {exc.read().decode()[:500]}") from None
