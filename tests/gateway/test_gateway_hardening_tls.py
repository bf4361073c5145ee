"""TLS and authentication: both listeners, client certificates, the downstream, tokens and /metrics.

Issue 11, finding 6: no TLS anywhere (plaintext gRPC to a downstream even where the Collector's
exporter defaults to TLS), an empty --token-file silently turned authentication off, and
/metrics (tenant and user labels) never asked for the token.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import grpc
import pytest
from gateway_support import eventually, genai_attributes, running_gateway, service
from hardening_support import make_certificates
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from genai_cost import attributes as attr
from genai_cost.testing.otlp_receiver import OtlpReceiver


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certificates(tmp_path_factory.mktemp("certs"))


def _tls(certs, *, client_ca: bool = True) -> dict:
    return {
        "tls_cert": certs.server_cert,
        "tls_key": certs.server_key,
        "tls_client_ca": certs.ca if client_ca else None,
    }


def _export_one(exporter, name: str) -> SpanExportResult:
    provider = service("tls", exporter)
    results = []
    original = exporter.export

    def remember(spans):
        results.append(original(spans))
        return results[-1]

    exporter.export = remember
    with provider.get_tracer("t").start_as_current_span(name, attributes=genai_attributes("gpt-4o", "openai", 10, 2)):
        pass
    provider.shutdown()
    return results[0] if results else SpanExportResult.FAILURE


def test_http_listener_speaks_tls_and_requires_client_certificates(certs, monkeypatch):
    # requests lets REQUESTS_CA_BUNDLE override a session's own CA file (psf/requests#3829)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint, grpc_port=None, **_tls(certs)) as gateway:
        assert gateway.http_endpoint.startswith("https://")
        url = f"{gateway.http_endpoint}/v1/traces"
        trusted = HttpSpanExporter(
            endpoint=url,
            certificate_file=str(certs.ca),
            client_certificate_file=str(certs.client_cert),
            client_key_file=str(certs.client_key),
            timeout=10,
        )
        assert _export_one(trusted, "with-cert") == SpanExportResult.SUCCESS
        [span] = downstream.wait_for_spans(lambda s: len(s) >= 1)
        assert span.attributes[attr.COST_STATUS] == "priced"
        # no client certificate: the handshake is refused
        context = ssl.create_default_context(cafile=str(certs.ca))
        with pytest.raises((ssl.SSLError, ConnectionError, urllib.error.URLError)):
            urllib.request.urlopen(f"{gateway.http_endpoint}/healthz", context=context, timeout=10).read()
        # plaintext to the TLS port is not served
        with pytest.raises((ConnectionError, urllib.error.URLError, http_client_errors())):
            urllib.request.urlopen(f"http://127.0.0.1:{gateway.http_port}/healthz", timeout=10).read()
        assert gateway.stats.get("requests") == 1


def http_client_errors():
    import http.client

    return http.client.HTTPException


def test_grpc_listener_speaks_tls_and_requires_client_certificates(certs):
    with OtlpReceiver() as downstream, running_gateway(downstream.endpoint, http_port=None, **_tls(certs)) as gateway:
        endpoint = f"localhost:{gateway.grpc_port}"
        with_cert = grpc.ssl_channel_credentials(
            certs.ca.read_bytes(), certs.client_key.read_bytes(), certs.client_cert.read_bytes()
        )
        assert _export_one(GrpcSpanExporter(endpoint=endpoint, credentials=with_cert, timeout=10), "g") == (
            SpanExportResult.SUCCESS
        )
        downstream.wait_for_spans(lambda s: len(s) >= 1)
        without_cert = grpc.ssl_channel_credentials(certs.ca.read_bytes())
        with grpc.secure_channel(endpoint, without_cert) as channel, pytest.raises(grpc.RpcError) as refused:
            channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")(b"", timeout=5)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
        with grpc.insecure_channel(endpoint) as channel, pytest.raises(grpc.RpcError):
            channel.unary_unary("/opentelemetry.proto.collector.trace.v1.TraceService/Export")(b"", timeout=5)
        assert gateway.stats.get("requests") == 1


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_the_downstream_is_reached_over_verified_tls(certs, protocol):
    """Gateway A forwards to gateway B, which serves TLS with client certificates, then to a receiver."""
    with OtlpReceiver() as receiver, running_gateway(receiver.endpoint, **_tls(certs), pricing=False) as tls_hop:
        target = tls_hop.http_endpoint if protocol == "http/protobuf" else f"localhost:{tls_hop.grpc_port}"
        client_files = {"downstream_cert": certs.client_cert, "downstream_key": certs.client_key}
        # TLS is the default (no downstream_insecure); trusting the right CA delivers ...
        with running_gateway(
            target, downstream_protocol=protocol, downstream_insecure=False, downstream_ca=certs.ca, **client_files
        ) as gateway:
            provider_endpoint = HttpSpanExporter(endpoint=f"{gateway.http_endpoint}/v1/traces", timeout=10)
            assert _export_one(provider_endpoint, "through-tls") == SpanExportResult.SUCCESS
            spans = receiver.wait_for_spans(lambda s: len(s) >= 1)
            assert [s.name for s in spans] == ["through-tls"]
        # ... and a certificate from another CA is not trusted: retried, never sent in the clear
        with running_gateway(
            target,
            downstream_protocol=protocol,
            downstream_insecure=False,
            downstream_ca=certs.other_ca,
            drain_timeout=0.5,
            **client_files,
        ) as untrusting:
            exporter = HttpSpanExporter(endpoint=f"{untrusting.http_endpoint}/v1/traces", timeout=10)
            assert _export_one(exporter, "refused") == SpanExportResult.SUCCESS
            assert eventually(lambda: untrusting.stats.get("retries") > 0)
        assert [s.name for s in receiver.spans] == ["through-tls"]


def test_a_grpc_downstream_without_a_scheme_is_tls_by_default():
    """As the Collector's otlp exporter (tls.insecure defaults to false): a plaintext downstream
    is never sent spans unless told --downstream-insecure."""
    with OtlpReceiver(grpc=True) as plaintext:
        with running_gateway(
            plaintext.grpc_endpoint, downstream_protocol="grpc", downstream_insecure=False, drain_timeout=0.5
        ) as gateway:
            exporter = HttpSpanExporter(endpoint=f"{gateway.http_endpoint}/v1/traces", timeout=10)
            assert _export_one(exporter, "tls-default") == SpanExportResult.SUCCESS
            assert eventually(lambda: gateway.stats.get("retries") > 0)
        assert plaintext.spans == []
        with running_gateway(plaintext.grpc_endpoint, downstream_protocol="grpc", downstream_insecure=True) as gw:
            _export_one(HttpSpanExporter(endpoint=f"{gw.http_endpoint}/v1/traces", timeout=10), "plaintext")
            plaintext.wait_for_spans(lambda s: len(s) >= 1)


def _command(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "GENAI_COST_GATEWAY_TOKEN"}
    try:
        return subprocess.run(
            [sys.executable, "-m", "genai_cost.cli", "gateway", "--downstream", "http://127.0.0.1:9", *args],
            capture_output=True,
            text=True,
            timeout=20,
            env={**environment, **(env or {})},
        )
    except subprocess.TimeoutExpired as running:
        raise AssertionError(f"the gateway started instead of refusing: {running.stderr!r}") from None


def test_an_empty_token_is_refused_not_taken_as_no_authentication(tmp_path):
    empty = tmp_path / "token"
    empty.write_text("\n")
    done = _command("--http-port", "0", "--grpc-port", "off", "--token-file", str(empty))
    assert done.returncode == 2 and "is empty" in done.stderr and str(empty) in done.stderr
    done = _command("--http-port", "0", "--grpc-port", "off", env={"GENAI_COST_GATEWAY_TOKEN": " "})
    assert done.returncode == 2 and "GENAI_COST_GATEWAY_TOKEN" in done.stderr


def test_metrics_can_be_protected_by_the_token():
    with (
        OtlpReceiver() as downstream,
        running_gateway(downstream.endpoint, grpc_port=None, token="s3cret", protect_metrics=True) as gateway,
    ):
        url = f"{gateway.http_endpoint}/metrics"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401
        request = urllib.request.Request(url, headers={"Authorization": "Bearer s3cret"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert b"genai_cost_gateway_requests_total" in response.read()
        with urllib.request.urlopen(f"{gateway.http_endpoint}/healthz", timeout=10) as response:
            assert response.status == 200  # health checks stay open


@pytest.mark.parametrize("listener", ["--http-port", "--grpc-port"])
def test_an_unreadable_certificate_is_a_one_line_error(tmp_path, certs, listener):
    other = "--grpc-port" if listener == "--http-port" else "--http-port"
    missing = tmp_path / "missing.pem"
    done = _command(listener, "0", other, "off", "--tls-cert", str(missing), "--tls-key", str(certs.server_key))
    assert done.returncode in (1, 2)
    assert "Traceback" not in done.stderr
    [line] = done.stderr.strip().splitlines()
    assert str(missing) in line


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_metrics_and_logs_passthrough_uses_the_downstream_tls(certs, protocol):
    """Metrics relayed to a TLS downstream (gateway B: a real TLS listener requiring client
    certificates, on loopback) with the same CA and client certificate traces use; a downstream
    certified by another CA is refused (503 to the client), never reached unverified."""
    from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    MeterProvider(metric_readers=[reader]).get_meter("tls-test").create_counter("relayed_over_tls").add(3)
    body = encode_metrics(reader.get_metrics_data()).SerializeToString()
    headers = {"Content-Type": "application/x-protobuf"}
    client_files = {"downstream_cert": certs.client_cert, "downstream_key": certs.client_key}
    with OtlpReceiver() as receiver, running_gateway(receiver.endpoint, **_tls(certs), pricing=False) as tls_hop:
        target = tls_hop.http_endpoint if protocol == "http/protobuf" else f"localhost:{tls_hop.grpc_port}"
        with running_gateway(
            target, downstream_protocol=protocol, downstream_insecure=False, downstream_ca=certs.ca, **client_files
        ) as gateway:
            request = urllib.request.Request(f"{gateway.http_endpoint}/v1/metrics", data=body, headers=headers)
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
        assert receiver.metrics_requests == 1
        assert "relayed_over_tls" in receiver.metric_names
        with running_gateway(
            target,
            downstream_protocol=protocol,
            downstream_insecure=False,
            downstream_ca=certs.other_ca,
            **client_files,
        ) as untrusting:
            request = urllib.request.Request(f"{untrusting.http_endpoint}/v1/metrics", data=body, headers=headers)
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 503
        assert receiver.metrics_requests == 1
