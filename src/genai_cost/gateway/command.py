"""``genai-cost gateway``: the command-line front of the gateway (flags map to ``GatewayConfig``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any, TextIO

_TOKEN_ENV = "GENAI_COST_GATEWAY_TOKEN"
_DEFAULT_GRPC_PORT = 4317
_GRPC_DEFAULT = object()  # --grpc-port not given: gRPC is served if grpcio is installed


def _port(value: str) -> int | None:
    return None if value.lower() in ("off", "none", "") else int(value)


def _header(value: str) -> tuple[str, str]:
    name, sep, header_value = value.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--downstream-header {value!r}: expected NAME=VALUE")
    return name.strip(), header_value.strip()


def _ledger_name(url: str) -> str:
    """The ledger for a banner: a Redis URL without its credentials."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}" if parts.scheme.startswith("redis") else url


def add_command(commands: Any) -> None:
    """Register the ``gateway`` subcommand on the ``genai-cost`` parser."""
    parser = commands.add_parser(
        "gateway", help="run the OTLP gateway: price GenAI spans from any language and forward them"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--http-port", type=_port, default=4318, help="OTLP/HTTP port, 'off' to disable")
    parser.add_argument(
        "--grpc-port",
        type=_port,
        default=_GRPC_DEFAULT,
        help=f"OTLP/gRPC port (default {_DEFAULT_GRPC_PORT} when grpcio is installed), 'off' to disable",
    )
    parser.add_argument("--downstream", required=True, help="next OTLP endpoint, e.g. http://tempo:4318 or tempo:4317")
    parser.add_argument("--downstream-protocol", choices=("http/protobuf", "grpc"), default="http/protobuf")
    parser.add_argument("--downstream-header", type=_header, action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument(
        "--token-file", type=Path, help=f"file holding the bearer token clients must send (or ${_TOKEN_ENV})"
    )
    parser.add_argument("--max-request-bytes", type=int, default=8 * 1024 * 1024)
    parser.add_argument("--max-queue-spans", type=int, default=50_000)
    parser.add_argument(
        "--spool-dir",
        type=Path,
        help="durable mode: every batch is on disk (fsync'd) here before it is acknowledged, and survives a crash",
    )
    parser.add_argument("--spool-max-bytes", type=int, default=256 * 1024 * 1024)
    parser.add_argument(
        "--spool-overflow-only",
        dest="durable",
        action="store_false",
        help="with --spool-dir: spool only what overflows the queue or is left at shutdown (faster, not crash-safe)",
    )
    parser.add_argument("--rollup-wait", type=float, help="hold each trace this many seconds and total it on its root")
    parser.add_argument(
        "--dedupe-window-spans",
        type=int,
        default=50_000,
        help="remember this many recent GenAI spans so a client's retried export is not priced twice (0: off)",
    )
    parser.add_argument("--drain-timeout", type=float, default=10.0, help="seconds to deliver the queue at shutdown")
    parser.add_argument(
        "--no-pricing", dest="pricing", action="store_false", help="forward spans unchanged (a buffering relay)"
    )
    parser.add_argument(
        "--account-prepriced",
        action="store_true",
        help="with budgets: also account spans that arrive priced without a budget decision (apps without budgets)",
    )
    parser.add_argument("--store", help="also write one row per GenAI call to this spend store (path; see `report`)")
    parser.add_argument("--retention", help="with --store: delete calls older than this (e.g. 400d)")
    transport = parser.add_argument_group("transport limits and TLS (docs/security.md)")
    transport.add_argument(
        "--max-inflight-mib",
        type=int,
        default=128,
        help="refuse (503 / RESOURCE_EXHAUSTED, retry hint) past this many MiB of requests in flight (0: off)",
    )
    transport.add_argument("--max-connections", type=int, default=256, help="open HTTP connections / gRPC calls")
    transport.add_argument("--header-timeout", type=float, default=10.0, help="seconds for a request's headers")
    transport.add_argument("--body-timeout", type=float, default=30.0, help="seconds for a body (+1 per 64 kB)")
    transport.add_argument("--tls-cert", type=Path, help="serve TLS on both listeners with this PEM certificate")
    transport.add_argument("--tls-key", type=Path, help="... and this PEM private key")
    transport.add_argument("--tls-client-ca", type=Path, help="require client certificates signed by this CA (mTLS)")
    transport.add_argument("--protect-metrics", action="store_true", help="GET /metrics needs the bearer token too")
    transport.add_argument("--downstream-ca", type=Path, help="trust this CA for a TLS downstream")
    transport.add_argument("--downstream-cert", type=Path, help="client certificate toward the downstream (mTLS)")
    transport.add_argument("--downstream-key", type=Path, help="... and its private key")
    transport.add_argument(
        "--downstream-insecure",
        action="store_true",
        help="plaintext gRPC to a downstream given without a scheme (default: TLS, as the Collector's otlp exporter)",
    )
    parser.add_argument(
        "--answers-interval",
        type=float,
        default=300.0,
        help="with --store: run the anomaly detectors every N seconds and send digests on the config's schedule "
        "(0: off; default 300)",
    )
    parser.add_argument("--log-level", default="INFO")
    parser.set_defaults(run=run_gateway)


def _store_writer(url: str, retention: str | None) -> Any:
    from genai_cost.store import StoreError, open_store, parse_retention
    from genai_cost.store.rows import calls_from_otlp
    from genai_cost.store.writer import StoreWriter

    try:
        store = open_store(url, retention=parse_retention(retention) if retention else None, writer=True)
    except (StoreError, ValueError) as exc:
        raise StoreError(f"--store: {exc}") from None
    return StoreWriter(store, calls_from_otlp)


def _grpc_port(requested: Any) -> int | bool | None:
    """The gRPC port to serve; None = off. OTLP/HTTP needs nothing extra, so a missing grpcio only
    turns gRPC off, with a notice — unless --grpc-port asked for it (then False: an error said)."""
    from genai_cost.gateway.grpc_server import grpc_available

    if requested is None or grpc_available():
        return _DEFAULT_GRPC_PORT if requested is _GRPC_DEFAULT else requested
    if requested is _GRPC_DEFAULT:
        print(
            "genai-cost gateway: grpcio is not installed: serving OTLP/HTTP only "
            "(pip install grpcio, the gateway extra, for OTLP/gRPC)",
            file=sys.stderr,
        )
        return None
    print(
        f"genai-cost: --grpc-port {requested} needs grpcio (the gateway extra: pip install grpcio), "
        "or pass --grpc-port off to serve OTLP/HTTP only",
        file=sys.stderr,
    )
    return False


def run_gateway(args: argparse.Namespace, out: TextIO) -> int:
    from genai_cost.backend_view import BackendView
    from genai_cost.config import ENV_CONFIG_FILE, load_settings
    from genai_cost.gateway import Gateway, GatewayConfig
    from genai_cost.pricing import PriceCatalog
    from genai_cost.store import StoreError

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    token = os.environ.get(_TOKEN_ENV)
    if token is not None and not token.strip():
        print(f"genai-cost: ${_TOKEN_ENV} is set but empty: set a token or unset it", file=sys.stderr)
        return 2
    if args.token_file is not None:
        try:
            token = args.token_file.read_text().strip()
        except OSError as exc:
            print(f"genai-cost: --token-file {args.token_file}: {exc.strerror}", file=sys.stderr)
            return 2
        if not token:  # an empty file must not silently turn authentication off
            print(
                f"genai-cost: --token-file {args.token_file} is empty: refusing to run without a token", file=sys.stderr
            )
            return 2
    grpc_port = _grpc_port(args.grpc_port)
    if grpc_port is False:
        return 2
    # --config is GENAI_COST_CONFIG: the GENAI_COST_* variables (the ledger, ...) apply on top, as in the SDK.
    settings = load_settings({**os.environ, ENV_CONFIG_FILE: str(args.config)}) if args.config else load_settings()
    try:
        config = GatewayConfig(
            host=args.host,
            http_port=args.http_port,
            grpc_port=grpc_port,
            token=token or None,
            max_request_bytes=args.max_request_bytes,
            downstream=args.downstream,
            downstream_protocol=args.downstream_protocol,
            downstream_headers=dict(args.downstream_header),
            max_queue_spans=args.max_queue_spans,
            spool_dir=args.spool_dir,
            spool_max_bytes=args.spool_max_bytes,
            rollup_wait=args.rollup_wait,
            drain_timeout=args.drain_timeout,
            dedupe_window_spans=args.dedupe_window_spans,
            pricing=args.pricing,
            account_prepriced=args.account_prepriced,
            durable=args.durable,
            max_inflight_bytes=args.max_inflight_mib * 1024 * 1024,
            max_connections=args.max_connections,
            header_timeout=args.header_timeout,
            body_timeout=args.body_timeout,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_client_ca=args.tls_client_ca,
            protect_metrics=args.protect_metrics,
            downstream_ca=args.downstream_ca,
            downstream_cert=args.downstream_cert,
            downstream_key=args.downstream_key,
            downstream_insecure=args.downstream_insecure,
        )
        price_catalog = PriceCatalog(settings.overrides)
        price_catalog.warm_up()
        guard = None
        if args.pricing and settings.budgets.policies:
            from genai_cost.budget.setup import start_budgets

            guard = start_budgets(settings.budgets, settings.alerts)  # a ledger it cannot open: ConfigError
        gateway = Gateway(
            config,
            price_catalog=price_catalog,
            amount_aliases=tuple(settings.amount_aliases),
            budget_guard=guard,
            backend_view=BackendView(settings.backends, settings.duplicate_usage),
            store_writer=_store_writer(args.store, args.retention) if args.store else None,
        )
    except (ValueError, StoreError) as exc:
        print(f"genai-cost: {exc}", file=sys.stderr)
        return 2
    gateway.stats.register_instruments()

    def banner(running: Gateway) -> None:
        listening = [f"OTLP/HTTP {config.host}:{running.http_port}"] if running.http_port is not None else []
        if running.grpc_port is not None:
            listening.append(f"OTLP/gRPC {config.host}:{running.grpc_port}")
        print(f"genai-cost gateway: {', '.join(listening)} -> {config.downstream}", file=out, flush=True)
        if running.store_writer is not None:
            print(f"genai-cost gateway: spend store {running.store_writer.store.url}", file=out, flush=True)
        if guard is not None:
            ledger = _ledger_name(guard.ledger.url)
            print(f"genai-cost gateway: {len(guard.policies)} budget(s), ledger {ledger}", file=out, flush=True)

    live = _live_answers(gateway, settings, guard, args.answers_interval)
    try:
        gateway.run(ready=banner, stopping=live.close if live is not None else None)
    except (OSError, RuntimeError, ValueError) as exc:  # a port in use, grpcio missing, an unreadable certificate
        print(f"genai-cost: gateway: {exc}", file=sys.stderr)
        return 1
    finally:
        if live is not None:
            live.close()
        if guard is not None:
            guard.close()  # the alert dispatcher delivers what is queued at exit
    return 0


def _live_answers(gateway: Any, settings: Any, guard: Any, interval: float) -> Any:
    """With a store: anomaly findings and scheduled digests to the alert channels (reports/live.py)."""
    if gateway.store_writer is None or interval <= 0:
        return None
    from genai_cost.reports.digest import Channels
    from genai_cost.reports.live import LiveAnswers

    live = LiveAnswers(
        gateway.store_writer.store,
        Channels(tuple(settings.alerts.webhooks), settings.alerts.email),
        anomalies=settings.anomalies,
        schedule=settings.digests,
        interval=interval,
        budgets=(lambda: guard.status()) if guard is not None else (lambda: ()),
    )
    live.start()
    return live
