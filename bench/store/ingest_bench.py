"""Store ingest from the gateway: priced calls per second per core, and a report over 1M calls.

The gateway hands its store writer the OTLP bytes it serialised for forwarding; the writer's
thread turns them into rows (``calls_from_otlp``) and writes a batch (``EmbeddedStore.write``).
This measures exactly that work, on export requests of 512 GenAI spans priced by the gateway's
own ``Enricher`` (as ``bench/gateway_bench.py`` builds them, plus team/user attribution):

* **decode**: ``calls_from_otlp`` alone;
* **genai-cost store path**: decode + ``EmbeddedStore.write`` in batches of ~50k calls (what the
  writer flushes under load), retry de-duplication included;
* **by hand**: the same rows, already decoded, written with DuckDB's own API (one
  ``INSERT ... SELECT unnest($1), ...`` per batch, no de-duplication): the engine's floor;

all per core (process CPU time, DuckDB's worker threads included). Then the store is filled to
1,000,000 calls and ``reports.query.spend`` (the code ``genai-cost report`` runs) is timed,
with its bytes per stored call.

    .venv/bin/python bench/store/ingest_bench.py             # ~3 minutes
    .venv/bin/python bench/store/ingest_bench.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway_bench import make_request
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue

from genai_cost.store.rows import calls_from_otlp
from genai_cost.store.schema import COLUMNS

TEAMS = ["search", "checkout", "support", "ads"]


def priced_payloads(count: int) -> list[bytes]:
    from genai_cost.gateway.enrich import Enricher
    from genai_cost.metrics import CostMetrics
    from genai_cost.processor import CostDecider

    enricher = Enricher(CostDecider(metrics=CostMetrics(deferred=False), max_open_traces=100_000))
    out = []
    for seed in range(count):
        request = ExportTraceServiceRequest()
        request.ParseFromString(make_request(seed))
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for index, span in enumerate(scope_spans.spans):
                    span.attributes.append(KeyValue(key="genai_cost.team", value={"string_value": TEAMS[index % 4]}))
                    span.attributes.append(KeyValue(key="user.id", value={"string_value": f"user-{index % 97}"}))
        enricher.enrich(request)
        out.append(request.SerializeToString())
    return out


def per_core(work) -> float:
    started = time.process_time()
    calls = work()
    return calls / (time.process_time() - started)


def by_hand(rows: list[tuple], path: Path) -> int:
    import duckdb

    con = duckdb.connect(str(path))
    con.execute(
        "CREATE TABLE IF NOT EXISTS calls ("
        + ", ".join(f'"{n}" {"BIGINT" if n == "time" else k}' for n, k in COLUMNS)
        + ")"
    )
    unnest = ", ".join(f"unnest(${i + 1}::{'BIGINT' if n == 'time' else k}[])" for i, (n, k) in enumerate(COLUMNS))
    con.execute(f"INSERT INTO calls SELECT {unnest}", [list(c) for c in zip(*rows, strict=True)])
    con.close()
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    from genai_cost.store.embedded import EmbeddedStore

    count = 40 if args.quick else 100  # x 512 calls
    rounds = 1 if args.quick else 3
    print(f"pricing {count} requests of 512 GenAI spans ...", flush=True)
    payloads = priced_payloads(count)
    calls = sum(1 for p in payloads for _ in calls_from_otlp(p))
    folder = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    decode, ours, hand = [], [], []
    for attempt in range(rounds):
        decode.append(per_core(lambda: sum(1 for p in payloads for _ in calls_from_otlp(p))))
        store = EmbeddedStore(folder / f"ours-{attempt}.duckdb")

        def store_path(store=store) -> int:
            written = 0
            for first in range(0, len(payloads), 100):
                batch = [call for p in payloads[first : first + 100] for call in calls_from_otlp(p)]
                written += store.write(batch)
            return written

        ours.append(per_core(store_path))
        rows = [(*r[:2], bytes.fromhex(r[2]), *r[3:]) for p in payloads for r, _ in calls_from_otlp(p)]
        hand.append(per_core(lambda rows=rows, attempt=attempt: by_hand(rows, folder / f"hand-{attempt}.duckdb")))
        print(
            f"  round {attempt + 1}: decode {decode[-1]:,.0f}/s, store path {ours[-1]:,.0f}/s, "
            f"by hand {hand[-1]:,.0f}/s"
        )
    print()
    print(f"{calls:,} priced calls per round, {rounds} round(s), medians, calls/s per core:")
    print("| path | calls/s per core |")
    print("|---|---|")
    print(f"| decode the gateway's OTLP bytes (`calls_from_otlp`) | {statistics.median(decode):,.0f} |")
    print(f"| genai-cost store path: decode + `EmbeddedStore.write` | {statistics.median(ours):,.0f} |")
    print(
        "| the same rows written by hand with DuckDB's API (no decode, no de-duplication) "
        f"| {statistics.median(hand):,.0f} |"
    )

    # A report over 1M stored calls: the rows above repeated with fresh ids, spread over 90 days.
    target = 200_000 if args.quick else 1_000_000
    store = EmbeddedStore(folder / "million.duckdb")
    template = [row for p in payloads for row, _ in calls_from_otlp(p)]
    start = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1e6)
    step = int(timedelta(days=90).total_seconds() * 1e6 / target)
    written, serial = 0, 0
    while written < target:
        batch = []
        for row in template[: min(len(template), target - written)]:
            serial += 1
            batch.append(((start + serial * step, row[1], f"{serial:032x}", serial, *row[4:]), None))
        written += store.write(batch)
    from genai_cost.reports import query

    since, until = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)
    timings = {}
    for label, by in (("team", ["team"]), ("model, day", ["model", "day"]), ("team, user", ["team", "user"])):
        samples = []
        for _ in range(5):
            began = time.perf_counter()
            query.spend(store, by, since, until)
            samples.append(time.perf_counter() - began)
        timings[label] = statistics.median(samples)
    size = (folder / "million.duckdb").stat().st_size
    print()
    print(f"| report over {written:,} stored calls (`query.spend`, with previous period) | seconds |")
    print("|---|---|")
    for label, seconds in timings.items():
        print(f"| --by {label} | {seconds:.3f} |")
    print(f"\nbytes per stored call on disk: {size / written:.1f}")


if __name__ == "__main__":
    main()
