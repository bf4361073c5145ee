"""The OTLP gateway: prices GenAI spans from any language at the collector tier.

OTLP in (HTTP protobuf/JSON, gRPC) → the same ``CostDecider`` as the SDK's ``CostSpanProcessor``
→ optional cross-service trace roll-up → OTLP out with a bounded queue, retries and a spool.
Run it with ``genai-cost gateway``; servers need the ``gateway`` extra (grpcio).
"""

from genai_cost.gateway.config import GatewayConfig
from genai_cost.gateway.service import Gateway, SpendSink

__all__ = ["Gateway", "GatewayConfig", "SpendSink"]
