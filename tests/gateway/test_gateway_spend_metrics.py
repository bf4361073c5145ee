"""The gateway's spend and call counters on /metrics (the real gateway, real OTLP exporters): the
names and labels collector/'s dashboard reads, a new series at 0 first, bounded cardinality.
Prometheus itself reads them in tests/backends/test_prometheus.py."""

from __future__ import annotations

import re
import urllib.request

from gateway_support import genai_attributes, http_exporter, oracle, running_gateway, service

from genai_cost import attributes as attr
from genai_cost.gateway.spend_metrics import SpendCounters
from genai_cost.testing.otlp_receiver import OtlpReceiver


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(("genai_cost_spend_", "genai_cost_spans_calls_total"))
    }


def test_spend_and_calls_by_model_and_status_appear_at_zero_then_with_their_value() -> None:
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint, grpc_port=None) as gateway:
        provider = service("checkout", http_exporter(gateway))
        tracer = provider.get_tracer("opentelemetry.instrumentation.genai.openai")
        for model, usage in (("gpt-4o", (1000, 100)), ("gpt-4o", (10, 1)), ("acme-unknown", (5, 5))):
            with tracer.start_as_current_span(f"chat {model}") as span:
                span.set_attributes(genai_attributes(model, "openai", *usage))
        provider.force_flush()
        downstream.wait_for_spans(lambda spans: len(spans) >= 3)
        first, second = scrape(gateway.http_port), scrape(gateway.http_port)
    labels = 'gen_ai_provider_name="openai",gen_ai_request_model="gpt-4o",gen_ai_operation_name="chat",' + (
        'genai_cost_project="unattributed",genai_cost_team="unattributed",genai_cost_feature="unattributed"'
    )
    spend = f"genai_cost_spend_USD_total{{{labels}}}"
    calls = f'genai_cost_spans_calls_total{{{labels},genai_cost_status="priced"}}'
    assert first[spend] == 0 and first[calls] == 0  # increase() sees the money of the first calls
    expected = oracle("gpt-4o", "openai", input_tokens=1000, output_tokens=100) + oracle(
        "gpt-4o", "openai", input_tokens=10, output_tokens=1
    )
    assert second[spend] == expected
    assert second[calls] == 2
    unknown = [k for k in second if 'genai_cost_status="unknown_model"' in k]
    assert len(unknown) == 1 and second[unknown[0]] == 1
    assert not [k for k in second if "acme-unknown" in k and k.startswith("genai_cost_spend_")]


def test_series_past_the_bound_fold_attribution_and_model_into_other() -> None:
    counters = SpendCounters(max_series=2)
    for i in range(5):
        counters.observe({attr.COST_STATUS: "priced", attr.COST_AMOUNT: 1.0, attr.REQUEST_MODEL: f"m{i}",
                          attr.PROVIDER_NAME: "openai", attr.PROJECT: f"p{i}"})  # fmt: skip
    counters.observe({attr.COST_STATUS: "duplicate", attr.REQUEST_MODEL: "m0"})  # never a call
    list(counters.prometheus_lines())  # the first scrape: every series at 0
    text = "\n".join(counters.prometheus_lines())
    series = re.findall(r"^genai_cost_spans_calls_total\{(.*)\} (\S+)$", text, re.MULTILINE)
    assert len(series) == 3
    other = [value for labels, value in series if 'gen_ai_request_model="_other"' in labels]
    assert other == ["3"] and 'genai_cost_project="_other"' in text
    assert 'gen_ai_provider_name="openai"' in next(labels for labels, _ in series if "_other" in labels)
    assert "genai_cost_gateway_spend_series_folded_total 3" in text


def test_label_values_are_escaped() -> None:
    counters = SpendCounters()
    counters.observe({attr.COST_STATUS: "priced", attr.COST_AMOUNT: 0.5, attr.FEATURE: 'say "hi"\\\n'})
    list(counters.prometheus_lines())
    assert 'genai_cost_feature="say \\"hi\\"\\\\\\n"' in "\n".join(counters.prometheus_lines())


def test_an_implausible_upstream_amount_counts_the_call_not_the_spend() -> None:
    counters = SpendCounters()
    for amount in (0.25, 1e300, -50.0, float("nan"), float("inf")):
        counters.observe({attr.COST_STATUS: "priced", attr.COST_AMOUNT: amount, attr.REQUEST_MODEL: "gpt-4o"})
    list(counters.prometheus_lines())
    text = "\n".join(counters.prometheus_lines())
    [calls] = re.findall(r"^genai_cost_spans_calls_total\{.*\} (\S+)$", text, re.MULTILINE)
    spend = re.findall(r"^genai_cost_spend_USD_total\{.*\} (\S+)$", text, re.MULTILINE)
    assert calls == "5" and [float(value) for value in spend] == [0.25]
