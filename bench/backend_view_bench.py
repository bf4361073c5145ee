"""What the backend names (attributes.BACKENDS) cost per priced call. Prints a Markdown table.

    python bench/backend_view_bench.py       # ~10 seconds

``BackendView.extra`` runs once per priced call on the caller's thread (our spans get the names
before ``end()``); the figure is the median over batches of a batch's per-call mean, for the
default rows, every row, and none (the floor: two dict probes).
"""

from __future__ import annotations

import statistics
import time

from genai_cost import attributes as attr
from genai_cost.backend_view import BackendView

BATCH = 5000
BATCHES = 25
OUTCOME = {
    attr.USAGE_INPUT_TOKENS: 600,
    attr.USAGE_OUTPUT_TOKENS: 40,
    attr.USAGE_CACHE_WRITE_TOKENS: 500,
    attr.COST_STATUS: "priced",
    attr.COST_AMOUNT: 0.000925,
    attr.COST_CURRENCY: "USD",
    attr.COST_OUTPUT: 0.0002,
    attr.PRICE_SOURCE: "genai-prices@0.2.5",
}
REQUEST = {attr.OPERATION_NAME: "chat", attr.REQUEST_MODEL: "claude-haiku-4-5"}


def per_call_us(view: BackendView) -> float:
    samples = []
    for _ in range(BATCHES):
        start = time.perf_counter_ns()
        for _ in range(BATCH):
            view.extra(OUTCOME, REQUEST)
        samples.append((time.perf_counter_ns() - start) / BATCH / 1000)
    return statistics.median(samples)


def main() -> None:
    print("| backend rows | `BackendView.extra` per priced call |")
    print("|---|---|")
    for label, rows in (
        ("none (`GENAI_COST_BACKENDS=`)", ()),
        ("default (langfuse, phoenix, phoenix-embeddings, mlflow)", attr.DEFAULT_BACKENDS),
        ("all six", tuple(attr.BACKENDS)),
    ):
        print(f"| {label} | {per_call_us(BackendView(rows)):.2f} µs |")


if __name__ == "__main__":
    main()
