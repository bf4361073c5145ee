"""FinOps FOCUS export: stored spend as FOCUS 1.2 cost-and-usage rows (CSV or Parquet).

FinOps tools (Finout, Vantage, Cloudability, the FinOps Foundation's validator) ingest FOCUS. One
row per UTC day, provider, model, token type and attribution: a SKU is a model and a token type
(``gpt-4o / input``, ``/ cached input``, ``/ cache write``, ``/ output``, ``/ tools``), priced
in ``PricingUnit`` ``Tokens``. Every column FOCUS 1.2 marks Mandatory is present with its type
(``MANDATORY_COLUMNS``), plus the recommended ones we know (``ServiceSubcategory`` "Generative AI",
``ChargeFrequency``, SKU ids, ``ConsumedQuantity``), ``Tags`` and our attribution in ``x_``
columns, as FOCUS's extension rules ask.

Money: ``BilledCost`` = ``EffectiveCost`` = ``ListCost`` = ``ContractedCost`` = what genai-cost
priced (configured discounts already applied; the store keeps no separate list price). The parts
of a call's amount sum to it; whatever a part does not explain (a span priced upstream with only
an amount) is a ``/ other`` row, so ``BilledCost`` always sums to the store's total. Unpriced
calls have no row: FOCUS has no "unknown", and a $0 row would claim they were free — the command
says how many were left out.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from genai_cost.reports.query import Group, totals

FOCUS_VERSION = "1.2"
SERVICE_CATEGORY = "AI and Machine Learning"
SERVICE_SUBCATEGORY = "Generative AI"
PRICING_UNIT = "Tokens"

# FOCUS 1.2's Mandatory columns and their FOCUS data types.
MANDATORY_COLUMNS: dict[str, str] = {
    "BilledCost": "Decimal",
    "BillingAccountId": "String",
    "BillingAccountName": "String",
    "BillingCurrency": "String",
    "BillingPeriodEnd": "DateTime",
    "BillingPeriodStart": "DateTime",
    "ChargeCategory": "String",
    "ChargeClass": "String",
    "ChargeDescription": "String",
    "ChargePeriodEnd": "DateTime",
    "ChargePeriodStart": "DateTime",
    "ContractedCost": "Decimal",
    "EffectiveCost": "Decimal",
    "InvoiceIssuerName": "String",
    "ListCost": "Decimal",
    "PricingQuantity": "Decimal",
    "PricingUnit": "String",
    "ProviderName": "String",
    "PublisherName": "String",
    "ServiceCategory": "String",
    "ServiceName": "String",
}
OPTIONAL_COLUMNS: dict[str, str] = {
    "ServiceSubcategory": "String",
    "ChargeFrequency": "String",
    "SkuId": "String",
    "SkuPriceId": "String",
    "ConsumedQuantity": "Decimal",
    "ConsumedUnit": "String",
    "Tags": "JSON",
}
ATTRIBUTION_COLUMNS: dict[str, str] = {
    "x_Project": "project",
    "x_Team": "team",
    "x_Feature": "feature",
    "x_Tenant": "tenant",
    "x_User": "user",
    "x_ApiKeyId": "key",
    "x_Service": "service",
    "x_Model": "model",
}
_EXTRA_COLUMNS = {"x_TokenType": "String", "x_Calls": "Integer", "x_CacheSavings": "Decimal"}

# Provider names (gen_ai.provider.name) as FinOps tools show them, and the service billed.
_PROVIDERS = {
    "openai": ("OpenAI", "OpenAI API"),
    "anthropic": ("Anthropic", "Claude API"),
    "aws.bedrock": ("Amazon Web Services", "Amazon Bedrock"),
    "gcp.gemini": ("Google", "Gemini API"),
    "gcp.vertex_ai": ("Google Cloud", "Vertex AI"),
    "gcp.gen_ai": ("Google", "Gemini API"),
    "google": ("Google", "Gemini API"),
    "azure.ai.openai": ("Microsoft", "Azure OpenAI"),
    "azure.ai.inference": ("Microsoft", "Azure AI Foundry"),
    "mistral_ai": ("Mistral AI", "Mistral API"),
    "groq": ("Groq", "GroqCloud"),
    "deepseek": ("DeepSeek", "DeepSeek API"),
    "x_ai": ("xAI", "xAI API"),
}
_DECIMAL_PLACES = Decimal("1e-15")


class FocusExportError(RuntimeError):
    pass


def _token_parts(group: Group) -> list[tuple[str, str, int | None, float | None]]:
    """(SKU suffix, description, tokens, cost) for each token type with a cost."""
    costs = group.costs
    uncached_input = group.input_tokens - group.cache_read_tokens - group.cache_write_tokens
    parts = [
        ("input", "input tokens", uncached_input, costs.get("input_cost")),
        ("cached-input", "cached input tokens (cache reads)", group.cache_read_tokens, costs.get("cache_read_cost")),
        ("cache-write", "cache write tokens", group.cache_write_tokens, costs.get("cache_write_cost")),
        ("output", "output tokens (including reasoning)", group.output_tokens, costs.get("output_cost")),
        ("tools", "tool use (web search and other server tools)", None, costs.get("tools_cost")),
    ]
    explained = sum(cost for _, _, _, cost in parts if cost)
    if group.amount is not None and abs(group.amount - explained) > 1e-12:
        parts.append(("other", "priced without a breakdown", None, group.amount - explained))
    return [part for part in parts if part[3]]


def _month(day: date) -> tuple[datetime, datetime]:
    start = datetime(day.year, day.month, 1, tzinfo=UTC)
    end = datetime(day.year + (day.month == 12), day.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def store_dimensions(store: Any, since: datetime | None, until: datetime | None) -> tuple[str, ...]:
    """The custom dimensions that become ``x_dim_`` columns: the embedded store has a column per
    dimension; ClickHouse's ``otel_traces`` is asked which occur in the period."""
    between = getattr(store, "dimensions_between", None)
    return tuple(between(since, until)) if between is not None else tuple(getattr(store, "dimensions", ()))


def focus_rows(
    store: Any,
    since: datetime | None = None,
    until: datetime | None = None,
    where: Mapping[str, str] | None = None,
    dimensions: tuple[str, ...] | None = None,
) -> tuple[list[dict[str, Any]], int]:
    """FOCUS rows (column -> Python value) and the number of unpriced calls left out;
    ``dimensions``: the ``x_dim_`` columns, when the caller has already asked the store."""
    if dimensions is None:
        dimensions = store_dimensions(store, since, until)
    keys = ["day", "provider", *ATTRIBUTION_COLUMNS.values(), *dimensions]
    rows: list[dict[str, Any]] = []
    unpriced = 0
    for group in totals(store, keys, since, until, where):
        unpriced += group.unpriced_calls
        if group.amount is None:
            continue
        k = group.keys
        provider = k["provider"] or "unknown"
        issuer, service = _PROVIDERS.get(provider, (provider, provider))
        day = date.fromisoformat(str(k["day"]))
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        period_start, period_end = _month(day)
        model = k["model"] or "unknown"
        tags = {name: k[key] for name, key in ATTRIBUTION_COLUMNS.items() if k[key] is not None}
        tags = {name[2:].lower(): value for name, value in tags.items()}
        tags.update({d: k[d] for d in dimensions if k[d] is not None})
        first = True
        for suffix, description, tokens, cost in _token_parts(group):
            sku = f"{provider}/{model}/{suffix}"
            row: dict[str, Any] = {
                "BilledCost": cost,
                "BillingAccountId": provider,
                "BillingAccountName": issuer,
                "BillingCurrency": group.currency or "USD",
                "BillingPeriodEnd": period_end,
                "BillingPeriodStart": period_start,
                "ChargeCategory": "Usage",
                "ChargeClass": None,
                "ChargeDescription": f"{model}: {description}",
                "ChargePeriodEnd": start + timedelta(days=1),
                "ChargePeriodStart": start,
                "ContractedCost": cost,
                "EffectiveCost": cost,
                "InvoiceIssuerName": issuer,
                "ListCost": cost,
                "PricingQuantity": tokens,
                "PricingUnit": PRICING_UNIT if tokens is not None else None,
                "ProviderName": issuer,
                "PublisherName": issuer,
                "ServiceCategory": SERVICE_CATEGORY,
                "ServiceName": service,
                "ServiceSubcategory": SERVICE_SUBCATEGORY,
                "ChargeFrequency": "Usage-Based",
                "SkuId": sku,
                "SkuPriceId": sku,
                "ConsumedQuantity": tokens,
                "ConsumedUnit": PRICING_UNIT if tokens is not None else None,
                "Tags": tags,
                **{name: k[key] for name, key in ATTRIBUTION_COLUMNS.items()},
                **{f"x_dim_{d}": k[d] for d in dimensions},
                "x_TokenType": suffix,
                # Calls and savings once per group (on its first SKU row), so both sum correctly.
                "x_Calls": group.priced_calls if first else 0,
                "x_CacheSavings": (group.savings or 0.0) if first else 0.0,
            }
            first = False
            rows.append(row)
    return rows, unpriced


def column_types(rows_dimensions: tuple[str, ...] = ()) -> dict[str, str]:
    return {
        **MANDATORY_COLUMNS,
        **OPTIONAL_COLUMNS,
        **dict.fromkeys(ATTRIBUTION_COLUMNS, "String"),
        **{f"x_dim_{d}": "String" for d in rows_dimensions},
        **_EXTRA_COLUMNS,
    }


def _csv_value(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if kind == "DateTime":
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "Decimal":
        return format(Decimal(repr(value)).quantize(_DECIMAL_PLACES).normalize(), "f")
    if kind == "JSON":
        return json.dumps(value, sort_keys=True)
    return str(value)


def _write_csv(path: Path, rows: list[dict[str, Any]], types: dict[str, str]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(types)
        for row in rows:
            writer.writerow([_csv_value(row.get(name), kind) for name, kind in types.items()])


def _write_parquet(path: Path, rows: list[dict[str, Any]], types: dict[str, str]) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise FocusExportError(
            "Parquet output needs pyarrow (the parquet extra: pip install pyarrow), or use .csv"
        ) from None
    arrow_types = {
        "Decimal": pa.decimal128(38, 15),
        "DateTime": pa.timestamp("us", tz="UTC"),
        "String": pa.string(),
        "JSON": pa.string(),
        "Integer": pa.int64(),
    }

    def convert(value: Any, kind: str) -> Any:
        if value is None:
            return None
        if kind == "Decimal":
            return Decimal(repr(value)).quantize(_DECIMAL_PLACES)
        if kind == "JSON":
            return json.dumps(value, sort_keys=True)
        return value

    schema = pa.schema([pa.field(name, arrow_types[kind]) for name, kind in types.items()])
    columns = {name: [convert(row.get(name), kind) for row in rows] for name, kind in types.items()}
    pq.write_table(pa.table(columns, schema=schema), path)


def export_focus(
    store: Any,
    output: str,
    since: datetime | None = None,
    until: datetime | None = None,
    where: Mapping[str, str] | None = None,
) -> tuple[int, int]:
    """Write FOCUS rows to ``output`` (``.csv`` or ``.parquet``); returns (rows, unpriced calls left out)."""
    path = Path(output)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise FocusExportError(f"--output {output}: name a .csv or .parquet file")
    dimensions = store_dimensions(store, since, until)  # one query on ClickHouse, not two
    rows, unpriced = focus_rows(store, since, until, where, dimensions)
    types = column_types(dimensions)
    try:
        if suffix == ".csv":
            _write_csv(path, rows, types)
        else:
            _write_parquet(path, rows, types)
    except OSError as exc:
        raise FocusExportError(f"--output {output}: {exc.strerror or exc}") from None
    return len(rows), unpriced
