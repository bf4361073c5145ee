"""What a priced GenAI span carries for the backends that read other names than ours.

``attributes.BACKENDS`` says what each backend reads; this module turns a span's own figures into
those names, from one settings object (``BackendView``) built once from the configuration:

* ``extra(attributes)``: the attributes to add to a span we (or the processor, or the gateway)
  priced — the cache-write count under Phoenix's name, ``mlflow.llm.cost`` as MLflow parses it,
  the draft semconv cost, Logfire's ``operation.cost``;
* ``duplicate(attributes)``: a span marked ``duplicate`` with its usage moved under
  ``genai_cost.duplicate.``, so a backend that prices tokens itself does not count the call twice
  (the span and the figures stay; only the names a backend prices from change);
* ``resource(attribution)``: resource attributes for a provider we create: Phoenix's project, and
  the process's default attribution, which MLflow makes trace tags (it tags traces with resource
  attributes and the root span's ``mlflow.traceTag.*``, and the root span is the app's).

It imports only ``attributes``: the instrumentations (through ``runtime.backend_view``), the
processor and the gateway all call it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from genai_cost import attributes as attr

DUPLICATE_USAGE_MODES = ("move", "keep")


class BackendView:
    __slots__ = (
        "backends",
        "cache_creation",
        "duplicate_usage",
        "embeddings_as_llm",
        "logfire",
        "mlflow",
        "semconv_cost",
    )

    def __init__(self, backends: Iterable[str] = attr.DEFAULT_BACKENDS, duplicate_usage: str = "move") -> None:
        self.backends = frozenset(backends)
        unknown = self.backends - attr.BACKENDS.keys()
        if unknown:
            raise ValueError(f"unknown backend {sorted(unknown)[0]!r}; known: {', '.join(attr.BACKENDS)}")
        if duplicate_usage not in DUPLICATE_USAGE_MODES:
            raise ValueError(f"duplicate_usage: expected move or keep, got {duplicate_usage!r}")
        self.duplicate_usage = duplicate_usage
        # Plain booleans: ``extra`` runs once per priced call.
        self.cache_creation = "phoenix" in self.backends
        self.embeddings_as_llm = "phoenix-embeddings" in self.backends
        self.mlflow = "mlflow" in self.backends
        self.logfire = "logfire" in self.backends
        self.semconv_cost = "semconv-cost-draft" in self.backends

    def extra(self, attributes: Mapping[str, Any], request: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Backend names for a priced (or unpriced) span's figures; empty when none apply.
        ``request``: the span's start attributes, when ``attributes`` holds only its outcome."""
        out: dict[str, Any] = {}
        if self.cache_creation:
            cache_write = attributes.get(attr.USAGE_CACHE_WRITE_TOKENS)
            if cache_write and attr.USAGE_CACHE_CREATION_TOKENS not in attributes:
                out[attr.USAGE_CACHE_CREATION_TOKENS] = cache_write
        if self.embeddings_as_llm:
            # Phoenix prices LLM-kind spans by llm.model_name only; left to itself it makes an
            # embeddings span an EMBEDDING one and never counts it (and it ships no embedding
            # prices: a model added in its settings then applies).
            start = attributes if request is None else request
            if start.get(attr.OPERATION_NAME) == "embeddings" and attr.OPENINFERENCE_SPAN_KIND not in start:
                model = start.get(attr.REQUEST_MODEL)
                if model:
                    out[attr.OPENINFERENCE_SPAN_KIND] = "LLM"
                    out[attr.OPENINFERENCE_LLM_MODEL_NAME] = model
        amount = attributes.get(attr.COST_AMOUNT)
        if amount is None:  # unknown is not zero: no backend is handed a price we do not have
            return out
        if self.mlflow:
            # MLflow's own calculation runs unless this is set, and it ignores discounts and
            # custom prices. Its parts: what is not output is input (cache reads/writes, tools).
            output = float(attributes.get(attr.COST_OUTPUT) or 0.0)
            # A float's repr is JSON (amounts are finite), and cheaper than json.dumps on every call.
            total = float(amount)
            out[attr.MLFLOW_LLM_COST] = (
                f'{{"input_cost": {total - output!r}, "output_cost": {output!r}, "total_cost": {total!r}}}'
            )
        if self.logfire:
            out[attr.LOGFIRE_OPERATION_COST] = amount
        if self.semconv_cost:
            out[attr.SEMCONV_COST_AMOUNT] = amount
            out[attr.SEMCONV_COST_CURRENCY] = attributes.get(attr.COST_CURRENCY, "USD")
            source = attributes.get(attr.PRICE_SOURCE)
            if source is not None:
                out[attr.SEMCONV_COST_SOURCE] = source
        return out

    @property
    def emitted_cost_keys(self) -> tuple[str, ...]:
        """The cost names ``extra`` may add: a duplicate must not carry them."""
        return (
            attr.MLFLOW_LLM_COST,
            attr.LOGFIRE_OPERATION_COST,
            attr.SEMCONV_COST_AMOUNT,
            attr.SEMCONV_COST_CURRENCY,
            attr.SEMCONV_COST_SOURCE,
        )

    def duplicate(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """A duplicate's attributes with its usage out of every backend's sight (``move``)."""
        if self.duplicate_usage == "keep":
            return attributes
        prefixes = attr.USAGE_PREFIXES
        moved = attr.DUPLICATE_USAGE_PREFIX
        return {(moved + k if k.startswith(prefixes) else k): v for k, v in attributes.items()}

    def resource(self, attribution: Mapping[str, str]) -> dict[str, str]:
        """Resource attributes for a provider genai-cost creates, from the default attribution."""
        out = {}
        if "mlflow" in self.backends:
            out = {attr.ATTRIBUTION_SPAN_ATTRIBUTES[k]: v for k, v in attribution.items() if v}
        project = attribution.get("project")
        if project and "phoenix" in self.backends:
            out[attr.OPENINFERENCE_PROJECT_NAME] = project
        return out
