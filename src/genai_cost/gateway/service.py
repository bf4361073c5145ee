"""The gateway: receivers in, ``CostDecider`` enrichment, optional trace hold, forwarder out.

gateway = Gateway(GatewayConfig(downstream="http://tempo:4318")).start()
...
gateway.shutdown()          # stops listening, drains the queue (SIGTERM does this in `run`)
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from genai_cost.gateway.admission import MemoryLimiter
from genai_cost.gateway.config import GatewayConfig
from genai_cost.gateway.enrich import EnrichCounts, Enricher
from genai_cost.gateway.forward import Forwarder
from genai_cost.gateway.retries import SeenSpans
from genai_cost.gateway.rollup import TraceAssembler
from genai_cost.gateway.senders import Sender, make_sender
from genai_cost.gateway.passthrough import Passthrough
from genai_cost.gateway.spend_metrics import SpendCounters
from genai_cost.gateway.spool import Spool
from genai_cost.gateway.stats import GatewayStats
from genai_cost.backend_view import BackendView
from genai_cost.gateway.tls import DownstreamTLS, server_context
from genai_cost.metrics import CostMetrics
from genai_cost.pricing import CostBreakdown, PriceCatalog
from genai_cost.processor import CostDecider

if TYPE_CHECKING:
    from genai_cost.budget.guard import BudgetGuard
    from genai_cost.store.writer import StoreWriter

_SIGNAL_POLL_S = 0.2  # how soon `run` notices SIGTERM/SIGINT at the latest
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
        backend_view: BackendView | None = None,
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
            backend_view=backend_view,
        )
        self.budgets = None
        if budget_guard is not None:
            from genai_cost.gateway.budgets import SpendAccounting

            self.budgets = SpendAccounting(budget_guard, self.stats, account_prepriced=config.account_prepriced)
            self.stats.text_sections.append(self.budgets.remaining_lines)
        # A retried export's spans get the edit their first copy got: priced and accounted once.
        self.seen = SeenSpans(config.dedupe_window_spans) if config.dedupe_window_spans else None
        downstream_tls = DownstreamTLS(
            config.downstream_ca, config.downstream_cert, config.downstream_key, config.downstream_insecure
        )
        # Metrics and logs exports are relayed to the downstream as they came, over the same TLS.
        self.passthrough = Passthrough(
            config.downstream,
            config.downstream_protocol,
            config.downstream_headers,
            config.downstream_timeout,
            downstream_tls,
        )
        # Spend and call counters on /metrics: Prometheus alone fills collector/'s dashboard.
        self.spend = SpendCounters()
        self.stats.text_sections.append(self.spend.prometheus_lines)
        self._enricher = Enricher(self.decider, self.budgets, self.seen, self.spend)
        spool = (
            Spool(
                config.spool_dir,
                config.spool_max_bytes,
                on_lost=lambda n: self.stats.add(spans_dropped=n),
                durable=config.durable,
            )
            if config.spool_dir
            else None
        )
        self.memory = MemoryLimiter(config.max_inflight_bytes)
        self._tls = server_context(config.tls_cert, config.tls_key, config.tls_client_ca) if config.tls_cert else None
        self.forwarder = Forwarder(
            sender
            or make_sender(
                config.downstream,
                config.downstream_protocol,
                config.downstream_headers,
                config.downstream_timeout,
                downstream_tls,
            ),
            self.stats,
            max_queue_spans=config.max_queue_spans,
            spool=spool,
            workers=config.forward_workers,
            initial_backoff=config.initial_backoff,
            max_backoff=config.max_backoff,
            memory=self.memory,
        )
        if self.forwarder.durable and config.rollup_wait is not None:
            _log.warning(
                "genai-cost gateway: durable spool with --rollup-wait: traces held for roll-up are in memory "
                "until released (%gs); a crash loses what is held",
                config.rollup_wait,
            )
        self.assembler = (
            TraceAssembler(self._forward_held, wait=config.rollup_wait, max_spans=config.max_held_spans)
            if config.rollup_wait is not None
            else None
        )
        # Admission and shutdown: a request admitted is counted in ``_ingesting`` until queued,
        # and shutdown waits for those before it drains the forwarder.
        self._ingest_lock = threading.Lock()
        self._idle = threading.Condition(self._ingest_lock)
        self._ingesting = 0
        # The decider's, the dedupe window's and the ledger's state: one request's decisions at a time.
        self._decide_lock = threading.Lock()
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
            "inflight_bytes",
            "bytes of export requests being received, decoded or queued in memory",
            lambda: self.memory.in_flight,
        )
        self.stats.gauge(
            "held_spans",
            "spans held for cross-service roll-up",
            lambda: self.assembler.held_spans if self.assembler else 0,
        )

    # -- the pipeline ----------------------------------------------------------------------
    def ingest(self, request: Any) -> bool:
        """Price and queue one decoded export request; False = refused for now (backpressure).

        Only admission and the pricing decisions run under a lock (the decider, the dedupe window
        and the ledger see one request at a time); reading a big span's attributes, editing it and
        serializing it happen outside, so one huge request does not stall the others."""
        spans = sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
        # What the batch will weigh once priced: a GenAI span gains ~300 bytes of attributes.
        size = request.ByteSize() + 320 * spans
        reads = self._enricher.read(request) if self.config.pricing else None
        with self._ingest_lock:
            if not self.healthy or not self.forwarder.has_room(spans, size):
                return False
            self._ingesting += 1
        try:
            return self._ingest_admitted(request, spans, reads)
        finally:
            with self._ingest_lock:
                self._ingesting -= 1
                if not self._ingesting:
                    self._idle.notify_all()

    def _ingest_admitted(self, request: Any, spans: int, reads: Any) -> bool:
        with self._decide_lock:
            counts = self._enricher.enrich(request, reads, defer=True) if reads is not None else _NOTHING_PRICED
        if counts.pending:
            remembered = self._enricher.apply(counts.pending)
            if remembered:
                with self._decide_lock:
                    self._enricher.remember(remembered)
        if self.assembler is not None:
            # A full hold releases its oldest traces early (into the forwarder, whose room was
            # just checked): degraded roll-up rather than refused spans.
            self.assembler.add(request)
        else:
            payload = request.SerializeToString()
            if not self.forwarder.submit(payload, spans):
                if self.forwarder.durable:
                    # The disk refused it (full): the client is told to retry, and its retry is
                    # given the same edit (the dedupe window), not priced or accounted again.
                    return False
                # Admission was checked above on an estimate; a batch that turns out bigger than
                # the spool's remaining room is queued in memory rather than refused after pricing.
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

    @property
    def refusal(self) -> str:
        """Why a request was refused for now (the 503 / UNAVAILABLE message)."""
        if self.forwarder.durable:
            return "gateway spool full or not writable: retry later"
        return "gateway queue full: retry later"

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

            self._http, _ = serve_http(self, config.host, config.http_port, self._tls)
            self.http_port = self._http.server_address[1]
        if config.grpc_port is not None:
            from genai_cost.gateway.grpc_server import serve_grpc

            self._grpc, self.grpc_port = serve_grpc(self, config.host, config.grpc_port)
        return self

    @property
    def http_endpoint(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{self.config.host}:{self.http_port}"

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
            self._idle.wait_for(lambda: not self._ingesting, timeout=self.config.drain_timeout)
        if self._grpc is not None:
            self._grpc.stop(grace=2).wait()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
        if self.assembler is not None:
            self.assembler.flush()
        self.forwarder.shutdown(self.config.drain_timeout)
        self.passthrough.close()
        if self.store_writer is not None:
            self.store_writer.close(self.config.drain_timeout)
        _log.info("genai-cost gateway stopped: %s", self.stats.snapshot())

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def run(self, ready: Callable[[Gateway], None] | None = None, stopping: Callable[[], None] | None = None) -> None:
        """Serve until SIGTERM or SIGINT, then shut down gracefully (the command's main loop).

        ``ready`` is called once the listeners are up (the command prints its banner there);
        ``stopping`` on the signal, before the drain (readers of the spend store end first, so the
        store writer's last batches do not wait behind them).
        """
        # The handler only appends to a list, and the main thread sleeps in short steps: Python runs
        # signal handlers on the main thread between bytecodes, so (1) a handler taking a lock (an
        # Event's set()) could deadlock on the same lock held by the main thread's own wait, and
        # (2) a signal the kernel delivered to another thread (DuckDB's, the forwarder's) does not
        # wake a main thread blocked in an untimed wait: the gateway then ignored SIGTERM until
        # killed (seen once in 25 stops under load). Here it stops within _SIGNAL_POLL_S.
        signalled: list[int] = []
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda signum, _frame: signalled.append(signum))
        self.start()
        if ready is not None:
            ready(self)
        try:
            while not signalled:
                time.sleep(_SIGNAL_POLL_S)
        finally:
            try:
                if stopping is not None:
                    stopping()
            finally:
                self.shutdown()
