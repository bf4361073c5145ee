"""Generate an OpenTelemetry Collector ``transform`` processor that prices GenAI spans in OTTL.

For users who cannot run Python at the collector tier: ``genai-cost collector-config`` turns the
prices our ``PriceCatalog`` holds for a chosen list of models into OTTL statements, so the Go
Collector itself sets ``genai_cost.*`` on spans. It is a snapshot, not the engine: prices are
frozen at generation time, only the first price tier is known, there is no de-duplication or
trace roll-up (collector/README.md lists every limit). The gateway is the full implementation.

The rates are not re-derived from genai-prices' data here: they are read back from the catalog
itself by pricing unit usages (one token of each kind), so overrides, discounts and genai-prices'
own decomposition of cached and reasoning tokens carry over unchanged. Model matching mirrors
genai-prices: its match clauses become RE2 regexes, and a model only claims a name that no
earlier model of the same provider claims (genai-prices takes the first match).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Any

from genai_cost import attributes as attr
from genai_cost import plausibility, span_reader
from genai_cost.pricing import CostBreakdown, PriceCatalog
from genai_cost.pricing.resolve import _PROVIDER_IDS, provider_id_for_name
from genai_cost.usage import TokenUsage

DEFAULT_PROCESSOR_NAME = "transform/genai_cost"

# Token counts, as (cache key, span attributes in the span reader's order: the first present
# wins). Reading the reader's own key lists keeps the OTTL reading usage as the gateway does.
_TOKEN_SOURCES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("in", span_reader._INPUT_KEYS),
    ("out", span_reader._OUTPUT_KEYS),
    ("cr", span_reader._CACHE_READ_KEYS),
    ("cw", span_reader._CACHE_WRITE_KEYS),
    ("rs", span_reader._REASONING_KEYS),
    ("cw5m", (attr.ANTHROPIC_CACHE_WRITE_5M,)),
    ("cw1h", (attr.ANTHROPIC_CACHE_WRITE_1H,)),
)
TOKEN_KEYS = tuple(key for key, _ in _TOKEN_SOURCES)

# Cost parts, as (cache key, span attribute, always written): zero optional parts are left off,
# as the SDK does.
_PARTS: tuple[tuple[str, str, bool], ...] = (
    ("c_in", attr.COST_INPUT, True),
    ("c_out", attr.COST_OUTPUT, True),
    ("c_cr", attr.COST_CACHE_READ, False),
    ("c_cw", attr.COST_CACHE_WRITE, False),
    ("c_tools", attr.COST_TOOLS, False),
)
_SAVINGS_KEY = "c_savings"
PART_KEYS = tuple(key for key, _, _ in _PARTS)

_PRICED_KEY = "^m[0-9]+$"  # cache["k"] of a span that matched a model and may be priced


# How spans name a model: alternatives of conjunctions of RE2 regexes ("!" first: must not match).
Match = tuple[tuple[str, ...], ...]


class CollectorConfigError(ValueError):
    """A model that cannot be priced by OTTL statements (the message says why)."""


@dataclass(frozen=True, slots=True)
class ModelRates:
    """One model's per-token rates as the catalog prices them, and how spans name it."""

    provider_id: str
    model_id: str
    price_model: str
    price_provider: str | None
    currency: str
    source: str
    # cost part -> (constant, (token cache key, rate) ...); parts follow PART_KEYS
    parts: tuple[tuple[float, tuple[tuple[str, float], ...]], ...]
    savings_per_cache_read: float
    model_match: Match
    shadow_match: Match  # names an earlier model of the provider claims first (genai-prices' order)
    provider_regex: str
    tier_start: int | None  # input sizes above it have other prices: left unpriced here


def _clean(value: float) -> float:
    # The rates are differences of prices of one-token calls; 12 significant digits drop the
    # float noise a per-request fee leaves in them (prices have far fewer digits than that).
    return float(f"{value:.12g}")


def _amounts(cost: CostBreakdown, what: str) -> tuple[float, ...]:
    if cost.amount is None:
        raise CollectorConfigError(f"{what}: {cost.status}: {cost.detail}")
    return (cost.input, cost.output, cost.cache_read, cost.cache_write, cost.tools, cost.savings)


def _minus(a: Sequence[float], b: Sequence[float]) -> tuple[float, ...]:
    return tuple(x - y for x, y in zip(a, b, strict=True))


def _read_rates(
    catalog: PriceCatalog, model: str, provider_id: str | None
) -> tuple[CostBreakdown, list[tuple[float, dict[str, float]]], float]:
    """Per-part constants and per-token rates, read back from the catalog with unit usages."""

    def price(**counts: int) -> tuple[float, ...]:
        return _amounts(catalog.price(model, TokenUsage(**counts), provider_name=provider_id), model)

    zero = price()
    one_in = price(input_tokens=1)
    one_out = price(output_tokens=1)
    one_write = price(input_tokens=1, cache_write_tokens=1)
    per_token = {
        "in": _minus(one_in, zero),
        "out": _minus(one_out, zero),
        "cr": _minus(price(input_tokens=1, cache_read_tokens=1), one_in),
        "cw": _minus(one_write, one_in),
        "rs": _minus(price(output_tokens=1, reasoning_tokens=1), one_out),
        "cw5m": _minus(price(input_tokens=1, cache_write_tokens=1, cache_write_5m_tokens=1), one_write),
        "cw1h": _minus(price(input_tokens=1, cache_write_tokens=1, cache_write_1h_tokens=1), one_write),
    }
    parts = [
        (_clean(zero[index]), {key: _clean(rates[index]) for key, rates in per_token.items() if _clean(rates[index])})
        for index in range(len(PART_KEYS))
    ]
    sample = catalog.price(model, TokenUsage(input_tokens=1), provider_name=provider_id)
    return sample, parts, _clean(per_token["cr"][5])


# --- model names: genai-prices match clauses as RE2 -------------------------------------------


def _literal(text: str) -> str:
    """``text`` as an RE2 pattern without backslashes (they would need escaping again in OTTL)."""
    out = []
    for char in text:
        if char.isalnum() or char in "-_:@/ ,=":
            out.append(char)
        elif char in "]\\^":
            raise CollectorConfigError(f"model name {text!r}: character {char!r} cannot be matched")
        else:
            out.append(f"[{char}]")
    return "".join(out)


def _glob(pattern: str) -> str:
    """A pricing-override glob (``ft:gpt-4o-mini:acme:*``) as an anchored RE2 pattern."""
    return "^" + "".join({"*": ".*", "?": "."}.get(char) or _literal(char) for char in pattern) + "$"


def _clause_dnf(clause: Any) -> list[list[str]]:
    """A genai-prices match clause as alternatives of conjunctions of (case-insensitive) RE2 regexes.

    RE2 has no intersection, so an ``and`` clause becomes several ``IsMatch`` calls joined by ``and``.
    """
    from genai_prices import types as gp

    if isinstance(clause, gp.ClauseEquals):
        return [[f"^{_literal(clause.equals)}$"]]
    if isinstance(clause, gp.ClauseStartsWith):
        return [[f"^{_literal(clause.starts_with)}"]]
    if isinstance(clause, gp.ClauseEndsWith):
        return [[f"{_literal(clause.ends_with)}$"]]
    if isinstance(clause, gp.ClauseContains):
        return [[_literal(clause.contains)]]
    if isinstance(clause, gp.ClauseRegex):
        if negative := _NEGATIVE_LOOKAHEAD.match(clause.regex):
            # "^(?!X)" (genai-prices' way to exclude a family) is "not IsMatch(^(?:X))" in OTTL.
            return [[f"!(?-i:^(?:{negative.group(1)}))"]]
        if any(construct in clause.regex for construct in ("(?<", "(?=", "(?!", "(?P=")):
            raise CollectorConfigError(f"genai-prices regex {clause.regex!r} uses a construct RE2 lacks")
        return [[f"(?-i:{clause.regex})"]]  # genai-prices matches its regexes case-sensitively
    if isinstance(clause, gp.ClauseOr):
        return [conj for child in clause.or_ for conj in _clause_dnf(child)]
    if isinstance(clause, gp.ClauseAnd):
        product: list[list[str]] = [[]]
        for child in clause.and_:
            product = [left + right for left in product for right in _clause_dnf(child)]
        return product
    raise CollectorConfigError(f"genai-prices match clause {type(clause).__name__} has no regex form")


_NEGATIVE_LOOKAHEAD = re.compile(r"^\^\(\?!(.*)\)$")


def _match(dnf: Iterable[Sequence[str]]) -> Match:
    return tuple(dict.fromkeys(tuple(dict.fromkeys(conj)) for conj in dnf if conj))


def match_expression(target: str, match: Match) -> str:
    """OTTL condition true when ``target`` matches: single regexes merged into one ``IsMatch``."""
    singles = [conj[0] for conj in match if len(conj) == 1 and not conj[0].startswith("!")]
    parts = []
    if singles:
        parts.append(_is_match(target, "(?i)" + "|".join(f"(?:{r})" for r in singles)))
    for conj in match:
        if len(conj) > 1 or conj[0].startswith("!"):
            tests = [
                f"not {_is_match(target, r[1:])}" if r.startswith("!") else _is_match(target, f"(?i){r}") for r in conj
            ]
            parts.append("(" + " and ".join(tests) + ")")
    return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"


# --- selecting and reading models -------------------------------------------------------------


def select_models(catalog: PriceCatalog, patterns: Sequence[str], provider: str | None = None) -> list[tuple[str, str]]:
    """(provider id, model id) for every catalog model a pattern names (glob or exact, any case).

    A pattern may name its provider first, ``openai/gpt-4o*``; ``provider`` applies to the others.
    """
    return [pair for pairs in _select(catalog, patterns, provider).values() for pair in pairs]


def _select(catalog: PriceCatalog, patterns: Sequence[str], provider: str | None) -> dict[str, list[tuple[str, str]]]:
    known = catalog.known_models()
    provider_ids = {pid for pid, _, _ in known}
    chosen: dict[tuple[str, str], None] = {}
    by_pattern: dict[str, list[tuple[str, str]]] = {}
    for pattern in patterns:
        wanted_provider = provider_id_for_name(provider)
        model_pattern = pattern.lower()
        head, sep, rest = model_pattern.partition("/")
        if sep and provider_id_for_name(head) in provider_ids:
            wanted_provider, model_pattern = provider_id_for_name(head), rest
        hits = [
            (pid, model)
            for pid, model, _ in known
            if (wanted_provider is None or pid == wanted_provider)
            and (model.lower() == model_pattern or fnmatchcase(model.lower(), model_pattern))
            and (pid, model) not in chosen
        ]
        if not hits and not any(
            (wanted_provider is None or pid == wanted_provider) and fnmatchcase(model.lower(), model_pattern)
            for pid, model, _ in known
        ):
            where = f" from provider {wanted_provider!r}" if wanted_provider else ""
            raise CollectorConfigError(f"no priced model matches {pattern!r}{where} (see `genai-cost models`)")
        chosen.update(dict.fromkeys(hits))
        by_pattern[pattern] = hits
    return by_pattern


def read_models(
    catalog: PriceCatalog, patterns: Sequence[str], provider: str | None = None
) -> tuple[list[ModelRates], list[str]]:
    """The models the patterns name, read for OTTL, and why any a glob matched were left out.

    A model a pattern names exactly must be readable; one a glob sweeps up may be skipped (the
    catalog lists fine-tune families and time-of-day prices no table can hold).
    """
    models: list[ModelRates] = []
    skipped: list[str] = []
    for pattern, pairs in _select(catalog, patterns, provider).items():
        exact = not any(char in pattern for char in "*?[")
        for pid, model in pairs:
            try:
                models.append(read_model(catalog, pid, model))
            except CollectorConfigError as exc:
                if exact:
                    raise
                skipped.append(str(exc))
        if exact or any(m.model_id in {model for _, model in pairs} for m in models):
            continue
        raise CollectorConfigError(f"no model {pattern!r} matches can be priced in OTTL: {'; '.join(skipped)}")
    return models, skipped


def _provider_names(provider_id: str) -> list[str]:
    names = {provider_id, *(name for name, pid in _PROVIDER_IDS.items() if pid == provider_id)}
    return sorted(names)


def read_model(catalog: PriceCatalog, provider_id: str, model_id: str) -> ModelRates:
    """The rates and name patterns of one catalog model; ``CollectorConfigError`` if OTTL cannot price it."""
    what = f"{provider_id}/{model_id}"
    resolution = catalog.resolve(model_id, provider_id)
    if isinstance(resolution, CostBreakdown):
        raise CollectorConfigError(f"{what}: {resolution.detail}")
    custom = resolution.custom
    if custom is not None and custom.is_time_based:
        raise CollectorConfigError(f"{what}: a GPU-hour price depends on call duration; use the gateway")
    tier_start = None
    if custom is None:
        from genai_prices.types import TieredPrices, TimeOfDateConstraint

        prices = resolution.model.prices
        if isinstance(prices, list) and any(isinstance(c.constraint, TimeOfDateConstraint) for c in prices):
            raise CollectorConfigError(f"{what}: the price depends on the time of day; use the gateway")
        plan = resolution.plan or resolution.plan_for(None, ())
        starts = [
            tier.start
            for value in vars(plan.model_price).values()
            if isinstance(value, TieredPrices)
            for tier in value.tiers
        ]
        tier_start = min(starts) if starts else None
    sample, parts, savings = _read_rates(catalog, model_id, provider_id)

    own = [[f"^{_literal(name)}$"] for name, target in catalog.overrides.aliases.items() if target == model_id]
    earlier: list[list[str]] = []
    if custom is None:
        own += [[f"^{_literal(model_id)}$"], *_clause_dnf(resolution.model.match)]
        for other in resolution.provider.models:
            if other.id == resolution.model.id:
                break
            earlier += _clause_dnf(other.match)
        # A span without a provider is priced by model name alone when the catalog would guess
        # this provider for it; otherwise the provider must name this one.
        guess = catalog.price(model_id, TokenUsage(input_tokens=1))
        names = [_literal(n) for n in _provider_names(provider_id)]
        if guess.amount is not None and guess.price_provider == sample.price_provider:
            names.insert(0, "")
        provider_regex = "(?i)^(?:" + "|".join(names) + ")$"
    else:
        # A custom price matches its glob, from its provider or (none named) from any.
        own.append([_glob(custom.model)])
        if custom.provider and not any(char in custom.provider for char in "*?["):
            provider_regex = "(?i)^(?:" + "|".join(_literal(n) for n in _provider_names(custom.provider)) + ")$"
        else:
            provider_regex = ".*" if not custom.provider else "(?i)" + _glob(custom.provider)
    return ModelRates(
        provider_id=provider_id,
        model_id=model_id,
        price_model=sample.price_model or model_id,
        price_provider=sample.price_provider,
        currency=sample.currency,
        source=sample.source or catalog.source,
        parts=tuple((const, tuple(rates.items())) for const, rates in parts),
        savings_per_cache_read=savings,
        model_match=_match(own),
        shadow_match=_match(earlier),
        provider_regex=provider_regex,
        tier_start=tier_start,
    )


# --- OTTL text ----------------------------------------------------------------------------------


def ottl_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ottl_float(value: float) -> str:
    """A float literal for OTTL, ``0.0000025`` rather than ``2.5e-06``: OTTL reads both, and plain
    decimals read like a price list. Round-trips to ``value`` exactly."""
    text = format(Decimal(repr(abs(value))), "f")
    if "." not in text:
        text += ".0"
    return f"-{text}" if value < 0 else text


def _attr(name: str) -> str:
    return f"attributes[{ottl_string(name)}]"


def _cache(key: str) -> str:
    return f"cache[{ottl_string(key)}]"


def linear_expression(constant: float, terms: Sequence[tuple[str, float]]) -> str:
    """``constant + cache[a] * rate ...`` with negative rates written as subtraction."""
    pieces: list[str] = [ottl_float(constant)] if constant else []
    for key, rate in terms:
        term = f"{_cache(key)} * {ottl_float(abs(rate))}"
        if not pieces:
            pieces.append(term if rate > 0 else f"0.0 - {term}")
        else:
            pieces.append(("+ " if rate > 0 else "- ") + term)
    return " ".join(pieces) if pieces else "0.0"


def _is_match(target: str, regex: str) -> str:
    return f"IsMatch({target}, {ottl_string(regex)})"


def pricing_statements(
    models: Sequence[ModelRates], amount_aliases: Sequence[str] = (attr.USAGE_COST_ALIAS,)
) -> list[str]:
    """The OTTL statements, in order, for one ``span`` context statement group."""
    s: list[str] = []
    # 1. Usage, as doubles (OTTL refuses int * float); absent counts are 0. A count the span reader
    # would refuse (a bool, a fraction, a string of anything but digits) marks the usage invalid.
    for key, names in _TOKEN_SOURCES:
        s.append(f"set({_cache(key)}, 0.0)")
        for index in reversed(range(len(names))):
            chosen = " and ".join([f"{_attr(n)} == nil" for n in names[:index]] + [f"{_attr(names[index])} != nil"])
            s.append(f"set({_cache(key)}, Double({_attr(names[index])})) where {chosen}")
            value = _attr(names[index])
            integer = (
                f"(IsInt({value}) or (IsDouble({value}) and Double(Int({value})) == {value})"
                f' or (IsString({value}) and IsMatch({value}, "^[0-9]+$")))'
            )
            s.append(f"set({_cache('bad')}, true) where {chosen} and not {integer}")
    for name in (*span_reader._INPUT_KEYS, *span_reader._OUTPUT_KEYS):
        s.append(f"set({_cache('usage')}, true) where {_attr(name)} != nil")
    # 2. Which model: the response model when present (the one that ran), else the request model.
    s.append(f'set({_cache("model")}, "")')
    s.append(f"set({_cache('model')}, {_attr(attr.REQUEST_MODEL)}) where {_attr(attr.REQUEST_MODEL)} != nil")
    s.append(f"set({_cache('model')}, {_attr(attr.RESPONSE_MODEL)}) where {_attr(attr.RESPONSE_MODEL)} != nil")
    s.append(f'set({_cache("provider")}, "")')
    s.append(f"set({_cache('provider')}, {_attr(attr.LEGACY_SYSTEM)}) where {_attr(attr.LEGACY_SYSTEM)} != nil")
    s.append(f"set({_cache('provider')}, {_attr(attr.PROVIDER_NAME)}) where {_attr(attr.PROVIDER_NAME)} != nil")
    for index, model in enumerate(models):
        conditions = [
            f"{_cache('k')} == nil",
            _is_match(_cache("provider"), model.provider_regex),
            match_expression(_cache("model"), model.model_match),
        ]
        if model.shadow_match:
            conditions.append("not " + match_expression(_cache("model"), model.shadow_match))
        s.append(f'set({_cache("k")}, "m{index}") where ' + " and ".join(conditions))
    # 3. Usage as the span reader settles it: cache counted beside input (Anthropic's own way, or
    # an impossible split) is added to it, and so is reasoning reported beside output.
    k = _cache("k")
    matched = _is_match(k, _PRICED_KEY)
    c = {key: _cache(key) for key in TOKEN_KEYS}
    beside = (
        f"{_attr(attr.USAGE_CACHE_READ_TOKENS)} == nil and {_attr(attr.USAGE_CACHE_WRITE_TOKENS)} == nil"
        f' and IsMatch({_cache("provider")}, "(?i)anthropic")'
    )
    s.append(f"set({c['in']}, {c['in']} + {c['cr']} + {c['cw']}) where {c['cr']} + {c['cw']} > {c['in']} or ({beside})")
    s.append(f"set({c['out']}, {c['out']} + {c['rs']}) where {c['rs']} > {c['out']}")
    s.append(f'set({k}, "no_usage") where {matched} and {_cache("usage")} == nil')
    negative = " or ".join(f"{c[key]} < 0.0" for key in TOKEN_KEYS)
    # plausibility.py's bound, as the span reader and TokenUsage apply it (at generation time).
    bound = ottl_float(float(plausibility.max_usage_tokens))
    absurd = " or ".join(f"{c[key]} > {bound}" for key in TOKEN_KEYS)
    # TokenUsage's own checks, on the settled counts.
    s.append(
        f'set({k}, "invalid_usage") where {matched} and ({_cache("bad")} == true or {negative} or {absurd}'
        f" or {c['cr']} + {c['cw']} > {c['in']} or {c['cw5m']} + {c['cw1h']} > {c['cw']} or {c['rs']} > {c['out']})"
    )
    for index, model in enumerate(models):
        if model.tier_start is not None:
            s.append(
                f'set({k}, "above_tier") where {k} == "m{index}" and {c["in"]} > {ottl_float(float(model.tier_start))}'
            )
    # 4. Price: each cost part is linear in the token counts.
    for key in (*PART_KEYS, _SAVINGS_KEY):
        s.append(f"set({_cache(key)}, 0.0)")
    for index, model in enumerate(models):
        this = f'where {k} == "m{index}"'
        for key, (constant, terms) in zip(PART_KEYS, model.parts, strict=True):
            if constant or terms:
                s.append(f"set({_cache(key)}, {linear_expression(constant, terms)}) {this}")
        if model.savings_per_cache_read:
            s.append(
                f"set({_cache(_SAVINGS_KEY)}, {linear_expression(0.0, [('cr', model.savings_per_cache_read)])}) {this}"
            )
        labels: tuple[tuple[str, str | None], ...] = (
            ("price_model", model.price_model),
            ("price_provider", model.price_provider),
            ("currency", model.currency),
            ("source", f"{model.source} (otelcol transform)"),
        )
        for label, text in labels:
            if text is not None:
                s.append(f"set({_cache(label)}, {ottl_string(text)}) {this}")
    # 5. Write the span attributes (DESIGN.md, "Span contract").
    priced = f"where {matched}"
    s.append(f"set({_attr(attr.COST_STATUS)}, {ottl_string(attr.Status.PRICED)}) {priced}")
    total = " + ".join(_cache(key) for key in PART_KEYS)
    s.append(f"set({_attr(attr.COST_AMOUNT)}, {total}) {priced}")
    for key, name, always in _PARTS:
        s.append(f"set({_attr(name)}, {_cache(key)}) {priced}" + ("" if always else f" and {_cache(key)} != 0.0"))
    s.append(f"set({_attr(attr.COST_SAVINGS)}, {_cache(_SAVINGS_KEY)}) {priced} and {_cache(_SAVINGS_KEY)} != 0.0")
    for key, name in (
        ("currency", attr.COST_CURRENCY),
        ("price_model", attr.PRICE_MODEL),
        ("price_provider", attr.PRICE_PROVIDER),
        ("source", attr.PRICE_SOURCE),
    ):
        s.append(f"set({_attr(name)}, {_cache(key)}) {priced} and {_cache(key)} != nil")
    for alias in amount_aliases:
        s.append(f"set({_attr(alias)}, {_attr(attr.COST_AMOUNT)}) {priced}")
    unpriced: tuple[tuple[str | None, str, str], ...] = (
        (None, attr.Status.UNKNOWN_MODEL, "no price for this model in the Collector's generated price table"),
        ("above_tier", attr.Status.UNKNOWN_MODEL, "input above the first price tier; the Collector table has no tiers"),
        ("no_usage", attr.Status.NO_USAGE, "the span carries no token usage"),
        (
            "invalid_usage",
            attr.Status.INVALID_USAGE,
            "token counts are negative, above the plausible bound, or parts exceed their totals",
        ),
    )
    for reason, status, detail in unpriced:
        when = f"where {k} == nil" if reason is None else f'where {k} == "{reason}"'
        s.append(f"set({_attr(attr.COST_STATUS)}, {ottl_string(status)}) {when}")
        s.append(f"set({_attr(attr.COST_STATUS_DETAIL)}, {ottl_string(detail)}) {when}")
    return s


def group_condition() -> str:
    """Spans the statements run on: unpriced billed GenAI calls, as ``span_reader.is_genai_call``
    decides (priced spans, duplicates included, are left alone)."""
    operation = _attr(attr.OPERATION_NAME)
    billed = " or ".join(f"{operation} == {ottl_string(op)}" for op in sorted(span_reader._BILLED_OPERATIONS))
    request_type = _attr(attr.LLM_REQUEST_TYPE)
    legacy = " or ".join(f"{request_type} == {ottl_string(t)}" for t in sorted(span_reader._LEGACY_REQUEST_TYPES))
    old_style = (
        f"{_attr(attr.LEGACY_SYSTEM)} != nil and "
        f"({_attr(attr.USAGE_INPUT_TOKENS)} != nil or {_attr(attr.LEGACY_PROMPT_TOKENS)} != nil)"
    )
    has_model = f"({_attr(attr.REQUEST_MODEL)} != nil or {_attr(attr.RESPONSE_MODEL)} != nil)"
    is_call = f"({billed} or ({operation} == nil and ({legacy} or ({old_style}))))"
    return f"{_attr(attr.COST_STATUS)} == nil and {has_model} and {is_call}"


def transform_processor(
    models: Sequence[ModelRates],
    *,
    name: str = DEFAULT_PROCESSOR_NAME,
    amount_aliases: Sequence[str] = (attr.USAGE_COST_ALIAS,),
) -> dict[str, Any]:
    """A Collector config fragment: ``processors: {name: {...}}``, to merge with ``--config``."""
    return {
        "processors": {
            name: {
                # One bad span must not stop the pipeline: a failing statement is logged and skipped.
                "error_mode": "ignore",
                "trace_statements": [
                    {
                        "context": "span",
                        "conditions": [group_condition()],
                        "statements": pricing_statements(models, amount_aliases),
                    }
                ],
            }
        }
    }


def render(models: Sequence[ModelRates], config: Mapping[str, Any], *, generated_at: datetime | None = None) -> str:
    import yaml

    when = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d")
    header = [
        "# Generated by `genai-cost collector-config` — do not edit; re-generate when prices change.",
        f"# Prices as of {when}; the gateway (`genai-cost gateway`) is the full engine: see collector/README.md.",
        "# Models:",
        *(
            f"#   {m.provider_id}/{m.model_id}"
            + (f" (first {m.tier_start} input tokens; larger calls left unpriced)" if m.tier_start else "")
            for m in models
        ),
    ]
    body = yaml.safe_dump(dict(config), sort_keys=False, width=100_000, allow_unicode=True)
    return "\n".join(header) + "\n" + body


_IDENT = re.compile(r"^[a-z][a-z0-9_]*(/[A-Za-z0-9_.-]+)?$")


def check_processor_name(name: str) -> str:
    if not name.startswith("transform") or not _IDENT.match(name):
        raise CollectorConfigError(f"processor name {name!r} must be 'transform' or 'transform/<name>'")
    return name
