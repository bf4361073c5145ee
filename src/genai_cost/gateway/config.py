"""What a gateway listens on, where it forwards, and its limits."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class GatewayConfig:
    host: str = "127.0.0.1"  # loopback unless told otherwise: an open OTLP port accepts anyone's spans
    http_port: int | None = 4318  # None: no OTLP/HTTP listener; 0: any free port
    grpc_port: int | None = 4317  # None: no OTLP/gRPC listener; 0: any free port
    token: str | None = None  # clients must send "Authorization: Bearer <token>" when set
    max_request_bytes: int = 8 * 1024 * 1024  # per request, compressed and decompressed
    downstream: str = "http://127.0.0.1:4319"
    downstream_protocol: str = "http/protobuf"  # or "grpc"
    downstream_headers: dict[str, str] = field(default_factory=dict)
    downstream_timeout: float = 10.0
    max_queue_spans: int = 50_000
    forward_workers: int = 2
    spool_dir: Path | None = None
    spool_max_bytes: int = 256 * 1024 * 1024
    initial_backoff: float = 0.5
    max_backoff: float = 30.0
    retry_after: float = 2.0  # the hint sent with a 503 / UNAVAILABLE
    rollup_wait: float | None = None  # seconds to hold a trace for cross-service roll-up; None = off
    max_held_spans: int = 100_000
    drain_timeout: float = 10.0
    max_open_traces: int = 100_000  # de-duplication and local roll-up memory (traces/responses)
    pricing: bool = True  # False: a buffering relay that forwards spans unchanged (and a bench baseline)
    # With budgets: also account spans that arrive priced and carry no budget decision (fleets
    # whose SDKs run no budgets). Off: an SDK's spans are its own ledger's business.
    account_prepriced: bool = False
    # GenAI spans whose edit is remembered so a client's retried export is not priced or accounted
    # twice (gateway/retries.py); ~0.6 KB each. 0 = off. Forgotten at restart.
    dedupe_window_spans: int = 50_000
    # With a spool: every batch on disk (fsync'd) before the client hears 200, as the Collector's
    # persistent queue; off: the spool takes only what overflows the memory queue or shutdown leaves.
    durable: bool = True
    # Transport limits (docs/security.md, "Gateway transport").
    max_inflight_bytes: int = 128 * 1024 * 1024  # requests' bytes held at once, inflated and decoded; 0 = off
    max_connections: int = 256  # open HTTP connections / concurrent gRPC calls
    listen_backlog: int = 1024
    header_timeout: float = 10.0  # request line and headers, in all (not per read)
    body_timeout: float = 30.0  # plus one second per 64 kB of declared body
    idle_timeout: float = 60.0  # a keep-alive connection waiting for its next request
    # TLS on both listeners; client certificates required when a CA is given (mTLS).
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    protect_metrics: bool = False  # GET /metrics needs the bearer token too (it names tenants and users)
    # Toward the downstream: https:// and scheme-less gRPC are TLS (the Collector's default).
    downstream_ca: Path | None = None
    downstream_cert: Path | None = None
    downstream_key: Path | None = None
    downstream_insecure: bool = False  # plaintext gRPC to a scheme-less endpoint

    def __post_init__(self) -> None:
        problems = []
        if self.token is not None and not self.token.strip():
            problems.append("token: empty (an empty token would let anyone in; leave it unset to disable auth)")
        if (self.tls_cert is None) != (self.tls_key is None):
            problems.append("tls_cert/tls_key: give both or neither")
        if self.tls_client_ca is not None and self.tls_cert is None:
            problems.append("tls_client_ca: client certificates need TLS (tls_cert and tls_key)")
        if (self.downstream_cert is None) != (self.downstream_key is None):
            problems.append("downstream_cert/downstream_key: give both or neither")
        if self.protect_metrics and not self.token:
            problems.append("protect_metrics: needs a token")
        for name in ("max_connections", "listen_backlog", "header_timeout", "body_timeout", "idle_timeout"):
            if getattr(self, name) <= 0:
                problems.append(f"{name}: must be positive, got {getattr(self, name)!r}")
        if self.max_inflight_bytes < 0:
            problems.append(f"max_inflight_bytes: must be >= 0 (0 = off), got {self.max_inflight_bytes!r}")
        if self.http_port is None and self.grpc_port is None:
            problems.append("http_port/grpc_port: at least one listener is needed")
        if self.downstream_protocol not in ("http/protobuf", "grpc"):
            problems.append(f"downstream_protocol: {self.downstream_protocol!r} is not grpc or http/protobuf")
        for name in ("max_request_bytes", "max_queue_spans", "forward_workers", "spool_max_bytes", "max_held_spans"):
            if getattr(self, name) <= 0:
                problems.append(f"{name}: must be positive, got {getattr(self, name)!r}")
        if self.dedupe_window_spans < 0:
            problems.append(f"dedupe_window_spans: must be >= 0 (0 = off), got {self.dedupe_window_spans!r}")
        if self.rollup_wait is not None and self.rollup_wait < 0:
            problems.append(f"rollup_wait: must be >= 0 seconds, got {self.rollup_wait!r}")
        if problems:
            raise ValueError("invalid gateway configuration: " + "; ".join(problems))
