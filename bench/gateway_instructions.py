"""One in-process gateway loop for callgrind (``bench/gateway_instructions.sh`` runs it twice).

``python bench/gateway_instructions.py ROUNDS STAGE [window]``: the 16 payloads of
``gateway_bench.py`` (512 GenAI spans each), parsed and serialized ROUNDS times after one warm
round, with STAGE of the enricher's work in between: ``pass`` (none), ``read`` (key scan and
attribute decode), ``decide`` (read + the decider, edits left unapplied), ``priced`` (all of it).
``window``: the retry window on, emptied each round (every span a first copy).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_bench import BATCH, make_request
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from genai_cost.gateway.enrich import Enricher
from genai_cost.gateway.retries import SeenSpans
from genai_cost.metrics import CostMetrics
from genai_cost.pricing import catalog
from genai_cost.processor import CostDecider


def main() -> None:
    rounds, stage = int(sys.argv[1]), sys.argv[2]
    window = sys.argv[3:] == ["window"]
    payloads = [make_request(seed) for seed in range(16)]
    catalog().price("gpt-4o", None)
    enricher = Enricher(CostDecider(metrics=CostMetrics(deferred=False), max_open_traces=100_000))

    def one_round() -> None:
        if window:
            enricher.seen = SeenSpans(len(payloads) * BATCH)
        for body in payloads:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            if stage == "priced":
                enricher.enrich(request)
            elif stage == "read":
                enricher.read(request)
            elif stage == "decide":
                enricher.enrich(request, defer=True)
            request.SerializeToString()

    for _ in range(1 + rounds):  # one warm round: memoised prices, caches
        one_round()


if __name__ == "__main__":
    main()
