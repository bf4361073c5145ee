"""Instrumentors patch an SDK when the application imports it, never import it themselves, and
stand down quietly when their SDK is not installed.

Each case runs in a fresh interpreter: which modules are imported is the thing under test.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import pytest

from genai_cost.instrumentation.base import GenAIInstrumentor
from genai_cost.testing import StubProvider

SDKS = ("openai", "anthropic", "google.genai", "botocore")

PRELUDE = """
import json, os, sys
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
import genai_cost

SDKS = {sdks!r}
exporter = InMemorySpanExporter()

def imported():
    return [m for m in SDKS if m in sys.modules]

def chat():
    import openai
    client = openai.OpenAI(base_url=os.environ["STUB"] + "/v1", api_key="sk-test", max_retries=0)
    client.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}])

def priced():
    provider.force_flush()
    return [s.attributes.get("genai_cost.amount") for s in exporter.get_finished_spans()]
"""


def run(body: str, stub: StubProvider) -> dict[str, object]:
    source = textwrap.dedent(PRELUDE.format(sdks=SDKS)) + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", source],
        env={"STUB": stub.url, "PATH": "/usr/bin:/bin", "OTEL_SDK_DISABLED": "false"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stderr == ""
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def stub() -> StubProvider:
    with StubProvider() as server:
        yield server


def test_configure_imports_no_sdk_and_patches_the_one_the_app_imports_later(stub: StubProvider) -> None:
    out = run(
        """
        provider = genai_cost.configure(exporters=[exporter])
        after_configure = imported()
        chat()
        print(json.dumps({"after_configure": after_configure, "after_call": imported(), "priced": priced()}))
        """,
        stub,
    )
    assert out["after_configure"] == []
    assert out["after_call"] == ["openai"]
    [amount] = out["priced"]
    assert isinstance(amount, float) and amount > 0


def test_an_sdk_imported_before_configure_is_patched_at_once(stub: StubProvider) -> None:
    out = run(
        """
        import openai
        provider = genai_cost.configure(exporters=[exporter])
        chat()
        print(json.dumps({"after_call": imported(), "priced": priced()}))
        """,
        stub,
    )
    assert out["after_call"] == ["openai"]
    [amount] = out["priced"]
    assert isinstance(amount, float) and amount > 0


def test_uninstrument_before_the_import_leaves_the_sdk_alone(stub: StubProvider) -> None:
    out = run(
        """
        from genai_cost.instrumentation.openai import OpenAIInstrumentor
        provider = genai_cost.configure(exporters=[exporter])
        OpenAIInstrumentor().uninstrument()
        chat()
        first = priced()
        OpenAIInstrumentor().instrument(tracer_provider=provider)
        chat()
        print(json.dumps({"uninstrumented": first, "again": priced()}))
        """,
        stub,
    )
    assert out["uninstrumented"] == []
    [amount] = out["again"]
    assert isinstance(amount, float) and amount > 0


class _AbsentSDKInstrumentor(GenAIInstrumentor):
    instruments = ("genai-cost-test-absent-sdk >= 1.0",)
    sdk_module = "genai_cost_test_absent_sdk"

    def patches(self) -> list[object]:
        raise AssertionError("an instrumentor without its SDK must not reach its patches")


def test_absent_sdk_stands_down_quietly_under_opentelemetry_instrument(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    instrumentor = _AbsentSDKInstrumentor()
    # What opentelemetry-instrument's loader calls for a distribution without `instruments` extras.
    assert instrumentor.instrument(skip_dep_check=True) is None
    assert not instrumentor.is_instrumented_by_opentelemetry
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []
    assert any("genai-cost-test-absent-sdk" in r.getMessage() for r in caplog.records)


def test_absent_sdk_asked_for_by_hand_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    # A direct instrument() without skip_dep_check is someone asking for this SDK: OTel's own
    # check says it is missing.
    instrumentor = _AbsentSDKInstrumentor()
    instrumentor.instrument()
    assert not instrumentor.is_instrumented_by_opentelemetry
    assert any("genai-cost-test-absent-sdk" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)
