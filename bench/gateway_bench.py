"""Gateway throughput: GenAI spans per second per core, enriched and forwarded, vs plain pass-through.

Two measurements, both on batches of 512 GenAI spans as OTLP exporters send them (12-16
attributes each, four models, usage varying per span so no price is memoised):

* **in-process**: the gateway's per-request work without sockets — parse the protobuf body,
  price every span (``Enricher`` → ``CostDecider``), serialize — against parse + serialize alone.
* **over loopback**: the real gateway in its own process (``genai-cost gateway``), a client
  process POSTing OTLP/HTTP, a discarding OTLP sink downstream. Throughput is spans divided by the
  gateway process's CPU seconds (user + system, from /proc), i.e. per core; the same run with
  ``--no-pricing`` (same process, no enrichment) is the pass-through baseline.

Transport rows (``--transport``): the loopback gateway, pricing on, with the memory limiter off
(``--max-inflight-mib 0``), on (the default) and in durable mode (``--spool-dir``: every request
fsync'd to disk before its 200), in spans per CPU second *and* per wall-clock second with one
client (durable mode waits on the disk, which CPU time does not show). ``--baseline-src DIR``
adds the same loopback row for another source tree (e.g. ``git archive`` of an earlier commit),
run in alternation with this one so machine noise hits both alike.

    .venv/bin/python bench/gateway_bench.py            # ~1 minute
    .venv/bin/python bench/gateway_bench.py --quick
    .venv/bin/python bench/gateway_bench.py --transport --baseline-src /tmp/old/src
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

BATCH = 512
MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4-20250514"),
    ("google", "gemini-2.5-flash"),
]


def make_request(seed: int, spans: int = BATCH, genai_every: int = 1) -> bytes:
    """One export request as the Python SDK's exporter would encode it.

    ``genai_every=4``: one span in four is a GenAI call, the others HTTP client spans (a trace of
    an agent calling tools and services), to show what the gateway costs on ordinary spans.
    """
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    rng = random.Random(seed)
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"bench-{seed}"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("opentelemetry.instrumentation.openai_v2", "2.1b0")
    with tracer.start_as_current_span("agent run"):
        for index in range(spans):
            if index % genai_every:
                http = {
                    "http.request.method": "GET",
                    "url.full": f"https://tools.example.com/v1/items/{index}",
                    "server.address": "tools.example.com",
                    "server.port": 443,
                    "http.response.status_code": 200,
                    "network.protocol.version": "1.1",
                    "user_agent.original": "python-httpx/0.28",
                }
                with tracer.start_as_current_span("GET", attributes=http):
                    pass
                continue
            provider_name, model = MODELS[index % len(MODELS)]
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": provider_name,
                "gen_ai.request.model": model,
                "gen_ai.response.model": model,
                "gen_ai.response.id": f"resp-{seed}-{index}",
                "gen_ai.response.finish_reasons": ("stop",),
                "gen_ai.request.temperature": 0.7,
                "gen_ai.request.max_tokens": 1024,
                "server.address": "api.example.com",
                "server.port": 443,
                "gen_ai.usage.input_tokens": rng.randint(100, 20_000),
                "gen_ai.usage.output_tokens": rng.randint(10, 2_000),
            }
            if index % 3 == 0:
                attributes["gen_ai.usage.cache_read.input_tokens"] = rng.randint(0, 90)
            with tracer.start_as_current_span(f"chat {model}", attributes=attributes):
                pass
    batch = [s for s in exporter.get_finished_spans() if s.name != "agent run"]
    return encode_spans(batch).SerializeToString()


def in_process(payloads: list[bytes], rounds: int) -> dict[str, float]:
    from genai_cost.gateway.enrich import Enricher
    from genai_cost.gateway.retries import SeenSpans
    from genai_cost.metrics import CostMetrics
    from genai_cost.pricing import catalog
    from genai_cost.processor import CostDecider

    catalog().price("gpt-4o", None)  # load price data outside the timing
    decider = CostDecider(metrics=CostMetrics(deferred=False), max_open_traces=100_000)
    enricher = Enricher(decider)
    # The gateway's retry window: emptied before each round so every span is a first copy, then
    # the same requests again as a client's retries (replayed from the window, not priced).
    windowed = Enricher(CostDecider(metrics=CostMetrics(deferred=False), max_open_traces=100_000))

    def passthrough(body: bytes) -> bytes:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        return request.SerializeToString()

    def enriched(body: bytes, enricher: Enricher = enricher) -> bytes:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        enricher.enrich(request)
        return request.SerializeToString()

    def first_copy(body: bytes) -> bytes:
        return enriched(body, windowed)

    steps = (("pass-through", passthrough), ("enriched", enriched), ("window", first_copy), ("retried", first_copy))
    results: dict[str, list[float]] = {name: [] for name, _ in steps}
    for _ in range(rounds):
        windowed.seen = SeenSpans(len(payloads) * BATCH)
        for name, step in steps:
            start = time.process_time()
            for body in payloads:
                step(body)
            results[name].append(len(payloads) * BATCH / (time.process_time() - start))
    return {name: statistics.median(values) for name, values in results.items()}


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spans_out(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("genai_cost_gateway_spans_out_total "):
                return int(float(line.split()[1]))
    return 0


def unique_copies(payloads: list[bytes], count: int) -> list[bytes]:
    """``count`` requests cycling through ``payloads``, each with trace ids of its own, so that
    with the retry window on every span is a first copy (priced), not a replayed retry."""
    copies = []
    for index in range(count):
        request = ExportTraceServiceRequest()
        request.ParseFromString(payloads[index % len(payloads)])
        trace_id = index.to_bytes(8, "big") + b"\x5e" * 8
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    span.trace_id = trace_id
        copies.append(request.SerializeToString())
    return copies


def over_loopback(
    payloads: list[bytes],
    requests: int,
    pricing: bool,
    extra_args: tuple[str, ...] = (),
    pythonpath: str | None = None,
    window: bool = False,
) -> tuple[float, float]:
    """(spans per CPU second of the gateway process, spans per wall-clock second).

    ``window``: the retry window on at its default size (50,000 spans), every request a first copy."""
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    port = _free_port()
    command = [
        sys.executable,
        "-m",
        "genai_cost.cli",
        "gateway",
        "--http-port",
        str(port),
        "--grpc-port",
        "off",
        "--downstream",
        f"http://127.0.0.1:{sink.server_address[1]}",
        "--log-level",
        "WARNING",
        *extra_args,
    ]
    # The payloads repeat: without --dedupe-window-spans 0 the repeats would be replayed as
    # retries, not priced (the in-process rows measure the window).
    if window:
        payloads = unique_copies(payloads, requests + 4)
    else:
        command += ["--dedupe-window-spans", "0"] if pricing else ["--no-pricing"]
    env = {**os.environ, "PYTHONPATH": pythonpath} if pythonpath else None
    gateway = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        gateway.stdout.readline()  # the banner: listening
        import http.client

        connection = http.client.HTTPConnection("127.0.0.1", port)
        headers = {"Content-Type": "application/x-protobuf"}
        for body in payloads[:4]:  # warm up: price data loaded, models resolved
            connection.request("POST", "/v1/traces", body=body, headers=headers)
            connection.getresponse().read()
        while _spans_out(port) < 4 * BATCH:
            time.sleep(0.05)
        cpu_before = _cpu_seconds(gateway.pid)
        wall_before = time.perf_counter()
        for index in range(requests):
            body = payloads[(index + 4) % len(payloads)] if window else payloads[index % len(payloads)]
            connection.request("POST", "/v1/traces", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                time.sleep(0.05)  # pushed back: the queue is full, let it drain
        while _spans_out(port) < (4 + requests) * BATCH:
            time.sleep(0.005)
        wall = time.perf_counter() - wall_before
        cpu = _cpu_seconds(gateway.pid) - cpu_before
    finally:
        gateway.terminate()
        gateway.wait(30)
        sink.shutdown()
    return requests * BATCH / cpu, requests * BATCH / wall


def transport(payloads: list[bytes], requests: int, rounds: int, baseline_src: str | None) -> None:
    """The limiter and durable mode against each other (and a baseline tree), in alternation."""
    import tempfile

    variants: dict[str, tuple[tuple[str, ...], str | None]] = {
        "limiter off, durable off": (("--max-inflight-mib", "0"), None),
        "limiter on (default), durable off": ((), None),
    }
    spool_root = tempfile.mkdtemp(prefix="gateway-bench-spool-")
    if baseline_src:
        variants[f"baseline tree ({baseline_src})"] = ((), baseline_src)
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    results["durable mode (--spool-dir, fsync per request)"] = []
    for round_index in range(rounds):
        for name, (extra, pythonpath) in variants.items():
            results[name].append(over_loopback(payloads, requests, True, extra, pythonpath))
        spool = os.path.join(spool_root, f"round-{round_index}")
        results["durable mode (--spool-dir, fsync per request)"].append(
            over_loopback(payloads, requests, True, ("--spool-dir", spool))
        )
    reference = statistics.median(cpu for cpu, _ in results["limiter off, durable off"])
    print(
        f"| gateway over loopback, pricing on ({BATCH} spans per request) | spans/s per core | vs limiter off | "
        "spans/s wall clock, 1 client |"
    )
    print("|---|---|---|---|")
    for name, values in results.items():
        cpu = statistics.median(c for c, _ in values)
        wall = statistics.median(w for _, w in values)
        print(f"| {name} | {cpu:,.0f} | {cpu / reference:.2f}× | {wall:,.0f} |")


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--transport", action="store_true", help="only the limiter / durable mode rows")
    parser.add_argument("--baseline-src", help="with --transport: also run the gateway from this source tree")
    args = parser.parse_args()
    payloads = [make_request(seed) for seed in range(16)]
    rounds, requests = (3, 100) if args.quick else (7, 400)
    if args.transport:
        transport(payloads, requests, 1 if args.quick else 5, args.baseline_src)
        return
    local = in_process(payloads, rounds)
    mixed = in_process([make_request(seed, genai_every=4) for seed in range(16)], rounds)
    loop_plain = statistics.median(
        over_loopback(payloads, requests, pricing=False)[0] for _ in range(3 if not args.quick else 1)
    )
    loop_priced = statistics.median(
        over_loopback(payloads, requests, pricing=True)[0] for _ in range(3 if not args.quick else 1)
    )
    loop_window = statistics.median(
        over_loopback(payloads, requests, pricing=True, window=True)[0] for _ in range(3 if not args.quick else 1)
    )
    rows = [
        ("in-process: parse + serialize (pass-through)", local["pass-through"], None),
        ("in-process: parse + price + serialize", local["enriched"], local["pass-through"] / local["enriched"]),
        ("in-process: the same with the retry window on", local["window"], local["pass-through"] / local["window"]),
        (
            "in-process: a retried request (replayed from the window)",
            local["retried"],
            local["pass-through"] / local["retried"],
        ),
        ("in-process, 1 span in 4 GenAI: pass-through (all spans)", mixed["pass-through"], None),
        (
            "in-process, 1 span in 4 GenAI: priced (all spans)",
            mixed["enriched"],
            mixed["pass-through"] / mixed["enriched"],
        ),
        ("gateway over loopback, pricing off (pass-through)", loop_plain, None),
        ("gateway over loopback, pricing on", loop_priced, loop_plain / loop_priced),
        ("gateway over loopback, pricing on, retry window on", loop_window, loop_plain / loop_window),
    ]
    print(f"| measure ({BATCH} spans per request) | spans/s per core | cost vs pass-through |")
    print("|---|---|---|")
    for name, rate, ratio in rows:
        print(f"| {name} | {rate:,.0f} | {'' if ratio is None else f'{ratio:.2f}×'} |")


if __name__ == "__main__":
    main()
