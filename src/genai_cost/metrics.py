"""The metrics genai-cost records: cost, unpriced calls, and the GenAI semconv client metrics.

Instruments come from the global ``MeterProvider`` through the API's proxy, so they work whether
the SDK is configured before or after instrumentation. Attribute sets are built once per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics

from genai_cost import attributes as attr
from genai_cost.pricing.breakdown import CostBreakdown
from genai_cost.usage import TokenUsage

# Bucket boundaries advised by the GenAI semantic conventions.
_TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864]
_DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
# Cost per call spans a hundredth of a cent (a small embedding) to dollars (a long-context call).
_COST_BUCKETS = [1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2, 5e-2, 0.1, 0.5, 1.0, 5.0, 10.0]

# Span attributes copied onto cost metrics (user.id only when opted in: cardinality).
_COST_DIMENSIONS = (
    attr.PROVIDER_NAME,
    attr.REQUEST_MODEL,
    attr.RESPONSE_MODEL,
    attr.OPERATION_NAME,
    attr.PROJECT,
    attr.TEAM,
    attr.FEATURE,
    attr.TENANT,
    attr.BUDGET_DECISION,
)
_SEMCONV_DIMENSIONS = (
    attr.PROVIDER_NAME,
    attr.REQUEST_MODEL,
    attr.RESPONSE_MODEL,
    attr.OPERATION_NAME,
    attr.SERVER_ADDRESS,
    attr.SERVER_PORT,
    attr.ERROR_TYPE,
)


class CostMetrics:
    def __init__(self, meter_provider: metrics.MeterProvider | None = None, *, user_id: bool = False) -> None:
        from genai_cost import __version__

        meter = metrics.get_meter("genai_cost", __version__, meter_provider)
        self._dimensions = (*_COST_DIMENSIONS, attr.USER_ID) if user_id else _COST_DIMENSIONS
        self._cost = meter.create_histogram(
            attr.METRIC_COST,
            unit="USD",
            description="Cost of GenAI client operations, in the price's currency (the currency attribute).",
            explicit_bucket_boundaries_advisory=_COST_BUCKETS,
        )
        self._unpriced = meter.create_counter(
            attr.METRIC_UNPRICED_CALLS,
            unit="{call}",
            description="GenAI calls that could not be priced (unknown model, missing or invalid usage).",
        )
        self._tokens = meter.create_histogram(
            attr.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
        )
        self._duration = meter.create_histogram(
            attr.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )
        self._ttfc = meter.create_histogram(
            attr.METRIC_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time to receive the first chunk of a streamed response.",
            explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
        )

    def record_cost(self, cost: CostBreakdown, span_attributes: Mapping[str, Any]) -> None:
        dims = {k: v for k in self._dimensions if (v := span_attributes.get(k)) is not None}
        if cost.amount is not None:
            dims["currency"] = cost.currency
            self._cost.record(cost.amount, dims)
        else:
            dims[attr.COST_STATUS] = cost.status
            self._unpriced.add(1, dims)

    def record_call(
        self,
        span_attributes: Mapping[str, Any],
        usage: TokenUsage | None,
        duration_s: float,
        time_to_first_chunk_s: float | None = None,
    ) -> None:
        """The semantic-convention client metrics for one call."""
        dims = {k: v for k in _SEMCONV_DIMENSIONS if (v := span_attributes.get(k)) is not None}
        self._duration.record(duration_s, dims)
        if time_to_first_chunk_s is not None:
            self._ttfc.record(time_to_first_chunk_s, dims)
        if usage is not None:
            self._tokens.record(usage.input_tokens, {**dims, attr.TOKEN_TYPE: "input"})
            self._tokens.record(usage.output_tokens, {**dims, attr.TOKEN_TYPE: "output"})


_metrics: CostMetrics | None = None


def cost_metrics() -> CostMetrics:
    global _metrics
    if _metrics is None:
        _metrics = CostMetrics()
    return _metrics


def set_cost_metrics(new: CostMetrics) -> None:
    global _metrics
    _metrics = new
