"""TLS for the gateway: certificates for its listeners, trust and client certificates toward the downstream.

Listeners speak TLS when given a certificate and key (``tls_cert``/``tls_key``) and require
client certificates signed by ``tls_client_ca`` when one is given (mTLS), on HTTP and gRPC alike.
Toward the downstream the defaults are the OpenTelemetry Collector's otlp exporters': an
``https://`` endpoint is TLS, verified against the system trust store (or ``downstream_ca``); a
gRPC endpoint without a scheme is TLS too (the otlp exporter's ``tls.insecure`` defaults to
false), unless ``downstream_insecure`` or an ``http://`` scheme says plaintext.

A file that cannot be read or is not PEM is a ``ValueError`` naming it (the command prints it).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit


class DownstreamTLS(NamedTuple):
    ca: Path | None = None  # trust this CA instead of the system store
    cert: Path | None = None  # client certificate (mTLS) and its key
    key: Path | None = None
    insecure: bool = False  # gRPC without a scheme: plaintext (the Collector's tls.insecure: true)


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{what} {path}: {exc.strerror or exc}") from None


def server_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    """The HTTP listener's context; client certificates required when ``client_ca`` is given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"--tls-cert {cert} / --tls-key {key}: {getattr(exc, 'strerror', None) or exc}") from None
    if client_ca is not None:
        try:
            context.load_verify_locations(cafile=str(client_ca))
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"--tls-client-ca {client_ca}: {getattr(exc, 'strerror', None) or exc}") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def grpc_server_credentials(config: Any) -> Any:
    import grpc

    client_ca = _read(config.tls_client_ca, "--tls-client-ca") if config.tls_client_ca else None
    return grpc.ssl_server_credentials(
        [(_read(config.tls_key, "--tls-key"), _read(config.tls_cert, "--tls-cert"))],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def client_context(tls: DownstreamTLS) -> ssl.SSLContext:
    """An https:// downstream's context: verified against ``tls.ca`` or the system store."""
    try:
        context = ssl.create_default_context(cafile=str(tls.ca) if tls.ca else None)
        if tls.cert is not None:
            context.load_cert_chain(tls.cert, tls.key)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"downstream TLS files: {getattr(exc, 'strerror', None) or exc}") from None
    return context


def grpc_channel_credentials(tls: DownstreamTLS) -> Any:
    import grpc

    return grpc.ssl_channel_credentials(
        root_certificates=_read(tls.ca, "--downstream-ca") if tls.ca else None,
        private_key=_read(tls.key, "--downstream-key") if tls.key else None,
        certificate_chain=_read(tls.cert, "--downstream-cert") if tls.cert else None,
    )


def grpc_channel(target: str, tls: DownstreamTLS) -> Any:
    """A channel to a gRPC downstream, as the Collector's otlp exporter opens one: TLS unless the
    target says ``http://`` or ``tls.insecure`` is set; ``https://`` overrides insecure. Trace
    forwarding and the metrics/logs relay both open theirs here, so they never differ."""
    import grpc

    parts = urlsplit(target if "://" in target else f"grpc://{target}")
    address = parts.netloc or parts.path
    if parts.scheme == "https" or (not tls.insecure and parts.scheme != "http"):
        return grpc.secure_channel(address, grpc_channel_credentials(tls))
    return grpc.insecure_channel(address)
