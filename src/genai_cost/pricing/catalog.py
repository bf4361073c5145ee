"""The price catalog: genai-prices as the data source, our overrides on top, memoised lookups.

genai-prices' data takes ~0.3 s to load, so it is never loaded at import: ``warm_up()`` (called by
``configure()`` and by instrumentors) starts loading it on a daemon thread, and the first call that
needs a price waits for that one load. Everything after is memoised:

* (provider name, server address, model) -> ``_Resolution`` (hits *and* misses), and
* per resolution, the compiled ``PricePlan`` for each price period / service-tier variant,

so pricing a call is two dict look-ups and a few float multiplications.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from genai_cost.attributes import Status
from genai_cost.pricing.breakdown import CostBreakdown
from genai_cost.pricing.busy_time import BusyClock, busy_clock
from genai_cost.pricing.overrides import CustomPrice, PriceOverrides
from genai_cost.pricing.plan import PricePlan, exact_breakdown, scale
from genai_cost.pricing.resolve import (
    api_url_for_address,
    model_ref_candidates,
    provider_id_for_name,
    vendor_prefix,
)
from genai_cost.usage import TokenUsage

_log = logging.getLogger(__name__)

_NS_PER_DAY = 86_400 * 1_000_000_000
_MAX_MEMO = 4096  # distinct (provider, model) spellings: bounded against unbounded model strings


class _Resolution:
    """A (provider, model) match and the plans compiled for it."""

    __slots__ = (
        "provider",
        "model",
        "custom",
        "factor",
        "source",
        "price_model",
        "price_provider",
        "plan",
        "plans",
        "_tod",
    )

    def __init__(
        self,
        provider: Any = None,
        model: Any = None,
        custom: CustomPrice | None = None,
        factor: float = 1.0,
    ) -> None:
        self.provider = provider
        self.model = model
        self.custom = custom
        self.factor = factor
        # None: the catalog's own source string; set when a discount changes the price.
        self.source: str | None = None
        self.price_model = custom.model if custom else model.id
        self.price_provider = custom.provider if custom else provider.id
        # A model with one unconditional price gets its plan compiled once, here.
        self.plan: PricePlan | None = None
        self.plans: dict[tuple[Any, ...], PricePlan] = {}
        self._tod = False
        if model is not None:
            prices = model.prices
            if isinstance(prices, list):
                from genai_prices.types import TimeOfDateConstraint

                self._tod = any(isinstance(c.constraint, TimeOfDateConstraint) for c in prices)
            else:
                self.plan = PricePlan(prices)

    def plan_for(self, start_time_ns: int | None, context: tuple[tuple[str, str], ...]) -> PricePlan:
        if self.plan is not None and not context:
            return self.plan
        # Historic prices change by day (StartDate) or by time of day (off-peak); key the memo
        # by whatever granularity this model's constraints need.
        if start_time_ns is None:
            start_time_ns = time.time_ns()
        when_key = start_time_ns if self._tod else start_time_ns // _NS_PER_DAY
        key = (when_key, context)
        plan = self.plans.get(key)
        if plan is None:
            timestamp = datetime.fromtimestamp(start_time_ns / 1e9, UTC)
            model_price = self.model.get_prices(timestamp, dict(context) if context else None)
            plan = PricePlan(model_price)
            if not self._tod:  # a time-of-day key is unique per call: do not grow the memo
                if len(self.plans) >= _MAX_MEMO:
                    self.plans.clear()
                self.plans[key] = plan
        return plan


class PriceCatalog:
    """Prices calls. Thread-safe; one per process is enough (``genai_cost.pricing.catalog()``)."""

    def __init__(self, overrides: PriceOverrides | None = None) -> None:
        self.overrides = overrides or PriceOverrides()
        self._snapshot: Any = None
        self._source = "genai-prices"
        self._load_lock = threading.Lock()
        self._loader: threading.Thread | None = None
        self._resolutions: dict[tuple[str | None, str | None, str], _Resolution | CostBreakdown] = {}
        # Whether any price is per GPU-hour: calls then note their endpoint's busy time; when
        # none is, that costs the call path one attribute read.
        self.has_time_prices = any(c.is_time_based for c in self.overrides.custom_models)

    # -- data loading ----------------------------------------------------------------------
    def warm_up(self) -> None:
        """Start loading price data in the background (idempotent, returns at once)."""
        with self._load_lock:
            if self._snapshot is not None or self._loader is not None:
                return
            self._loader = threading.Thread(target=self._load, name="genai-cost-price-loader", daemon=True)
            self._loader.start()

    def _load(self) -> None:
        try:
            from importlib.metadata import version

            from genai_prices import data_snapshot
            from genai_prices.units import _get_registry

            snapshot = data_snapshot.get_snapshot()
            _get_registry()
            self._source = f"genai-prices@{version('genai-prices')}"
            self._snapshot = snapshot
        except Exception:  # never let a data problem take the host down
            _log.exception("genai-cost: loading price data failed; calls will be reported unpriced")
            self._snapshot = False

    def snapshot(self) -> Any:
        """The genai-prices snapshot, waiting (once) for the background load."""
        snapshot = self._snapshot
        if snapshot is None:
            self.warm_up()
            loader = self._loader
            if loader is not None:
                loader.join()
            snapshot = self._snapshot
        return snapshot

    @property
    def source(self) -> str:
        return self._source

    # -- resolution ------------------------------------------------------------------------
    def resolve(
        self, model: str, provider_name: str | None = None, server_address: str | None = None
    ) -> _Resolution | CostBreakdown:
        """Match a model as spans name it; a ``CostBreakdown`` result means "cannot price"."""
        key = (provider_name, server_address, model)
        found = self._resolutions.get(key)
        if found is None:
            found = self._resolve_uncached(model, provider_name, server_address)
            if len(self._resolutions) >= _MAX_MEMO:
                self._resolutions.clear()
            self._resolutions[key] = found
        return found

    def _resolve_uncached(
        self, model: str, provider_name: str | None, server_address: str | None
    ) -> _Resolution | CostBreakdown:
        provider_id = provider_id_for_name(provider_name)
        wanted = self.overrides.resolve_alias(model)
        custom = self.overrides.custom_price(provider_id, wanted) or self.overrides.custom_price(provider_id, model)
        if custom is not None:
            return _Resolution(custom=custom)
        snapshot = self.snapshot()
        if not snapshot:
            return CostBreakdown.unpriced(Status.UNKNOWN_MODEL, "price data could not be loaded")
        api_url = api_url_for_address(server_address)
        attempts: list[tuple[str | None, str | None]] = []
        if provider_id:
            attempts.append((provider_id, None))
        if api_url:
            attempts.append((None, api_url))
        if vendor := vendor_prefix(wanted):
            attempts.append((provider_id_for_name(vendor), None))
        if not attempts:
            attempts.append((None, None))  # genai-prices guesses the provider from the model name
        for ref in model_ref_candidates(wanted):
            for pid, url in attempts:
                try:
                    provider, model_info = snapshot.find_provider_model(ref, None, pid, url)
                except LookupError:
                    continue
                factor = self.overrides.discount_factor(provider.id, wanted, model_info.id)
                resolution = _Resolution(provider=provider, model=model_info, factor=factor)
                if factor != 1.0:
                    resolution.source = f"{self._source} discount={round((1 - factor) * 100, 4)}%"
                return resolution
        where = f" from provider {provider_name!r}" if provider_name else ""
        return CostBreakdown.unpriced(
            Status.UNKNOWN_MODEL,
            f"no price for model {model!r}{where}; add it under pricing.custom_models or pricing.aliases",
        )

    # -- pricing ---------------------------------------------------------------------------
    def price(
        self,
        model: str | None,
        usage: TokenUsage | None,
        *,
        provider_name: str | None = None,
        server_address: str | None = None,
        start_time_ns: int | None = None,
        duration_s: float | None = None,
        price_context: Mapping[str, str] | None = None,
    ) -> CostBreakdown:
        """Price one call. Never raises for bad input: the status says what went wrong."""
        if not model:
            return _NO_MODEL
        if usage is None and not self.has_time_prices:
            # Nothing billed by tokens was reported (a request the provider rejected, such as an
            # Azure content-filter 400): that is the status, whether or not the model is known --
            # an unknown deployment name must not turn a failed call into an "unknown model".
            return _NO_USAGE
        resolution = self._resolutions.get((provider_name, server_address, model))
        if resolution is None:
            resolution = self.resolve(model, provider_name, server_address)
        if usage is None and (isinstance(resolution, CostBreakdown) or not _is_time_priced(resolution)):
            return _NO_USAGE
        if isinstance(resolution, CostBreakdown):
            if usage is not None and usage.rerank_searches:
                return _unpriced_searches(model, usage.rerank_searches)
            return resolution
        if usage is None:  # a GPU-hour price needs no tokens
            usage = _EMPTY_USAGE
        custom = resolution.custom
        if usage.rerank_searches and not _prices_searches(resolution):
            return _unpriced_searches(model, usage.rerank_searches)
        if custom is not None:
            if custom.is_time_based:
                return _time_priced(custom, resolution.price_provider, usage, duration_s)
            return CostBreakdown.priced(
                custom.amounts(usage, duration_s),
                currency=custom.currency,
                price_model=custom.model,
                price_provider=resolution.price_provider,
                source="override",
            )
        try:
            plan = resolution.plan
            if plan is None or price_context:
                if not price_context:
                    context: tuple[tuple[str, str], ...] = ()
                elif len(price_context) == 1:  # the usual {"service_tier": ...}: nothing to sort
                    context = tuple(price_context.items())
                else:
                    context = tuple(sorted(price_context.items()))
                plan = resolution.plan_for(start_time_ns, context)
            if (
                usage.input_audio_tokens
                or usage.output_audio_tokens
                or usage.input_image_tokens
                or usage.output_image_tokens
                or usage.input_video_tokens
                or usage.output_video_tokens
                or usage.cache_audio_read_tokens
            ):
                amounts = exact_breakdown(plan.model_price, usage)
            else:
                amounts = plan.amounts(usage)
        except ValueError as exc:  # genai-prices rejected the usage shape
            return CostBreakdown.unpriced(Status.INVALID_USAGE, str(exc))
        if resolution.factor != 1.0:
            amounts = scale(amounts, resolution.factor)
        i, o, cr, cw, t, s = amounts
        return CostBreakdown(
            Status.PRICED,
            i + o + cr + cw + t,
            i,
            o,
            cr,
            cw,
            t,
            s,
            "USD",
            resolution.price_model,
            resolution.price_provider,
            resolution.source or self._source,
        )

    def busy_clock(
        self, model: str | None, provider_name: str | None, server_address: str | None, server_port: int | None
    ) -> BusyClock | None:
        """The busy-time clock of the self-hosted endpoint serving ``model``, when its price is per
        GPU-hour (``None`` otherwise, at once when no price is). One clock per (endpoint, price):
        the calls that share the GPUs share their cost."""
        if not self.has_time_prices or not model:
            return None
        resolution = self.resolve(model, provider_name, server_address)
        custom = getattr(resolution, "custom", None)
        if custom is None or not custom.is_time_based:
            return None
        return busy_clock((server_address, server_port, custom.provider, custom.model))

    def known_models(self) -> list[tuple[str, str, str | None]]:
        """(provider id, model id, name) for everything priced, overrides first."""
        rows: list[tuple[str, str, str | None]] = [
            (c.provider or "*", c.model, "override") for c in self.overrides.custom_models
        ]
        snapshot = self.snapshot()
        for provider in snapshot.providers if snapshot else ():
            rows.extend((provider.id, m.id, m.name) for m in provider.models)
        return rows

    def context_values(self, key: str) -> list[str]:
        """Every value the catalog has a price variant for under request-context ``key``
        (``service_tier`` -> ``default``, ``flex``, ``priority`` ...), sorted."""
        snapshot = self.snapshot()
        values = {
            variant.when[key]
            for provider in (snapshot.providers if snapshot else ())
            for model in provider.models
            for variant in model.price_variants or ()
            if key in variant.when
        }
        return sorted(values)


def _prices_searches(resolution: _Resolution) -> bool:
    """Whether this price knows what a search unit costs (a GPU-hour price covers everything)."""
    custom = resolution.custom
    if custom is not None:
        return custom.is_time_based or custom.per_search_unit is not None
    if resolution.plan is not None:
        return resolution.plan.model_price.rerank_searches_kcount is not None
    # Prices that change over time: any of the model's price periods with a search price.
    prices = resolution.model.prices
    return any(getattr(c.prices, "rerank_searches_kcount", None) is not None for c in prices)


def _unpriced_searches(model: str, searches: int) -> CostBreakdown:
    return CostBreakdown.unpriced(
        Status.UNKNOWN_MODEL,
        f"{searches} search unit(s) billed, and no per-search-unit price is known for {model!r}; "
        "add per_search_unit under pricing.custom_models",
    )


def _is_time_priced(resolution: _Resolution) -> bool:
    return resolution.custom is not None and resolution.custom.is_time_based


def _time_priced(
    custom: CustomPrice, price_provider: str | None, usage: TokenUsage, busy_s: float | None
) -> CostBreakdown:
    """A GPU-hour price applied to the call's share of its endpoint's busy time (``busy_time``):
    an estimate, since the tokens do not set the price -- and said so, never a silent 0."""
    if busy_s is None:
        return CostBreakdown.unpriced(
            Status.NO_USAGE,
            f"{custom.model!r} is priced per GPU-hour and this call's busy time is not known; "
            "price it from a traced call, or give it a per-token price (input_per_mtok)",
        )
    gpus = f"{custom.gpus:g} GPU{'s' if custom.gpus != 1 else ''}"
    return CostBreakdown.priced(
        custom.amounts(usage, busy_s),
        currency=custom.currency,
        price_model=custom.model,
        price_provider=price_provider,
        source="override",
        status=Status.ESTIMATED,
        detail=(
            f"{custom.per_gpu_hour:g} {custom.currency}/GPU-hour x {gpus} x {busy_s:.6f} s: "
            "the call's share of its endpoint's busy time"
        ),
    )


_NO_MODEL = CostBreakdown.unpriced(Status.UNKNOWN_MODEL, "the span names no model")
_NO_USAGE = CostBreakdown.unpriced(Status.NO_USAGE, "the response carried no token usage")
_EMPTY_USAGE = TokenUsage()
