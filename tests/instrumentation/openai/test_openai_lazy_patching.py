"""Resource modules the app has not imported yet are patched when it imports them.

openai 3.x loads each resource module (chat completions, Responses, embeddings ...) when a client
first touches it; ``instrument()`` must not import them itself (the Responses API's streaming
modules alone are ~50 ms of start-up), yet every call made later must be traced. Each scenario
runs in a fresh interpreter, since this test process imported all of openai long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from genai_cost.testing import StubProvider

_PRELUDE = """
import json, sys
import openai
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genai_cost.instrumentation.openai import OpenAIInstrumentor

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
RESPONSES = "openai.resources.responses.responses"
client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-test", max_retries=0)
"""


def _run(stub: StubProvider, body: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "GENAI_COST_"))}
    script = _PRELUDE + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script, stub.base_url], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_module_imported_after_instrument_is_traced() -> None:
    with StubProvider() as stub:
        seen = _run(
            stub,
            """
            assert RESPONSES not in sys.modules
            OpenAIInstrumentor().instrument(tracer_provider=provider)
            imported_by_instrument = RESPONSES in sys.modules
            client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            client.responses.create(model="gpt-4o-mini", input="hi")
            spans = exporter.get_finished_spans()
            print(json.dumps({
                "imported_by_instrument": imported_by_instrument,
                "apis": [s.attributes.get("openai.api.type") for s in spans],
                "priced": [s.attributes.get("genai_cost.status") for s in spans],
            }))
            """,
        )
    assert seen["imported_by_instrument"] is False
    assert seen["apis"] == ["chat_completions", "responses"]
    assert seen["priced"] == ["priced", "priced"]


def test_uninstrument_before_the_import_leaves_it_bare() -> None:
    with StubProvider() as stub:
        seen = _run(
            stub,
            """
            OpenAIInstrumentor().instrument(tracer_provider=provider)
            OpenAIInstrumentor().uninstrument()
            client.responses.create(model="gpt-4o-mini", input="hi")
            from openai.resources.responses import Responses
            OpenAIInstrumentor().instrument(tracer_provider=provider)  # wraps it now, once
            client.responses.create(model="gpt-4o-mini", input="hi")
            print(json.dumps({
                "spans": len(exporter.get_finished_spans()),
                "wrapped_twice": hasattr(Responses.__dict__["create"].__wrapped__, "__wrapped__"),
            }))
            """,
        )
    assert seen == {"spans": 1, "wrapped_twice": False}
