"""Load on loopback: several services export concurrently over HTTP and gRPC; every span arrives once.

Bounded in count (12,000 spans) and time (the waits time out); it asserts completeness, never speed —
throughput is measured by bench/gateway_bench.py.
"""

from __future__ import annotations

import threading
from collections import Counter

from gateway_support import genai_attributes, grpc_exporter, http_exporter, running_gateway, service

from genai_cost import attributes as attr
from genai_cost.testing.otlp_receiver import OtlpReceiver

SERVICES = 4
SPANS_PER_SERVICE = 3_000


def _run_service(index: int, gateway) -> None:
    exporter = grpc_exporter(gateway) if index % 2 else http_exporter(gateway, gzip=index == 2)
    # the SDK's own queue must hold a whole burst, or the client drops spans before we see them
    provider = service(f"load-{index}", exporter, max_queue_size=SPANS_PER_SERVICE)
    tracer = provider.get_tracer(f"load.{index}")
    for number in range(SPANS_PER_SERVICE // 3):
        with tracer.start_as_current_span(f"request {index}-{number}"):
            with tracer.start_as_current_span(
                f"chat {index}-{number}", attributes=genai_attributes("gpt-4o-mini", "openai", 50 + number, 5)
            ):
                pass
            with tracer.start_as_current_span(f"db {index}-{number}", attributes={"db.system": "redis"}):
                pass
    provider.shutdown()


def test_concurrent_services_over_both_transports_lose_nothing():
    total = SERVICES * SPANS_PER_SERVICE
    with (
        OtlpReceiver(grpc=True) as downstream,
        running_gateway(downstream.grpc_endpoint, downstream_protocol="grpc", max_queue_spans=4_000) as gateway,
    ):
        threads = [threading.Thread(target=_run_service, args=(i, gateway)) for i in range(SERVICES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        spans = downstream.wait_for_spans(lambda s: len(s) >= total, timeout=60)
    assert len(spans) == total
    assert len({(s.trace_id, s.span_id) for s in spans}) == total  # each exactly once
    statuses = Counter(s.attributes.get(attr.COST_STATUS) for s in spans)
    assert statuses["priced"] == total // 3
    roots = [s for s in spans if s.name.startswith("request ")]
    assert all(s.attributes[attr.TRACE_CALLS] == 1 for s in roots)
    assert gateway.stats.get("spans_out") == total
    assert gateway.stats.get("spans_dropped") == 0
