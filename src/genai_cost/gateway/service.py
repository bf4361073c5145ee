"""The gateway: receivers in, ``CostDecider`` enrichment, optional trace hold, forwarder out.

gateway = Gateway(GatewayConfig(downstream="http://tempo:4318")).start()
...
gateway.shutdown()          # stops listening, drains the queue (SIGTERM does this in `run`)
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from genai_cost.gateway.config import GatewayConfig
from genai_cost.gateway.enrich import EnrichCounts, Enricher
from genai_cost.gateway.forward import Forwarder
from genai_cost.gateway.retries import SeenSpans
from genai_cost.gateway.rollup import TraceAssembler
from genai_cost.gateway.senders import Sender, make_sender
from genai_cost.gateway.spool import Spool
from genai_cost.gateway.stats import GatewayStats
from genai_cost.metrics import CostMetrics
from genai_cost.pricing import CostBreakdown, PriceCatalog
from genai_cost.processor import CostDecider

if TYPE_CHECKING:
    from genai_cost.budget.guard import BudgetGuard
    from genai_cost.store.writer import StoreWriter

_log = logging.getLogger(__name__)

# Spend accounting hook: called with every cost the gateway priced and the span's attributes.
SpendSink = Callable[[CostBreakdown, Mapping[str, Any]], None]
_NOTHING_PRICED = EnrichCounts()


class Gateway:
    def __init__(
        self,
        config: GatewayConfig,
        *,
        price_catalog: PriceCatalog | None = None,
        metrics: CostMetrics | None = None,
        amount_aliases: tuple[str, ...] | None = None,
        spend_sink: SpendSink | None = None,
        sender: Sender | None = None,
        budget_guard: BudgetGuard | None = None,
        store_writer: StoreWriter | None = None,
    ) -> None:
        """``budget_guard``: account the spend of priced spans in its ledger (``gateway.budgets``);
        the caller owns it (and its alert sinks) and closes it after ``shutdown``.
        ``store_writer``: gets every priced batch as forwarded (written to the spend store in the
        background); the gateway closes it at ``shutdown``."""
        from genai_cost import runtime

        self.config = config
        self.store_writer = store_writer
        self.stats = GatewayStats()
        self.decider = CostDecider(
            price_catalog=price_catalog,
            metrics=metrics,
            amount_aliases=amount_aliases if amount_aliases is not None else runtime.amount_aliases,
            max_open_traces=config.max_open_traces,
            on_priced=spend_sink,
        )
        self.budgets = None
        if budget_guard is not None:
            from genai_cost.gateway.budgets import SpendAccounting

            self.budgets = SpendAccounting(budget_guard, self.stats, account_prepriced=config.account_prepriced)
            self.stats.text_sections.append(self.budgets.remaining_lines)
        # A retried export's spans get the edit their first copy got: priced and accounted once.
        self.seen = SeenSpans(config.dedupe_window_spans) if config.dedupe_window_spans else None
        self._enricher = Enricher(self.decider, self.budgets, self.seen)
        spool = (
            Spool(config.spool_dir, config.spool_max_bytes, on_lost=lambda n: self.stats.add(spans_dropped=n))
            if config.spool_dir
            else None
        )
        self.forwarder = Forwarder(
            sender
            or make_sender(
                config.downstream, config.downstream_protocol, config.downstream_headers, config.downstream_timeout
            ),
            self.stats,
            max_queue_spans=config.max_queue_spans,
            spool=spool,
            workers=config.forward_workers,
            initial_backoff=config.initial_backoff,
            max_backoff=config.max_backoff,
        )
        self.assembler = (
            TraceAssembler(self._forward_held, wait=config.rollup_wait, max_spans=config.max_held_spans)
            if config.rollup_wait is not None
            else None
        )
        # One request at a time from admission to queue: the decider's state (duplicates, trace
        # totals) must only see a batch that is then accepted, or a client's retry counts twice.
        self._ingest_lock = threading.Lock()
        self._http: Any = None
        self._grpc: Any = None
        self.http_port: int | None = None
        self.grpc_port: int | None = None
        self.healthy = False
        self._stopped = threading.Event()
        self.stats.gauge("queue_spans", "spans waiting in memory to be forwarded", lambda: self.forwarder.queued_spans)
        self.stats.gauge("spool_bytes", "bytes in the on-disk spool", lambda: spool.stored_bytes if spool else 0)
        self.stats.gauge("spool_spans", "spans in the on-disk spool", lambda: spool.spans if spool else 0)
        self.stats.gauge(
            "held_spans",
            "spans held for cross-service roll-up",
            lambda: self.assembler.held_spans if self.assembler else 0,
        )

    # -- the pipeline ----------------------------------------------------------------------
    def ingest(self, request: Any) -> bool:
        """Price and queue one decoded export request; False = refused for now (backpressure)."""
        spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        with self._ingest_lock:
            # What the batch will weigh once priced: a GenAI span gains ~300 bytes of attributes.
            if not self.healthy or not self.forwarder.has_room(spans, request.ByteSize() + 320 * spans):
                return False
            counts = self._enricher.enrich(request) if self.config.pricing else _NOTHING_PRICED
            if self.assembler is not None:
                # A full hold releases its oldest traces early (into the forwarder, whose room was
                # just checked): degraded roll-up rather than refused spans.
                self.assembler.add(request)
            else:
                payload = request.SerializeToString()
                # Admission was checked above on an estimate; a batch that turns out bigger than
                # the spool's remaining room is queued in memory rather than refused after pricing.
                if not self.forwarder.submit(payload, spans):
                    self.forwarder.submit(payload, spans, force=True)
                if self.store_writer is not None:
                    self.store_writer.offer(payload, spans)
        self.stats.add(
            requests=1,
            spans_in=spans,
            spans_priced=counts.priced,
            spans_unpriced=counts.unpriced,
            spans_duplicate=counts.duplicates,
            spans_already_priced=counts.passed_priced,
            enrich_errors=counts.errors,
            spans_retried=counts.retried,
        )
        return True

    def _forward_held(self, request: Any, spans: int) -> None:
        payload = request.SerializeToString()
        self.forwarder.submit(payload, spans, force=True)
        if self.store_writer is not None:
            self.store_writer.offer(payload, spans)

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> Gateway:
        config = self.config
        self.forwarder.start()
        if self.assembler is not None:
            self.assembler.start()
        self.healthy = True
        if config.http_port is not None:
            from genai_cost.gateway.http_server import serve_http

            self._http, _ = serve_http(self, config.host, config.http_port)
            self.http_port = self._http.server_address[1]
        if config.grpc_port is not None:
            from genai_cost.gateway.grpc_server import serve_grpc

            self._grpc, self.grpc_port = serve_grpc(self, config.host, config.grpc_port)
        return self

    @property
    def http_endpoint(self) -> str:
        return f"http://{self.config.host}:{self.http_port}"

    @property
    def grpc_endpoint(self) -> str:
        return f"{self.config.host}:{self.grpc_port}"

    def shutdown(self) -> None:
        """Stop taking requests, release held traces, and drain the queue (spooling what is left)."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        with self._ingest_lock:
            self.healthy = False
        if self._grpc is not None:
            self._grpc.stop(grace=2).wait()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self.assembler is not None:
            self.assembler.flush()
        self.forwarder.shutdown(self.config.drain_timeout)
        if self.store_writer is not None:
            self.store_writer.close(self.config.drain_timeout)
        _log.info("genai-cost gateway stopped: %s", self.stats.snapshot())

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def run(self, ready: Callable[[Gateway], None] | None = None) -> None:
        """Serve until SIGTERM or SIGINT, then shut down gracefully (the command's main loop).

        ``ready`` is called once the listeners are up (the command prints its banner there).
        """
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.start()
        if ready is not None:
            ready(self)
        try:
            stop.wait()
        finally:
            self.shutdown()
