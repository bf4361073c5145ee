"""What the OTLP listeners (http_server.py, grpc_server.py) need of the gateway behind them.

The listeners decode and answer; the gateway prices, queues and forwards. They are typed against
this protocol, not against ``service.Gateway``, so the service imports its listeners and they
never import it back: the receiving side can be tested, or served, with any object that has
these members.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from genai_cost.gateway.admission import MemoryLimiter
    from genai_cost.gateway.config import GatewayConfig
    from genai_cost.gateway.passthrough import Passthrough
    from genai_cost.gateway.stats import GatewayStats


class Receiver(Protocol):
    config: GatewayConfig
    stats: GatewayStats
    memory: MemoryLimiter  # every request's bytes are reserved here before they are read
    passthrough: Passthrough  # metrics and logs exports, relayed unchanged
    healthy: bool  # False once shutdown began: /healthz says so

    @property
    def refusal(self) -> str:
        """Why a request was refused for now (the 503 / UNAVAILABLE message)."""
        ...

    def ingest(self, request: Any) -> bool:
        """Price and queue one decoded export request; False = refused for now (backpressure)."""
        ...
