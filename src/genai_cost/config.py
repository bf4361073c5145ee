"""Settings: ``GENAI_COST_*`` environment variables and the YAML file named by ``GENAI_COST_CONFIG``.

A bad file fails fast, naming the file, the key and the problem; an unknown key is an error
(a misspelt ``dicounts:`` silently ignored would mean wrong bills for months). Nothing here touches
the network.

File layout::

    attribution: {project: checkout, team: search}        # defaults for every call
    pricing:
      aliases: {my-gpt4o-deployment: gpt-4o}               # Azure deployment -> base model
      discounts: [{provider: openai, model: "gpt-4o*", percent: 15}]
      custom_models:
        - {model: "ft:gpt-4o-mini:acme:*", input_per_mtok: 0.3, output_per_mtok: 1.2}
        - {model: llama-3.1-70b, per_gpu_hour: 2.5, gpus: 4}
        - {model: rerank-v3.5, provider: cohere, per_search_unit: 0.002}   # per rerank search unit
    spans:
      amount_aliases: [gen_ai.usage.cost]                  # extra attributes carrying the amount
      max_open_traces: 10000                               # trace roll-up memory bound
      backends: [langfuse, phoenix, mlflow]                # what else spans carry (attributes.BACKENDS)
      duplicate_usage: move                                # a duplicate's usage: move (out of sight) | keep
      complete_off_call: true                              # end-of-call attributes built off the call (batch export)
    metrics:
      user_id: false                                       # user.id on cost metrics (cardinality!)
      prometheus_port: 9464                                # serve metrics for Prometheus (extra: prometheus)
    instrumentation:
      anthropic: {sdk_tracing: duplicate}                  # anthropic's own spans: duplicate | off
    budgets:
      ledger: sqlite:///var/lib/genai-cost/ledger.db       # memory | sqlite:///path | redis://host:6379/0
      fail_mode: open                                      # ledger unreachable: open (allow) | closed (block)
      timezone: Europe/Berlin                              # windows are calendar hours/days/months here
      policies:
        - {name: company, limit: 500, window: month}                      # block by default
        - {name: search, match: {team: search}, limit: 20, window: day,
           thresholds: [50, 80, 95], action: downgrade, downgrade_to: gpt-4o-mini}
        - {name: per-user, per: user, limit: 2, window: day, action: warn}
    store: {url: /var/lib/genai-cost/spend.duckdb, retention: 400d}   # one row per call (`genai-cost report`)
    dimensions: [prompt_version, experiment]               # cost_context(prompt_version="v3") -> report --by
    alerts:                                                # budget threshold crossings and blocks
      webhooks:
        - {url: "https://hooks.slack.com/services/T0/B0/x", format: slack}   # or format: json
        - {url: "https://ops.example.com/hook", timeout: 5, retries: 3, headers: {Authorization: "Bearer ..."}}
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from genai_cost.attributes import ATTRIBUTION_KEYS, BACKENDS, DEFAULT_BACKENDS, USAGE_COST_ALIAS
from genai_cost.budget.alerts import AlertSettings
from genai_cost.channels.webhook import InvalidWebhook, Webhook
from genai_cost.budget.ledger import url_problem
from genai_cost.errors import ConfigError  # re-exported: genai_cost.config.ConfigError
from genai_cost.budget.policy import (
    ACTIONS,
    SCOPE_DIMENSIONS,
    WINDOWS,
    BudgetPolicy,
    BudgetSettings,
    InvalidBudget,
    is_scope_dimension,
)
from genai_cost.pricing.overrides import CustomPrice, Discount, PriceOverrides

if TYPE_CHECKING:
    from genai_cost.channels.email import EmailChannel
    from genai_cost.pricing import PriceCatalog
    from genai_cost.reports.anomalies import AnomalySettings
    from genai_cost.reports.live import DigestSchedule

ENV_CONFIG_FILE = "GENAI_COST_CONFIG"


@dataclass(frozen=True)
class Settings:
    enabled: bool = True
    attribution: dict[str, str] = field(default_factory=dict)
    overrides: PriceOverrides = field(default_factory=PriceOverrides)
    amount_aliases: tuple[str, ...] = (USAGE_COST_ALIAS,)
    max_open_traces: int = 10_000
    metrics_user_id: bool = False
    alerts: AlertSettings = field(default_factory=AlertSettings)
    budgets: BudgetSettings = field(default_factory=BudgetSettings)
    # What becomes of anthropic's own spans while ours are on: "duplicate" (kept, no amount) or "off".
    anthropic_sdk_tracing: str = "duplicate"
    source: str | None = None  # the file the settings came from, for messages
    # Which backends' names priced spans also carry (attributes.BACKENDS), and what a duplicate
    # does with its usage ("move": under genai_cost.duplicate., so self-pricing backends skip it).
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    duplicate_usage: str = "move"
    # With batch exporters only, build our spans' end-of-call attributes (and price spans) on the
    # processor's thread instead of the caller's (docs/performance.md); GENAI_COST_COMPLETE_OFF_CALL.
    complete_off_call: bool = True
    # Serve the SDK's metrics for Prometheus on this port (opentelemetry-exporter-prometheus).
    prometheus_port: int | None = None
    store: str | None = None  # spend store written in process (path or URL); GENAI_COST_STORE
    store_retention: str | None = None  # e.g. "400d"; GENAI_COST_STORE_RETENTION
    anomalies: AnomalySettings | None = None  # the detectors' thresholds (None: their defaults)
    digests: DigestSchedule | None = None  # when the gateway sends digests (None: never)
    dimensions: tuple[str, ...] = ()  # custom attribution dimensions cost_context accepts; GENAI_COST_DIMENSIONS


# --- a tiny schema walker: each reader gets (value, where) and returns the parsed value ------

Reader = Callable[[Any, str], Any]


def _fail(where: str, problem: str) -> ConfigError:
    return ConfigError(f"{where}: {problem}")


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"expected a non-empty string, got {value!r}")
    return value


def _number(minimum: float = 0.0, maximum: float | None = None) -> Reader:
    def read(value: Any, where: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(where, f"expected a number, got {value!r}")
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise _fail(where, f"must be {bound}, got {value!r}")
        return float(value)

    return read


def _integer(minimum: int) -> Reader:
    def read(value: Any, where: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise _fail(where, f"expected an integer >= {minimum}, got {value!r}")
        return value

    return read


def _boolean(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, f"expected true or false, got {value!r}")
    return value


def _string_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _fail(where, f"expected a list of strings, got {value!r}")
    return tuple(_string(item, f"{where}[{i}]") for i, item in enumerate(value))


def _string_map(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _fail(where, f"expected a mapping of names to names, got {value!r}")
    return {_string(k, where): _string(v, f"{where}.{k}") for k, v in value.items()}


def _section(schema: Mapping[str, Reader], required: tuple[str, ...] = ()) -> Reader:
    def read(value: Any, where: str) -> dict[str, Any]:
        if value is None:
            value = {}
        if not isinstance(value, Mapping):
            raise _fail(where, f"expected a mapping, got {type(value).__name__}")
        unknown = [k for k in value if k not in schema]
        if unknown:
            key = f"{where}.{unknown[0]}" if where else str(unknown[0])
            raise _fail(key, f"unknown key; allowed: {', '.join(schema)}")
        for key in required:
            if key not in value:
                raise _fail(f"{where}.{key}" if where else key, "is required")
        return {k: schema[k](v, f"{where}.{k}" if where else str(k)) for k, v in value.items()}

    return read


def _list_of(item: Reader) -> Reader:
    def read(value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise _fail(where, f"expected a list, got {type(value).__name__}")
        return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]

    return read


def _custom_model(value: Any, where: str) -> CustomPrice:
    fields = _section(
        {
            "model": _string,
            "provider": _string,
            "input_per_mtok": _number(),
            "output_per_mtok": _number(),
            "cache_read_per_mtok": _number(),
            "cache_write_per_mtok": _number(),
            "per_gpu_hour": _number(),
            "gpus": _number(minimum=0.0),
            "currency": _string,
            "per_search_unit": _number(),
        },
        required=("model",),
    )(value, where)
    token_priced = any(k.endswith("_per_mtok") or k == "per_search_unit" for k in fields)
    if "per_gpu_hour" in fields and token_priced:
        raise _fail(where, "give either per-token prices (*_per_mtok) and per_search_unit, or per_gpu_hour, not both")
    if "per_gpu_hour" not in fields and not token_priced:
        raise _fail(where, "needs a price: input_per_mtok/output_per_mtok, per_search_unit, or per_gpu_hour")
    if "currency" in fields and (len(fields["currency"]) != 3 or not fields["currency"].isalpha()):
        raise _fail(f"{where}.currency", f"expected an ISO 4217 code such as USD, got {fields['currency']!r}")
    if "currency" in fields:
        fields["currency"] = fields["currency"].upper()
    return CustomPrice(**fields)


def _discount(value: Any, where: str) -> Discount:
    fields = _section({"provider": _string, "model": _string, "percent": _number(0.0, 100.0)}, required=("percent",))(
        value, where
    )
    return Discount(**fields)


def _webhook(value: Any, where: str) -> Webhook:
    fields = _section(
        {
            "url": _string,
            "format": _string,
            "timeout": _number(),
            "retries": _integer(0),
            "backoff": _number(),
            "headers": _string_map,
        },
        required=("url",),
    )(value, where)
    try:
        return Webhook(**fields)
    except InvalidWebhook as exc:
        raise _fail(f"{where}.{exc.key}", exc.problem) from None


def _email(value: Any, where: str) -> EmailChannel:
    from genai_cost.channels.email import InvalidEmail, channel_from_mapping

    try:
        return channel_from_mapping(value, where)
    except InvalidEmail as exc:
        raise _fail(f"{where}.{exc.key}", exc.problem) from None
    except TypeError as exc:  # a value of the wrong type for a field
        raise _fail(where, str(exc)) from None


def _anomalies(value: Any, where: str) -> AnomalySettings:
    from genai_cost.reports.anomalies import AnomalySettings, InvalidAnomalySettings

    if not isinstance(value, dict):
        raise _fail(where, "expected a mapping")
    try:
        return AnomalySettings.from_mapping(value)
    except InvalidAnomalySettings as exc:
        raise _fail(f"{where}.{exc.key}", exc.problem) from None


def _digests(value: Any, where: str) -> DigestSchedule:
    from genai_cost.reports.live import DigestSchedule, InvalidDigestSettings

    if not isinstance(value, dict):
        raise _fail(where, "expected a mapping with daily: 08:00 and/or weekly: monday 08:00")
    try:
        return DigestSchedule.from_mapping(value)
    except InvalidDigestSettings as exc:
        raise _fail(f"{where}.{exc.key}", exc.problem) from None


def _choice(*allowed: str) -> Reader:
    def read(value: Any, where: str) -> str:
        if value not in allowed:
            raise _fail(where, f"expected one of {', '.join(allowed)}, got {value!r}")
        return str(value)

    return read


def _scope_dimension(value: Any, where: str) -> str:
    text = _string(value, where)
    if not is_scope_dimension(text):
        raise _fail(where, f"expected one of {', '.join(SCOPE_DIMENSIONS)} or dim.<name>, got {text!r}")
    return text


def _scope_match(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise _fail(where, f"expected a mapping, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str) or not is_scope_dimension(key):
            raise _fail(f"{where}.{key}", f"unknown key; expected one of {', '.join(SCOPE_DIMENSIONS)}, dim.<name>")
    return {key: _string(item, f"{where}.{key}") for key, item in value.items()}


def _dimension_names(value: Any, where: str) -> tuple[str, ...]:
    from genai_cost.context import MAX_DIMENSIONS, dimension_problem

    names = _string_list(value, where)
    for name in names:
        if (problem := dimension_problem(name)) is not None:
            raise _fail(where, problem)
    if len(set(names)) > MAX_DIMENSIONS:
        raise _fail(where, f"at most {MAX_DIMENSIONS} custom dimensions (each is a store column), got {len(names)}")
    return names


_BUDGET_POLICY = _section(
    {
        "name": _string,
        "limit": _number(),
        "window": _choice(*WINDOWS),
        "match": _scope_match,
        "per": _scope_dimension,
        "thresholds": _list_of(_number(0.0, 100.0)),
        "action": _choice(*ACTIONS),
        "downgrade_to": _string,
        "timezone": _string,
        "currency": _string,
    },
    required=("name", "limit"),
)


def _budgets(value: Any, where: str) -> BudgetSettings:
    fields = _section(
        {
            "ledger": _string,
            "fail_mode": _choice("open", "closed"),
            "timeout": _number(0.001, 10.0),
            "timezone": _string,
            "default_max_output_tokens": _integer(1),
            "policies": _list_of(_BUDGET_POLICY),
        }
    )(value, where)
    zone = fields.pop("timezone", "UTC")
    policies = []
    for i, policy in enumerate(fields.pop("policies", [])):
        at = f"{where}.policies[{i}]"
        if "thresholds" in policy:
            policy["thresholds"] = tuple(policy["thresholds"])
        try:
            policies.append(BudgetPolicy(**{"timezone": zone, **policy}))
        except InvalidBudget as exc:
            raise _fail(f"{at}.{exc.key}", exc.problem) from None
    try:
        return BudgetSettings(policies=tuple(policies), **fields)
    except InvalidBudget as exc:
        key = f"{where}.policies" if exc.key == "name" else f"{where}.{exc.key}"
        raise _fail(key, exc.problem) from None


SDK_TRACING_MODES = ("duplicate", "off")


def _sdk_tracing(value: Any, where: str) -> str:
    # YAML 1.1 reads a bare `off` as false; that is what the user wrote.
    return "off" if value is False else _choice(*SDK_TRACING_MODES)(value, where)


def _backend_list(value: Any, where: str) -> tuple[str, ...]:
    names = _string_list(value, where)
    for i, name in enumerate(names):
        if name not in BACKENDS:
            raise _fail(f"{where}[{i}]", f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    return names


def _retention(value: Any, where: str) -> str:
    from genai_cost.store import parse_retention  # store/__init__ imports nothing heavy

    text = _string(value, where)
    try:
        parse_retention(text)
    except ValueError as exc:
        raise _fail(where, str(exc)) from None
    return text


_FILE_SCHEMA = _section(
    {
        "enabled": _boolean,
        "attribution": _section({key: _string for key in ATTRIBUTION_KEYS}),
        "pricing": _section(
            {
                "aliases": _string_map,
                "custom_models": _list_of(_custom_model),
                "discounts": _list_of(_discount),
            }
        ),
        "spans": _section(
            {
                "amount_aliases": _string_list,
                "max_open_traces": _integer(1),
                "backends": _backend_list,
                "duplicate_usage": _choice("move", "keep"),
                "complete_off_call": _boolean,
            }
        ),
        "metrics": _section({"user_id": _boolean, "prometheus_port": _integer(0)}),
        "budgets": _budgets,
        "alerts": _section(
            {
                "webhooks": _list_of(_webhook),
                "email": _email,
                "queue_size": _integer(1),
                "shutdown_timeout": _number(),
            }
        ),
        "anomalies": _anomalies,
        "digests": _digests,
        "instrumentation": _section({"anthropic": _section({"sdk_tracing": _sdk_tracing})}),
        "store": _section({"url": _string, "retention": _retention}),
        "dimensions": _dimension_names,
    }
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _env_bool(env: Mapping[str, str], name: str) -> bool | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"environment variable {name}: expected true or false, got {raw!r}")


def parse_settings(document: Any, source: str = "<config>") -> Settings:
    """Validate a parsed YAML document; errors read ``<source>: <key>: <problem>``."""
    try:
        data = _FILE_SCHEMA(document, "")
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    pricing = data.get("pricing", {})
    spans = data.get("spans", {})
    alerts = data.get("alerts", {})
    return Settings(
        enabled=data.get("enabled", True),
        attribution=data.get("attribution", {}),
        overrides=PriceOverrides(
            aliases=pricing.get("aliases", {}),
            custom_models=tuple(pricing.get("custom_models", ())),
            discounts=tuple(pricing.get("discounts", ())),
        ),
        amount_aliases=spans.get("amount_aliases", (USAGE_COST_ALIAS,)),
        max_open_traces=spans.get("max_open_traces", 10_000),
        metrics_user_id=data.get("metrics", {}).get("user_id", False),
        alerts=AlertSettings(**{**alerts, "webhooks": tuple(alerts.get("webhooks", ()))}),
        budgets=data.get("budgets", BudgetSettings()),
        anthropic_sdk_tracing=data.get("instrumentation", {}).get("anthropic", {}).get("sdk_tracing", "duplicate"),
        source=source,
        backends=spans.get("backends", DEFAULT_BACKENDS),
        duplicate_usage=spans.get("duplicate_usage", "move"),
        complete_off_call=spans.get("complete_off_call", True),
        prometheus_port=data.get("metrics", {}).get("prometheus_port"),
        store=data.get("store", {}).get("url"),
        store_retention=data.get("store", {}).get("retention"),
        anomalies=data.get("anomalies"),
        digests=data.get("digests"),
        dimensions=data.get("dimensions", ()),
    )


def load_file(path: str | os.PathLike[str]) -> Settings:
    import yaml  # deferred: only needed when a file is configured

    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the config file ({exc.strerror or exc})") from None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{file}: not valid YAML{at}: {problem}") from None
    return parse_settings(document, str(file))


def _budgets_from_env(env: Mapping[str, str], budgets: BudgetSettings) -> BudgetSettings:
    """``GENAI_COST_LEDGER`` and ``GENAI_COST_BUDGET_FAIL_MODE`` over the file's budgets section."""
    ledger = env.get("GENAI_COST_LEDGER", "").strip()
    fail_mode = env.get("GENAI_COST_BUDGET_FAIL_MODE", "").strip().lower()
    if fail_mode and fail_mode not in ("open", "closed"):
        raise ConfigError(
            f"environment variable GENAI_COST_BUDGET_FAIL_MODE: expected open or closed, got {fail_mode!r}"
        )
    if ledger and (problem := url_problem(ledger)) is not None:
        raise ConfigError(f"environment variable GENAI_COST_LEDGER: {problem}")
    if not ledger and not fail_mode:
        return budgets
    return replace(budgets, ledger=ledger or budgets.ledger, fail_mode=fail_mode or budgets.fail_mode)


def _sdk_tracing_from_env(env: Mapping[str, str], default: str) -> str:
    raw = env.get("GENAI_COST_ANTHROPIC_SDK_TRACING", "").strip().lower()
    if raw and raw not in SDK_TRACING_MODES:
        raise ConfigError(
            f"environment variable GENAI_COST_ANTHROPIC_SDK_TRACING: expected duplicate or off, got {raw!r}"
        )
    return raw or default


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``GENAI_COST_CONFIG`` (if set) with ``GENAI_COST_*`` variables on top."""
    env = os.environ if env is None else env
    path = env.get(ENV_CONFIG_FILE)
    settings = load_file(path) if path else Settings()
    attribution = dict(settings.attribution)
    for key in ATTRIBUTION_KEYS:
        value = env.get(f"GENAI_COST_{key.upper()}")
        if value:
            attribution[key] = value
    enabled = _env_bool(env, "GENAI_COST_ENABLED")
    user_id = _env_bool(env, "GENAI_COST_METRICS_USER_ID")
    off_call = _env_bool(env, "GENAI_COST_COMPLETE_OFF_CALL")
    aliases_raw = env.get("GENAI_COST_AMOUNT_ALIASES")
    aliases = (
        tuple(a.strip() for a in aliases_raw.split(",") if a.strip())
        if aliases_raw is not None
        else settings.amount_aliases
    )
    # Only what an environment variable can override is named: a field the file alone sets is
    # carried over by replace(), so a new setting cannot be dropped here by omission.
    return replace(
        settings,
        enabled=settings.enabled if enabled is None else enabled,
        attribution=attribution,
        amount_aliases=aliases,
        metrics_user_id=settings.metrics_user_id if user_id is None else user_id,
        complete_off_call=settings.complete_off_call if off_call is None else off_call,
        budgets=_budgets_from_env(env, settings.budgets),
        anthropic_sdk_tracing=_sdk_tracing_from_env(env, settings.anthropic_sdk_tracing),
        backends=_backends_from_env(env, settings.backends),
        prometheus_port=port_from_env(env, "GENAI_COST_PROMETHEUS_PORT", settings.prometheus_port),
        store=env.get("GENAI_COST_STORE", "").strip() or settings.store,
        store_retention=_retention_from_env(env, settings.store_retention),
        dimensions=_dimension_names(
            [name.strip() for name in env["GENAI_COST_DIMENSIONS"].split(",") if name.strip()],
            "environment variable GENAI_COST_DIMENSIONS",
        )
        if env.get("GENAI_COST_DIMENSIONS", "").strip()
        else settings.dimensions,
    )


def price_catalog(config_file: str | None = None) -> PriceCatalog:
    """The price catalog with the overrides of ``config_file`` (default: ``$GENAI_COST_CONFIG`` and
    the environment): what the CLI's price look-ups and the collector-config generator price with."""
    from genai_cost.pricing import PriceCatalog

    settings = load_file(config_file) if config_file else load_settings()
    return PriceCatalog(settings.overrides)


def _backends_from_env(env: Mapping[str, str], default: tuple[str, ...]) -> tuple[str, ...]:
    """``GENAI_COST_BACKENDS=phoenix,mlflow`` (empty: none) over the file's ``spans.backends``."""
    raw = env.get("GENAI_COST_BACKENDS")
    if raw is None:
        return default
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    for name in names:
        if name not in BACKENDS:
            raise ConfigError(
                f"environment variable GENAI_COST_BACKENDS: unknown backend {name!r}; known: {', '.join(BACKENDS)}"
            )
    return names


def port_from_env(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > 65535:
        raise ConfigError(f"environment variable {name}: expected a port number, got {raw!r}")
    return int(raw)


def _retention_from_env(env: Mapping[str, str], default: str | None) -> str | None:
    raw = env.get("GENAI_COST_STORE_RETENTION", "").strip()
    return _retention(raw, "environment variable GENAI_COST_STORE_RETENTION") if raw else default
