"""The end-to-end demo: a real app under `opentelemetry-instrument`, a local OpenAI stand-in,
real OTLP export, and a print-out of what arrived — each call's cost and each trace's total.

    python examples/demo.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from genai_cost.testing import StubProvider
from genai_cost.testing.otlp_receiver import OtlpReceiver, ReceivedSpan

APP = Path(__file__).with_name("quickstart") / "app.py"


def main() -> int:
    with OtlpReceiver() as receiver, StubProvider() as stub:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "OPENAI_"))}
        env.update(
            OPENAI_BASE_URL=stub.base_url,  # the stand-in speaks OpenAI's wire format
            OPENAI_API_KEY="sk-demo-not-a-real-key",
            OTEL_SERVICE_NAME="quickstart",
            OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
            OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
            OTEL_METRIC_EXPORT_INTERVAL="1000",
            # Other OpenAI instrumentations installed alongside would be de-duplicated anyway;
            # keep the print-out to ours.
            OTEL_PYTHON_DISABLED_INSTRUMENTATIONS="openai",
        )
        instrument = Path(sys.executable).with_name("opentelemetry-instrument")
        print(
            f"$ opentelemetry-instrument python {APP.relative_to(Path.cwd()) if APP.is_relative_to(Path.cwd()) else APP}"
        )
        done = subprocess.run([str(instrument), sys.executable, str(APP)], env=env, text=True, capture_output=True)
        print(done.stdout, end="")
        if done.returncode != 0:
            print(done.stderr, file=sys.stderr)
            return done.returncode
        spans = receiver.wait_for_spans(lambda s: sum(x.name == "answer ticket" for x in s) >= 2)
        receiver.wait_for(lambda r: "gen_ai.client.operation.cost" in r.metric_names, timeout=10)
    print_report(spans, sorted(receiver.metric_names))
    ok = any("genai_cost.trace.amount" in s.attributes for s in spans)
    return 0 if ok else 1


def print_report(spans: list[ReceivedSpan], metric_names: list[str]) -> None:
    roots = [s for s in spans if not s.parent_span_id]
    for root in sorted(roots, key=lambda s: s.start_time_unix_nano):
        calls = [s for s in spans if s.trace_id == root.trace_id and "genai_cost.status" in s.attributes]
        print(f"\ntrace {root.trace_id[:16]}…  {root.name!r}")
        for span in sorted(calls, key=lambda s: s.start_time_unix_nano):
            a = span.attributes
            tokens = f"{a.get('gen_ai.usage.input_tokens', 0):>5} in {a.get('gen_ai.usage.output_tokens', 0):>4} out"
            amount = a.get("genai_cost.amount")
            cost = f"${amount:.8f}" if amount is not None else a["genai_cost.status"]
            stream = " (stream)" if a.get("gen_ai.request.stream") else ""
            print(
                f"  {span.name:<34} {a.get('gen_ai.response.model', ''):<26} {tokens}  {cost:>11}"
                f"  team={a.get('genai_cost.team')} feature={a.get('genai_cost.feature')}{stream}"
            )
        total = root.attributes.get("genai_cost.trace.amount")
        if total is not None:
            print(
                f"  {'trace total':<34} {'':<26} {'':>17}  ${total:.8f}  over {root.attributes['genai_cost.trace.calls']} calls"
            )
    print(f"\nmetrics exported: {', '.join(n for n in metric_names if n.startswith(('gen_ai', 'genai_cost')))}")
    priced = [s for s in spans if s.attributes.get("genai_cost.status") == "priced"]
    if priced:
        first = min(priced, key=lambda s: s.start_time_unix_nano)
        # What a backend receives for one call: search, filter and sum on these.
        kind = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT"}.get(first.kind, str(first.kind))
        print(f"\none call's span as exported ({first.name!r}, kind {kind}):")
        width = max(len(k) for k in first.attributes)
        for key, value in sorted(first.attributes.items()):
            print(f"  {key:<{width}}  {value!r}")


if __name__ == "__main__":
    sys.exit(main())
