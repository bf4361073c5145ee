"""Downstream outages: the spool loses nothing, without it the queue limit pushes back, shutdown drains."""

from __future__ import annotations

import urllib.error
import urllib.request

import grpc
import pytest
from gateway_support import (
    dead_endpoint,
    eventually,
    free_port,
    genai_attributes,
    http_exporter,
    running_gateway,
    service,
)
from google.rpc.status_pb2 import Status
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from genai_cost import attributes as attr
from genai_cost.gateway.senders import GrpcSender, HttpSender, PermanentError, RetryableError, parse_retry_after
from genai_cost.gateway.tls import DownstreamTLS
from genai_cost.testing.otlp_receiver import OtlpReceiver


def _send_spans(gateway, count: int, name: str = "svc") -> None:
    """``count`` spans (every third a GenAI call) through the official HTTP exporter, small batches."""
    provider = service(name, http_exporter(gateway))
    tracer = provider.get_tracer("load")
    for index in range(count):
        attributes = genai_attributes("gpt-4o-mini", "openai", 100 + index, 10) if index % 3 == 0 else {"i": index}
        with tracer.start_as_current_span(f"span {index}", attributes=attributes):
            pass
        if index % 25 == 24:
            provider.force_flush()
    provider.shutdown()


def _request(spans: int, tag: str) -> bytes:
    request = ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    for index in range(spans):
        scope_spans.spans.add(
            trace_id=(tag.encode() * 16)[:16], span_id=index.to_bytes(8, "big"), name=f"{tag}-{index}"
        )
    return request.SerializeToString()


def _post(url: str, body: bytes) -> tuple[int, bytes, dict]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/x-protobuf"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_downstream_outage_with_the_spool_on_loses_nothing(tmp_path, protocol):
    http_port, grpc_port = free_port(), free_port()
    downstream = OtlpReceiver(port=http_port, grpc=True, grpc_port=grpc_port).start()
    endpoint = downstream.endpoint if protocol == "http/protobuf" else downstream.grpc_endpoint
    downstream.close()  # down before the first span
    spool = tmp_path / "spool"
    with running_gateway(
        endpoint, downstream_protocol=protocol, max_queue_spans=20, spool_dir=spool, spool_max_bytes=10_000_000
    ) as gateway:
        _send_spans(gateway, 300)
        assert gateway.stats.get("spans_in") == 300
        assert gateway.stats.get("rejected_requests") == 0
        assert gateway.stats.get("spans_spooled") > 0 and any(spool.iterdir())
        assert gateway.stats.get("retries") > 0
        revived = OtlpReceiver(port=http_port, grpc=True, grpc_port=grpc_port).start()
        try:
            spans = revived.wait_for_spans(lambda s: len(s) >= 300)
            assert eventually(lambda: gateway.forwarder.spool.stored_bytes == 0)
        finally:
            revived.close()
    assert sorted(s.name for s in spans) == sorted(f"span {i}" for i in range(300))
    priced = [s for s in spans if s.attributes.get(attr.COST_STATUS) == "priced"]
    assert len(priced) == 100
    assert not list(spool.glob("*.otlp"))
    assert gateway.stats.get("spans_dropped") == 0


def test_without_a_spool_the_queue_limit_answers_503_and_unavailable_with_retry_hints():
    port = free_port()
    downstream = OtlpReceiver(port=port).start()
    endpoint = downstream.endpoint
    downstream.close()
    with running_gateway(endpoint, max_queue_spans=50, retry_after=3) as gateway:
        url = f"{gateway.http_endpoint}/v1/traces"
        workers = gateway.config.forward_workers
        accepted = list(range(workers))
        for batch in accepted:
            assert _post(url, _request(10, f"b{batch:02d}"))[0] == 200
        # Each worker has taken one batch and retries it against the dead downstream for good:
        # from here nothing leaves the queue, so what it admits is exact.
        assert eventually(lambda: gateway.forwarder.queued_spans == 0)
        for batch in range(workers, 20):
            status, body, headers = _post(url, _request(10, f"b{batch:02d}"))
            if status != 200:
                break
            accepted.append(batch)
        assert status == 503, "the queue limit must push back"
        assert headers["Retry-After"] == "3"
        refusal = Status.FromString(body)
        assert refusal.code == 14 and "queue full" in refusal.message
        # the limit's worth queued behind the batches in flight, nothing beyond it
        assert len(accepted) == workers + 5
        assert gateway.stats.get("spans_in") == 10 * len(accepted)

        with grpc.insecure_channel(gateway.grpc_endpoint) as channel:
            export = channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")
            with pytest.raises(grpc.RpcError) as refused:
                export(_request(10, "grpc"), timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        from genai_cost.gateway.senders import grpc_retry_delay

        assert grpc_retry_delay(refused.value) == 3.0

        revived = OtlpReceiver(port=port).start()
        try:
            spans = revived.wait_for_spans(lambda s: len(s) >= 10 * len(accepted))
            assert eventually(lambda: gateway.forwarder.queued_spans == 0)
            # room again: the next request is admitted and delivered
            assert _post(url, _request(10, "late"))[0] == 200
            spans = revived.wait_for_spans(lambda s: len(s) >= 10 * len(accepted) + 10)
        finally:
            revived.close()
    names = {s.name for s in spans}
    assert names == {f"b{b:02d}-{i}" for b in accepted for i in range(10)} | {f"late-{i}" for i in range(10)}
    assert gateway.stats.get("spans_dropped") == 0


def test_shutdown_drains_the_queue_once_the_downstream_is_back():
    port = free_port()
    downstream = OtlpReceiver(port=port).start()
    endpoint = downstream.endpoint
    downstream.close()
    gateway = running_gateway(endpoint, max_queue_spans=10_000, drain_timeout=10)
    revived = None
    with gateway as live:
        for batch in range(8):
            assert _post(f"{live.http_endpoint}/v1/traces", _request(25, f"d{batch}"))[0] == 200
        assert live.forwarder.queued_spans > 0  # nothing could leave yet
        revived = OtlpReceiver(port=port).start()
    # shutdown() returned: the queue was delivered before it did, no waiting here
    try:
        assert len(revived.spans) == 200
        assert live.stats.get("spans_out") == 200
    finally:
        revived.close()


def test_shutdown_spools_what_it_cannot_deliver_and_the_next_run_sends_it(tmp_path):
    port = free_port()
    downstream = OtlpReceiver(port=port).start()
    endpoint = downstream.endpoint
    downstream.close()
    spool = tmp_path / "spool"
    with running_gateway(endpoint, spool_dir=spool, drain_timeout=0.2) as first:
        for batch in range(4):
            assert _post(f"{first.http_endpoint}/v1/traces", _request(10, f"r{batch}"))[0] == 200
    assert first.stats.get("spans_dropped") == 0
    assert len(list(spool.glob("*.otlp"))) == 4
    with OtlpReceiver(port=port) as revived, running_gateway(endpoint, spool_dir=spool) as second:
        spans = revived.wait_for_spans(lambda s: len(s) >= 40)
        assert eventually(lambda: second.forwarder.spool.stored_bytes == 0)
    assert sorted(s.name for s in spans) == sorted(f"r{b}-{i}" for b in range(4) for i in range(10))


def test_without_a_spool_shutdown_counts_what_it_could_not_deliver():
    with dead_endpoint() as endpoint, running_gateway(endpoint, drain_timeout=0.2) as gateway:
        assert _post(f"{gateway.http_endpoint}/v1/traces", _request(10, "lost"))[0] == 200
    # never silent: the loss is counted (and logged)
    assert gateway.stats.get("spans_dropped") == 10


def test_senders_read_retry_hints_from_a_pushing_back_gateway():
    with (
        dead_endpoint() as endpoint,
        running_gateway(endpoint, max_queue_spans=10, retry_after=4, forward_workers=1, drain_timeout=0.2) as full,
    ):
        payload = _request(10, "x")
        sender = HttpSender(full.http_endpoint)
        sender.send(payload)
        # The only worker has taken it and retries it against the dead downstream for good, so
        # from here nothing leaves the queue: one more batch fills it, every later one is refused.
        assert eventually(lambda: full.stats.get("retries") > 0)
        sender.send(payload)
        with pytest.raises(RetryableError) as over_http:
            sender.send(payload)
        assert over_http.value.retry_after == 4.0
        sender = GrpcSender(full.grpc_endpoint, tls=DownstreamTLS(insecure=True))
        try:
            with pytest.raises(RetryableError) as over_grpc:
                sender.send(payload)
        finally:
            sender.close()
        assert over_grpc.value.retry_after == 4.0


def test_a_downstream_refusing_the_payload_is_permanent_and_a_dead_one_retryable():
    with OtlpReceiver() as downstream, pytest.raises(PermanentError):
        HttpSender(downstream.endpoint).send(b"\xff\xff not protobuf")
    with dead_endpoint() as endpoint, pytest.raises(RetryableError):
        HttpSender(endpoint).send(b"")


def test_retry_after_accepts_seconds_and_http_dates():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: retry now


def test_a_spooled_batch_removed_behind_its_back_is_counted_not_fatal(tmp_path):
    from genai_cost.gateway.spool import Spool

    lost = []
    spool = Spool(tmp_path, 1_000_000, on_lost=lost.append)
    assert spool.put(b"first", 3) and spool.put(b"second", 4)
    sorted(tmp_path.glob("*.otlp"))[0].unlink()  # the older one
    path, payload, spans, _ = spool.take()
    assert (payload, spans) == (b"second", 4) and lost == [3]
    spool.done(path)
    assert spool.stored_bytes == 0 and spool.spans == 0 and spool.take() is None
    # a restart finds what is left, oldest first
    spool.put(b"a", 1)
    spool.put(b"b", 2)
    again = Spool(tmp_path, 1_000_000)
    assert [again.take()[1], again.take()[1]] == [b"a", b"b"] and again.spans == 3


def test_spooled_batches_keep_their_order_when_the_wall_clock_steps_back(tmp_path, monkeypatch):
    import time

    from genai_cost.gateway.spool import Spool

    readings = iter([3_000, 2_000, 1_000, 500])  # NTP or a resumed VM set the clock back each time
    first = Spool(tmp_path, 1_000_000)
    monkeypatch.setattr(time, "time_ns", lambda: next(readings))
    first.put(b"one", 1)
    first.put(b"two", 1)
    restarted = Spool(tmp_path, 1_000_000)  # after a restart, only the names tell the order
    restarted.put(b"three", 1)
    monkeypatch.undo()
    again = Spool(tmp_path, 1_000_000)
    assert [again.take()[1] for _ in range(3)] == [b"one", b"two", b"three"]
