"""A real OTLP/HTTP receiver (protobuf or JSON) on 127.0.0.1, for tests and the demo.

It decodes ``ExportTraceServiceRequest`` / ``ExportMetricsServiceRequest`` bodies with the
official ``opentelemetry-proto`` messages, so what it holds is exactly what went over the wire
(``requests`` keeps the trace requests themselves, for byte-level comparisons). With
``grpc=True`` it also serves OTLP/gRPC ``TraceService/Export`` on ``grpc_endpoint`` (needs grpcio).

    with OtlpReceiver() as receiver:
        os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        ...
        spans = receiver.wait_for_spans(lambda spans: len(spans) >= 3)
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class ReceivedSpan:
    """One span as received: ids as hex, attributes decoded to Python values."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    kind: int
    attributes: dict[str, Any]
    scope: str
    resource: dict[str, Any]
    start_time_unix_nano: int
    end_time_unix_nano: int
    status_code: int = 0
    events: list[str] = field(default_factory=list)


def _any_value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def _attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: _any_value(kv.value) for kv in key_values}


class OtlpReceiver:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, grpc: bool = False, grpc_port: int = 0) -> None:
        self.spans: list[ReceivedSpan] = []
        self.requests: list[Any] = []
        self.metric_names: set[str] = set()
        self.metrics_requests = 0
        self.rejected: list[str] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                is_json = "json" in (self.headers.get("Content-Type") or "")
                try:
                    if self.path.endswith("/v1/traces"):
                        receiver._take_traces(body, is_json)
                    elif self.path.endswith("/v1/metrics"):
                        receiver._take_metrics(body, is_json)
                    elif not self.path.endswith("/v1/logs"):
                        self.send_error(404)
                        return
                except Exception as exc:  # a malformed payload gets a 400 with the reason
                    receiver.rejected.append(str(exc))
                    self.send_response(400)
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(str(exc).encode())
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json" if is_json else "application/x-protobuf")
                self.send_header("Content-Length", "2" if is_json else "0")
                self.end_headers()
                if is_json:
                    self.wfile.write(b"{}")

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="otlp-receiver", daemon=True)
        self._grpc_server: Any = None
        self.grpc_port: int | None = None
        if grpc:
            self._grpc_server, self.grpc_port = self._serve_grpc(host, grpc_port)

    def _serve_grpc(self, host: str, port: int) -> tuple[Any, int]:
        from concurrent.futures import ThreadPoolExecutor

        import grpc

        def export(payload: bytes, context: Any) -> bytes:
            try:
                self._take_traces(payload, False)
            except Exception as exc:
                self.rejected.append(str(exc))
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            return b""

        server = grpc.server(ThreadPoolExecutor(max_workers=4))
        handler = grpc.unary_unary_rpc_method_handler(export)  # raw bytes in and out
        service = "opentelemetry.proto.collector.trace.v1.TraceService"
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, {"Export": handler}),))
        bound = server.add_insecure_port(f"{host}:{port}")
        return server, bound

    @property
    def grpc_endpoint(self) -> str:
        return f"{self._server.server_address[0]!s}:{self.grpc_port}"

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> OtlpReceiver:
        self._thread.start()
        if self._grpc_server is not None:
            self._grpc_server.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=None).wait()

    def __enter__(self) -> OtlpReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _take_traces(self, body: bytes, is_json: bool) -> None:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        request = ExportTraceServiceRequest()
        if is_json:
            from google.protobuf import json_format

            json_format.Parse(body.decode(), request)
        else:
            request.ParseFromString(body)
        received = []
        for resource_spans in request.resource_spans:
            resource = _attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(
                        ReceivedSpan(
                            name=span.name,
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_span_id=span.parent_span_id.hex(),
                            kind=span.kind,
                            attributes=_attributes(span.attributes),
                            scope=scope_spans.scope.name,
                            resource=resource,
                            start_time_unix_nano=span.start_time_unix_nano,
                            end_time_unix_nano=span.end_time_unix_nano,
                            status_code=span.status.code,
                            events=[event.name for event in span.events],
                        )
                    )
        with self._changed:
            self.requests.append(request)
            self.spans.extend(received)
            self._changed.notify_all()

    def _take_metrics(self, body: bytes, is_json: bool) -> None:
        from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest

        request = ExportMetricsServiceRequest()
        if is_json:
            from google.protobuf import json_format

            json_format.Parse(body.decode(), request)
        else:
            request.ParseFromString(body)
        names = {m.name for rm in request.resource_metrics for sm in rm.scope_metrics for m in sm.metrics}
        with self._changed:
            self.metric_names |= names
            self.metrics_requests += 1
            self._changed.notify_all()

    def wait_for(self, predicate: Callable[[OtlpReceiver], bool], timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
        return True

    def wait_for_spans(
        self, predicate: Callable[[list[ReceivedSpan]], bool], timeout: float = 20.0
    ) -> list[ReceivedSpan]:
        self.wait_for(lambda r: predicate(r.spans), timeout)
        with self._changed:
            return list(self.spans)


def _has_more_than(count: int, receiver: OtlpReceiver) -> bool:
    return len(receiver.spans) > count


def main(argv: list[str] | None = None) -> int:
    """Run in the foreground, printing each received span as a JSON line (used by the demo)."""
    parser = argparse.ArgumentParser(description="Print OTLP/HTTP spans received on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    receiver = OtlpReceiver(port=args.port).start()
    print(receiver.endpoint, flush=True)
    printed = 0
    try:
        while True:
            receiver.wait_for(functools.partial(_has_more_than, printed), timeout=3600)
            for span in receiver.spans[printed:]:
                print(json.dumps(span.__dict__, default=str), flush=True)
            printed = len(receiver.spans)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
