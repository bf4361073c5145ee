"""Budgets in action: the real openai SDK against a local stand-in, three nested budgets from
genai-cost.yaml, and what each call was decided. One command:

    python examples/budgets/budgets.py

A user's calls are allowed, then downgraded (the team's gpt-4o budget is spent), then blocked
(their own daily budget is) -- the blocked call raises genai_cost.BudgetExceeded and never
reaches the server. Alerts go to the log; the budget status table closes the run.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import openai
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

import genai_cost
from genai_cost.budget.status import format_table
from genai_cost.testing import StubProvider

CONFIG = Path(__file__).with_name("genai-cost.yaml")
POLICY_QUESTION = "Summarise our refund policy for a customer, in two sentences. " * 30


class PrintDecisions(SpanExporter):
    """Prints each GenAI span's model, cost and budget decision."""

    def export(self, spans: list[ReadableSpan]) -> SpanExportResult:  # type: ignore[override]
        for span in spans:
            a = span.attributes or {}
            if "genai_cost.budget.decision" not in a:
                continue
            amount = a.get("genai_cost.amount")
            cost = f"${amount:.6f}" if isinstance(amount, float) else "   -    "
            original = a.get("genai_cost.budget.original_model")
            model = f"{original} -> {a['gen_ai.request.model']}" if original else a["gen_ai.request.model"]
            print(
                f"  {a['genai_cost.budget.decision']:<9} {model:<22} {cost}  "
                f"budget {a['genai_cost.budget.name']}: {a['genai_cost.budget.remaining']:.6f} left"
            )
        return SpanExportResult.SUCCESS


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="  log: %(message)s")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(PrintDecisions()))
    genai_cost.configure(tracer_provider=provider, config_file=CONFIG)

    with (
        StubProvider() as stub,
        openai.OpenAI(base_url=stub.base_url, api_key="sk-example", max_retries=0) as client,
        genai_cost.cost_context(team="search", user="alice"),
    ):
        for i in range(1, 21):
            try:
                client.chat.completions.create(
                    model="gpt-4o",
                    messages=[{"role": "user", "content": POLICY_QUESTION}],
                    max_tokens=20,
                )
            except genai_cost.BudgetExceeded as exc:
                print(f"  call {i}: blocked, no request sent ({len(stub.requests)} requests so far): {exc}")
                break
    print()
    print(format_table(genai_cost.budget_status(), datetime.now(UTC)))


if __name__ == "__main__":
    main()
