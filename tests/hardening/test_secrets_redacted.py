"""A Redis password never appears in anything printed or logged (issue 11, finding 8).

A real redis-server that requires a password, reached with the wrong one, and a port where no
server listens, both spelled with a password in the ledger URL. Everything that runs against
them -- an application process (real openai SDK against the local stand-in, budgets on, logging
at DEBUG to stderr), ``genai-cost budget status`` (table and JSON), and a bad ledger URL in the
environment -- has its whole stdout and stderr searched for the password.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "budget"))
from budget_support import RedisServer, free_port

from genai_cost.testing import StubProvider

PASSWORD = "pa55-w0rd-never-printed"


@pytest.fixture(scope="module")
def guarded_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis-auth"))
    server.start()
    import redis

    client = redis.Redis.from_url(server.url)
    client.config_set("requirepass", "the-right-one")
    client.close()
    yield server
    server.stop()


def ledger_urls(server: RedisServer) -> list[str]:
    return [
        f"redis://:{PASSWORD}@127.0.0.1:{server.port}/0",  # wrong password: AuthenticationError
        f"redis://admin:{PASSWORD}@127.0.0.1:{free_port()}/0",  # nobody listening
        f"rediss://admin:{PASSWORD}@127.0.0.1:{free_port()}/0?cluster=yes",
    ]


def write_config(tmp_path: Path) -> Path:
    path = tmp_path / "genai-cost.yaml"
    path.write_text(
        textwrap.dedent(
            """
            budgets:
              fail_mode: open
              policies:
                - {name: company, limit: 10, window: month}
            """
        ),
        encoding="utf-8",
    )
    return path


APP = """
import logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
import openai
import genai_cost
from opentelemetry.sdk.trace.export import ConsoleSpanExporter
from genai_cost.instrumentation.openai import OpenAIInstrumentor
genai_cost.configure(exporters=[ConsoleSpanExporter(out=sys.stdout)], instrument=False)
OpenAIInstrumentor().instrument()
client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-test", max_retries=0)
for _ in range(3):
    client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
print("calls done")
"""


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env={**os.environ, **env})


STATUS = """
import os, sys
from genai_cost.cli import main
codes = []
for url in sys.argv[1:]:
    os.environ["GENAI_COST_LEDGER"] = url
    for extra in ([], ["--json"]):
        codes.append(main(["budget", "status", *extra]))
    codes.append(main(["budget", "status", "--ledger", url]))
print("exit codes", codes)
"""


def test_no_output_or_log_carries_the_redis_password(guarded_redis: RedisServer, tmp_path: Path) -> None:
    config = write_config(tmp_path)
    urls = ledger_urls(guarded_redis)
    outputs = []
    with StubProvider() as stub:
        for url in urls:
            env = {"GENAI_COST_CONFIG": str(config), "GENAI_COST_LEDGER": url, "OTEL_SERVICE_NAME": "secrets"}
            app = run([sys.executable, "-c", APP, stub.base_url], env)
            assert "calls done" in app.stdout, app.stderr[-3000:]
            assert "unavailable" in app.stderr  # the ledger failure was logged...
            outputs.append(app.stdout + app.stderr)
    # ...and reported: table, JSON, --ledger, for each URL (one process: the CLI's own main()).
    status = run([sys.executable, "-c", STATUS, *urls], {"GENAI_COST_CONFIG": str(config)})
    assert f"exit codes {[1] * 3 * len(urls)}" in status.stdout, status.stdout[-2000:] + status.stderr[-2000:]
    outputs.append(status.stdout + status.stderr)
    # A URL the config rejects is named in the error, password masked.
    bad = {"GENAI_COST_CONFIG": str(config), "GENAI_COST_LEDGER": f"redis+sentinel://:{PASSWORD}@h/0"}
    rejected = run([sys.executable, "-m", "genai_cost.cli", "budget", "status"], bad)
    assert rejected.returncode != 0
    outputs.append(rejected.stdout + rejected.stderr)
    everything = "\n".join(outputs)
    assert "127.0.0.1" in everything  # the outputs do name the ledger
    assert PASSWORD not in everything


def test_redaction_helpers() -> None:
    from genai_cost.redaction import redact_text, redact_url

    assert redact_url(f"redis://:{PASSWORD}@h:6379/0") == "redis://:***@h:6379/0"
    assert redact_url(f"rediss://bob:{PASSWORD}@h/0?cluster=yes") == "rediss://bob:***@h/0?cluster=yes"
    assert redact_url("https://TOKEN@example.com/x?token=abc&a=1") == "https://***@example.com/x?token=***&a=1"
    assert redact_url("sqlite:///var/lib/ledger.db") == "sqlite:///var/lib/ledger.db"
    assert redact_url("redis://h:6379/0") == "redis://h:6379/0"
    text = f"Error connecting to redis://u:{PASSWORD}@h:1/0 and https://a:b@c/"
    assert redact_text(text) == "Error connecting to redis://u:***@h:1/0 and https://a:***@c/"
