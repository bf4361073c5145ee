"""The first run, checked: an application that uses one provider SDK, started under
``opentelemetry-instrument`` with genai-cost installed, prices its call and writes nothing to stderr.

Used by ``tests/zero_code/test_first_run.py`` (in the full test environment, every SDK installed)
and by ``scripts/ci-minimal.sh`` (in fresh venvs holding the project and one SDK), so both check
the same thing the same way: the app calls the local stand-in (``StubProvider``), its spans go
over real OTLP/HTTP to ``OtlpReceiver``, and the app reports which SDKs it found imported — an
SDK the app never imported must stay unimported (genai-cost patches an SDK when the app imports it).

    python -m genai_cost.testing.first_run openai [--env GENAI_COST_ENABLED=false]

Prints one line per check and exits non-zero if any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

# Modules of every SDK genai-cost instruments: the app reports which of these are imported.
SDK_MODULES = ("openai", "anthropic", "google.genai", "botocore")

_CALLS = {
    "openai": """
        import openai
        client = openai.OpenAI(max_retries=0)  # OPENAI_BASE_URL / OPENAI_API_KEY from the environment
        client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}])
    """,
    "anthropic": """
        import anthropic
        client = anthropic.Anthropic(max_retries=0)  # ANTHROPIC_BASE_URL / ANTHROPIC_API_KEY
        client.messages.create(
            model="claude-3-5-haiku-latest", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
    """,
}

_REPORT = """
    import json, sys
    print("sdks-imported:" + json.dumps([m for m in {modules!r} if m in sys.modules]))
"""


@dataclass
class FirstRun:
    """What one run of the app showed."""

    sdk: str
    returncode: int
    stdout: str
    stderr: str
    sdks_imported: list[str]
    priced: list[dict[str, object]] = field(default_factory=list)

    def problems(self, *, expect_priced: bool = True) -> list[str]:
        found = []
        if self.returncode != 0:
            found.append(f"the app exited {self.returncode}")
        if self.stderr.strip():
            found.append(f"stderr is not empty:\n{self.stderr.strip()}")
        if self.sdks_imported != [self.sdk]:
            found.append(f"SDKs imported: {self.sdks_imported}, expected only {self.sdk!r}")
        if expect_priced and not any(isinstance(s.get("genai_cost.amount"), float) for s in self.priced):
            found.append(f"no priced {self.sdk} span reached the OTLP receiver")
        return found


def run_app(sdk: str, extra_env: dict[str, str] | None = None, *, timeout: float = 120.0) -> FirstRun:
    """Run a one-call ``sdk`` app under ``opentelemetry-instrument`` against the local stand-in."""
    from genai_cost.testing import StubProvider
    from genai_cost.testing.otlp_receiver import OtlpReceiver

    source = textwrap.dedent(_CALLS[sdk]) + textwrap.dedent(_REPORT.format(modules=SDK_MODULES))
    instrument = Path(sys.executable).with_name("opentelemetry-instrument")
    with tempfile.TemporaryDirectory() as tmp, OtlpReceiver() as receiver, StubProvider() as stub:
        app = Path(tmp) / "app.py"
        app.write_text(source)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("OTEL_", "GENAI_COST_", "OPENAI_", "ANTHROPIC_", "PYTHON"))
        }
        env.update(
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_SERVICE_NAME=f"first-run-{sdk}",
            OTEL_METRICS_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
            OPENAI_BASE_URL=stub.base_url,
            OPENAI_API_KEY="sk-test",
            ANTHROPIC_BASE_URL=stub.url,
            ANTHROPIC_API_KEY="test",
        )
        env.update(extra_env or {})
        done = subprocess.run(
            [str(instrument), sys.executable, str(app)], env=env, capture_output=True, text=True, timeout=timeout
        )
        # The app's exporter flushes at exit, so its spans are in (or on their way) by now.
        receiver.wait_for_spans(lambda spans: any("genai_cost.status" in s.attributes for s in spans), timeout=5)
        spans = list(receiver.spans)
    reported = [line for line in done.stdout.splitlines() if line.startswith("sdks-imported:")]
    return FirstRun(
        sdk=sdk,
        returncode=done.returncode,
        stdout=done.stdout,
        stderr=done.stderr,
        sdks_imported=json.loads(reported[-1].partition(":")[2]) if reported else [],
        priced=[s.attributes for s in spans if s.attributes.get("genai_cost.status") == "priced"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genai_cost.testing.first_run", description=__doc__.split("\n")[0])
    parser.add_argument("sdk", choices=sorted(_CALLS))
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE", help="extra app environment")
    parser.add_argument("--unpriced", action="store_true", help="do not expect a priced span (genai-cost disabled)")
    args = parser.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.env)
    run = run_app(args.sdk, extra)
    label = " ".join([args.sdk, *args.env])
    problems = run.problems(expect_priced=not args.unpriced)
    for problem in problems:
        print(f"FAIL {label}: {problem}")
    if not problems:
        amounts = [s.get("genai_cost.amount") for s in run.priced]
        print(f"ok   {label}: stderr empty, imported {run.sdks_imported}, priced {amounts}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
