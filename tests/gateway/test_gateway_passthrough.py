"""Metrics and logs through the gateway, unchanged, and a downstream's idle-connection close.

Apps may point their whole OTLP endpoint at the gateway: real OTLP metric and log exporters (HTTP
and gRPC) export through a real gateway to a recording downstream (HTTP, or gRPC), which must get
the exporter's request as sent. And a downstream that closes idle keep-alive connections (as
uvicorn does after ~5 s) must not turn the next export into a counted retry with a backoff.
"""

from __future__ import annotations

import contextlib
import gzip
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import pytest
from gateway_support import running_gateway
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter as GrpcMetricExporter
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HttpMetricExporter
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from genai_cost.gateway.senders import HttpSender, RetryableError


class Recorder:
    """An OTLP/HTTP downstream that records (path, headers, body) and answers 200 — or ``status``.
    ``idle_timeout`` closes a kept-alive connection idle that long (uvicorn's behaviour)."""

    def __init__(self, idle_timeout: float | None = None) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200
        self.connections = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = idle_timeout

            def setup(self) -> None:
                super().setup()
                recorder.connections += 1

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                recorder.requests.append((self.path, dict(self.headers), body))
                self.send_response(recorder.status)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def recorder(idle_timeout: float | None = None) -> Iterator[Recorder]:
    server = Recorder(idle_timeout)
    try:
        yield server
    finally:
        server.close()


def export_metrics(exporter: Any) -> ExportMetricsServiceRequest:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    provider.get_meter("app").create_counter("orders").add(3, {"shop": "north"})
    data = reader.get_metrics_data()
    assert exporter.export(data).name == "SUCCESS"
    provider.shutdown()
    return data


def export_log(exporter: Any) -> None:
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    provider.get_logger("app").emit(body="order placed", attributes={"shop": "north"})
    provider.shutdown()


@pytest.mark.parametrize("transport", ["http", "grpc"])
def test_metrics_and_logs_reach_the_downstream_unchanged(transport: str) -> None:
    with recorder() as downstream, running_gateway(downstream.url) as gateway:
        if transport == "http":
            export_metrics(HttpMetricExporter(endpoint=f"{gateway.http_endpoint}/v1/metrics"))
            export_log(HttpLogExporter(endpoint=f"{gateway.http_endpoint}/v1/logs"))
        else:
            export_metrics(GrpcMetricExporter(endpoint=gateway.grpc_endpoint, insecure=True))
            export_log(GrpcLogExporter(endpoint=gateway.grpc_endpoint, insecure=True))
        paths = [path for path, _, _ in downstream.requests]
        assert paths == ["/v1/metrics", "/v1/logs"]
        metrics = ExportMetricsServiceRequest.FromString(downstream.requests[0][2])
        [metric] = metrics.resource_metrics[0].scope_metrics[0].metrics
        assert (metric.name, metric.sum.data_points[0].as_int) == ("orders", 3)
        logs = ExportLogsServiceRequest.FromString(downstream.requests[1][2])
        assert logs.resource_logs[0].scope_logs[0].log_records[0].body.string_value == "order placed"
        assert gateway.stats.get("spans_in") == 0  # not traces: nothing priced, nothing queued


def test_an_http_body_is_relayed_byte_for_byte_with_its_encoding() -> None:
    body = gzip.compress(ExportMetricsServiceRequest().SerializeToString() + b"")
    with recorder() as downstream, running_gateway(downstream.url, grpc_port=None) as gateway:
        request = urllib.request.Request(
            f"{gateway.http_endpoint}/v1/metrics",
            body,
            {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        [(path, headers, received)] = downstream.requests
    assert (path, received) == ("/v1/metrics", body)
    assert headers["Content-Encoding"] == "gzip"


def test_a_refusing_or_absent_downstream_is_the_clients_to_retry() -> None:
    with recorder() as downstream, running_gateway(downstream.url) as gateway:
        downstream.status = 503
        request = urllib.request.Request(
            f"{gateway.http_endpoint}/v1/logs", b"", {"Content-Type": "application/x-protobuf"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=5)
        assert refused.value.code == 503
        downstream.close()
        with grpc.insecure_channel(gateway.grpc_endpoint) as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.metrics.v1.MetricsService/Export")
            with pytest.raises(grpc.RpcError) as failed:
                export(b"", timeout=5)
        assert failed.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_grpc_downstream_gets_the_request_over_grpc() -> None:
    received: list[tuple[str, bytes]] = []

    def handler(service: str) -> Any:
        def export(payload: bytes, context: Any) -> bytes:
            received.append((service, payload))
            return b""

        return grpc.unary_unary_rpc_method_handler(export)

    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    for service in ("metrics.v1.MetricsService", "logs.v1.LogsService"):
        name = f"opentelemetry.proto.collector.{service}"
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(name, {"Export": handler(name)}),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with running_gateway(f"127.0.0.1:{port}", downstream_protocol="grpc") as gateway:
            export_metrics(HttpMetricExporter(endpoint=f"{gateway.http_endpoint}/v1/metrics"))
            export_log(GrpcLogExporter(endpoint=gateway.grpc_endpoint, insecure=True))
    finally:
        server.stop(0)
    assert [service.rsplit(".", 1)[1] for service, _ in received] == ["MetricsService", "LogsService"]
    assert ExportMetricsServiceRequest.FromString(received[0][1]).resource_metrics[0].scope_metrics


def test_a_closed_keep_alive_connection_is_replaced_not_retried() -> None:
    with recorder(idle_timeout=0.2) as downstream:
        sender = HttpSender(downstream.url)
        sender.send(b"")
        time.sleep(0.5)  # the downstream closes the idle connection meanwhile
        started = time.monotonic()
        sender.send(b"")  # raised RetryableError before: the backoff and a counted retry followed
        assert time.monotonic() - started < 0.4
        assert (len(downstream.requests), downstream.connections) == (2, 2)
        sender.close()


def test_a_fresh_connection_that_fails_is_still_a_retryable_error() -> None:
    with recorder() as downstream:
        url = downstream.url
    with pytest.raises(RetryableError, match="unreachable"):
        HttpSender(url).send(b"")
