from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import genai_cost
from genai_cost import runtime
from genai_cost.autoconfig import install_cost_processor
from genai_cost.config import Settings
from genai_cost.context import set_default_attribution
from genai_cost.pricing import catalog, set_catalog
from genai_cost.processor import CostSpanProcessor


@pytest.fixture
def restore_globals():
    saved_catalog, saved_aliases = catalog(), runtime.amount_aliases
    yield
    set_catalog(saved_catalog)
    runtime.amount_aliases = saved_aliases
    set_default_attribution({})


def _one_chat_span(provider: TracerProvider, exporter: InMemorySpanExporter) -> ReadableSpan:
    """A gpt-4o chat span whose usage is set after it started (as instrumentations do), as exported."""
    with provider.get_tracer("x").start_as_current_span(
        "chat gpt-4o", attributes={"gen_ai.operation.name": "chat"}
    ) as span:
        span.set_attributes(
            {
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 2,
            }
        )
    [out] = exporter.get_finished_spans()
    return out


def test_existing_processors_are_wrapped_once() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    first = install_cost_processor(provider)
    assert install_cost_processor(provider) is first
    assert provider._active_span_processor._span_processors == (first,)
    out = _one_chat_span(provider, exporter)
    assert out.attributes["genai_cost.status"] == "priced"


def test_configure_uses_the_given_provider_and_config_file(tmp_path: Path, restore_globals) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("attribution: {project: from-file}\nspans: {amount_aliases: [llm.usage.cost]}\n")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    assert genai_cost.configure(tracer_provider=provider, config_file=config, instrument=False) is provider
    assert isinstance(provider._active_span_processor._span_processors[0], CostSpanProcessor)
    out = _one_chat_span(provider, exporter)
    assert out.attributes["genai_cost.project"] == "from-file"
    assert out.attributes["llm.usage.cost"] == out.attributes["genai_cost.amount"]
    assert "gen_ai.usage.cost" not in out.attributes


def test_configure_with_a_bad_file_raises_naming_it(tmp_path: Path, restore_globals) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("pricing: {aliases: {a: 5}}\n")
    with pytest.raises(genai_cost.ConfigError, match=f"{config}: pricing.aliases.a: expected a non-empty string"):
        genai_cost.configure(tracer_provider=TracerProvider(), config_file=config, instrument=False)


def test_price_helper_for_ad_hoc_lookups(restore_globals) -> None:
    genai_cost.configure(tracer_provider=TracerProvider(), settings=Settings(), instrument=False)
    cost = genai_cost.price("gpt-4o-mini", genai_cost.TokenUsage(input_tokens=1_000_000), provider="openai")
    assert cost.amount == pytest.approx(0.15)
