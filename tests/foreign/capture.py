"""Run real SDK calls under real third-party instrumentations and print the exported spans.

Executed in a fresh interpreter by test_foreign_spans.py, because instrumentations patch SDK
classes process-wide and could not be cleanly removed from the shared test session.

    python capture.py SETUP CALL...   (SETUP: anthropic | official | openllmetry | both | ours+official)
"""

from __future__ import annotations

import asyncio
import json
import sys

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from genai_cost.autoconfig import install_cost_processor
from genai_cost.testing import StubProvider

setup, calls = sys.argv[1], sys.argv[2:]
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
install_cost_processor(provider)
trace.set_tracer_provider(provider)

if setup in ("official", "both", "ours+official"):
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor as Official

    Official().instrument(tracer_provider=provider)
if setup in ("openllmetry", "both"):
    from opentelemetry.instrumentation.openai import OpenAIInstrumentor as OpenLLMetry

    OpenLLMetry().instrument(tracer_provider=provider)
if setup == "ours+official":
    from genai_cost.instrumentation.openai import OpenAIInstrumentor as Ours

    Ours().instrument(tracer_provider=provider)

CACHED_CHAT_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "prompt_tokens_details": {"cached_tokens": 1024},
    "completion_tokens_details": {"reasoning_tokens": 100},
}
ANTHROPIC_USAGE = {
    "input_tokens": 50,
    "cache_read_input_tokens": 200,
    "cache_creation_input_tokens": 100,
    "cache_creation": {"ephemeral_5m_input_tokens": 60, "ephemeral_1h_input_tokens": 40},
    "output_tokens": 20,
}

# What Azure OpenAI answers when its content filter rejects the prompt (documented error shape).
AZURE_CONTENT_FILTER = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {
            "code": "ResponsibleAIPolicyViolation",
            "content_filter_result": {
                "hate": {"filtered": True, "severity": "high"},
                "self_harm": {"filtered": False, "severity": "safe"},
                "sexual": {"filtered": False, "severity": "safe"},
                "violence": {"filtered": False, "severity": "safe"},
            },
        },
    }
}

with StubProvider() as stub:
    import anthropic
    import openai

    oai = openai.OpenAI(base_url=stub.base_url, api_key="test", max_retries=0)
    ant = anthropic.Anthropic(base_url=stub.url, api_key="test", max_retries=0)
    for call in calls:
        if call == "chat":
            stub.enqueue("/v1/chat/completions", usage=CACHED_CHAT_USAGE)
            oai.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        elif call == "chat_stream":
            stub.enqueue("/v1/chat/completions", usage=CACHED_CHAT_USAGE)
            for _ in oai.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            ):
                pass
        elif call == "responses":
            oai.responses.create(model="gpt-4.1-mini", input="hello")
        elif call == "embeddings":
            oai.embeddings.create(model="text-embedding-3-small", input=["a b c", "d e"])
        elif call == "async_chat":

            async def run() -> None:
                client = openai.AsyncOpenAI(base_url=stub.base_url, api_key="test", max_retries=0)
                await client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

            asyncio.run(run())
        elif call == "messages":
            stub.enqueue("/v1/messages", usage=ANTHROPIC_USAGE)
            ant.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}])
        elif call == "messages_stream":
            stub.enqueue("/v1/messages", usage=ANTHROPIC_USAGE)
            with ant.messages.stream(
                model="claude-sonnet-4-5", max_tokens=100, messages=[{"role": "user", "content": "hi"}]
            ) as stream:
                for _ in stream:
                    pass
        elif call == "azure_content_filter":
            # Azure OpenAI rejecting a prompt with its content filter: HTTP 400, Azure's error body,
            # no usage; the request names a deployment, not a model.
            azure = openai.AzureOpenAI(azure_endpoint=stub.url, api_version="2024-10-21", api_key="test", max_retries=0)
            stub.enqueue("/openai/deployments/prod-chat/chat/completions", status=400, json=AZURE_CONTENT_FILTER)
            try:
                azure.chat.completions.create(model="prod-chat", messages=[{"role": "user", "content": "hi"}])
            except openai.BadRequestError:
                pass
        else:
            raise SystemExit(f"unknown call {call}")

provider.force_flush()
print(
    json.dumps(
        [
            {
                "name": s.name,
                "scope": s.instrumentation_scope.name,
                "trace_id": s.context.trace_id,
                "span_id": s.context.span_id,
                "parent": s.parent.span_id if s.parent else None,
                "attributes": {k: list(v) if isinstance(v, tuple) else v for k, v in s.attributes.items()},
            }
            for s in exporter.get_finished_spans()
        ]
    )
)
