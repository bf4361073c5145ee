"""collector/: every config parses and hangs together, and every metric a rule or panel queries
is one something in the stack exports, under the name Prometheus will give it.

No Docker engine or otelcol binary here, so the checks are static: Collector configs merged the
way ``otelcol --config a --config b`` merges them, then checked for what the Collector refuses at
start (unknown component types, undefined or unused components, connectors not bridging two
pipelines, missing required keys); compose services, ports, mounts and the gateway's command line
(parsed by our real CLI); Prometheus rules and Grafana panel queries parsed by a real PromQL parser.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from genai_cost import attributes as attr

COLLECTOR = Path(__file__).resolve().parents[2] / "collector"

# The Collector configs a user runs, as the file sets passed with --config.
COLLECTOR_CONFIGS = {
    "pass-through": ["otelcol.yaml"],
    "gateway": ["otelcol-gateway.yaml", "otelcol-spend-metrics.yaml"],
    "ottl": ["otelcol-ottl.yaml", "pricing.generated.yaml", "otelcol-spend-metrics.yaml"],
    "gateway-scaleout": ["otelcol-gateway-scaleout.yaml", "otelcol-spend-metrics.yaml"],
}

# Component types of otelcol-contrib we use, with the keys their config accepts (schema level).
# Connectors: (pipeline type they export from, pipeline type they receive into).
RECEIVERS = {"otlp": {"protocols"}}
PROCESSORS = {
    "batch": {"send_batch_size", "send_batch_max_size", "timeout"},
    "memory_limiter": {"check_interval", "limit_percentage", "spike_limit_percentage", "limit_mib", "spike_limit_mib"},
    "transform": {"error_mode", "trace_statements", "metric_statements", "log_statements"},
    "filter": {"error_mode", "traces", "metrics", "logs"},
    "deltatocumulative": {"max_stale", "max_streams"},
}
EXPORTERS = {
    "otlp": {"endpoint", "tls", "headers", "retry_on_failure", "sending_queue", "compression", "timeout"},
    "otlphttp": {"endpoint", "tls", "headers", "retry_on_failure", "sending_queue", "compression", "timeout"},
    "debug": {"verbosity"},
    "loadbalancing": {"routing_key", "protocol", "resolver", "timeout", "retry_on_failure", "sending_queue"},
    "prometheus": {
        "endpoint",
        "namespace",
        "const_labels",
        "translation_strategy",
        "metric_expiration",
        "send_timestamps",
        "enable_open_metrics",
    },
}
CONNECTORS = {
    "forward": ({"traces": "traces", "metrics": "metrics", "logs": "logs"}, set()),
    "spanmetrics": (
        {"traces": "metrics"},
        {"namespace", "histogram", "dimensions", "exclude_dimensions", "metrics_flush_interval", "metrics_expiration"},
    ),
    "signaltometrics": (
        {"traces": "metrics", "logs": "metrics", "metrics": "metrics"},
        {"spans", "logs", "datapoints"},
    ),
}
REQUIRED = {
    ("exporters", "otlp"): {"endpoint"},
    ("exporters", "otlphttp"): {"endpoint"},
    ("exporters", "prometheus"): {"endpoint"},
    ("exporters", "loadbalancing"): {"protocol", "resolver"},
}


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """confmap's merge: maps merge key by key, anything else (lists included) is replaced."""
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def collector_config(name: str) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for file in COLLECTOR_CONFIGS[name]:
        merged = deep_merge(merged, yaml.safe_load((COLLECTOR / file).read_text()))
    return merged


def check_collector_config(config: dict[str, Any]) -> list[str]:
    """What ``otelcol validate`` would refuse, as a list of problems (empty = fine)."""
    problems: list[str] = []
    known: dict[str, dict[str, Any]] = {
        "receivers": RECEIVERS,
        "processors": PROCESSORS,
        "exporters": EXPORTERS,
        "connectors": CONNECTORS,
    }
    unknown_sections = set(config) - {*known, "service", "extensions"}
    problems += [f"unknown top-level section {s!r}" for s in sorted(unknown_sections)]
    for section, types in known.items():
        for name, body in (config.get(section) or {}).items():
            kind = name.split("/", 1)[0]
            if kind not in types:
                problems.append(f"{section}.{name}: no {kind!r} component in otelcol-contrib (as used here)")
                continue
            allowed = types[kind][1] if section == "connectors" else types[kind]
            extra = set(body or {}) - allowed
            if extra:
                problems.append(f"{section}.{name}: unknown keys {sorted(extra)}")
            missing = REQUIRED.get((section, kind), set()) - set(body or {})
            if missing:
                problems.append(f"{section}.{name}: missing {sorted(missing)}")
    pipelines = (config.get("service") or {}).get("pipelines") or {}
    if not pipelines:
        problems.append("service.pipelines is empty")
    used: dict[str, set[str]] = {section: set() for section in known}
    connector_ends: dict[str, dict[str, set[str]]] = {}
    for pipeline, body in pipelines.items():
        signal = pipeline.split("/", 1)[0]
        if signal not in ("traces", "metrics", "logs"):
            problems.append(f"pipeline {pipeline!r}: not traces, metrics or logs")
        for role, section in (("receivers", "receivers"), ("processors", "processors"), ("exporters", "exporters")):
            names = body.get(role) or []
            if role != "processors" and not names:
                problems.append(f"pipeline {pipeline}: no {role}")
            for name in names:
                if role != "processors" and name in (config.get("connectors") or {}):
                    used["connectors"].add(name)
                    connector_ends.setdefault(name, {"exporters": set(), "receivers": set()})[role].add(signal)
                elif name in (config.get(section) or {}):
                    used[section].add(name)
                else:
                    problems.append(f"pipeline {pipeline}: {role[:-1]} {name!r} is not defined")
        for name in body.get("processors") or []:
            processor = (config.get("processors") or {}).get(name) or {}
            statements_for = {"trace_statements": "traces", "metric_statements": "metrics", "log_statements": "logs"}
            for key, wanted in statements_for.items():
                if key in processor and signal != wanted:
                    problems.append(f"pipeline {pipeline}: {name} has {key} but the pipeline carries {signal}")
    for section in known:
        for name in set(config.get(section) or {}) - used[section]:
            problems.append(f"{section}.{name} is defined but no pipeline uses it")
    for name, ends in connector_ends.items():
        routes = CONNECTORS[name.split("/", 1)[0]][0]
        if not ends["exporters"] or not ends["receivers"]:
            problems.append(f"connector {name} must be an exporter in one pipeline and a receiver in another")
        for source in ends["exporters"]:
            if source not in routes or routes[source] not in ends["receivers"]:
                problems.append(f"connector {name} cannot take {source} to {sorted(ends['receivers'])}")
    return problems


@pytest.mark.parametrize("name", list(COLLECTOR_CONFIGS))
def test_collector_configs_are_complete(name: str) -> None:
    assert check_collector_config(collector_config(name)) == []


def test_the_config_check_catches_broken_configs() -> None:
    config = collector_config("gateway")
    broken = deep_merge(
        config, {"service": {"pipelines": {"traces/in": {"receivers": ["otlp"], "exporters": ["otlp/nowhere"]}}}}
    )
    problems = check_collector_config(broken)
    assert any("'otlp/nowhere' is not defined" in p for p in problems)
    assert any("otlphttp/genai_cost_gateway is defined but no pipeline uses it" in p for p in problems)
    typo = deep_merge(config, {"connectors": {"spanmetric": {}}})
    assert any("no 'spanmetric' component" in p for p in check_collector_config(typo))
    one_sided = deep_merge(
        config, {"service": {"pipelines": {"metrics": {"receivers": ["otlp"], "exporters": ["prometheus"]}}}}
    )
    assert any("connector spanmetrics" in p for p in check_collector_config(one_sided))


def test_the_gateway_config_routes_through_the_gateway_and_back() -> None:
    config = collector_config("gateway")
    pipelines = config["service"]["pipelines"]
    gateway_port = _port(config["exporters"]["otlphttp/genai_cost_gateway"]["endpoint"])
    assert gateway_port == 4318
    priced_port = _port(config["receivers"]["otlp/priced"]["protocols"]["http"]["endpoint"])
    compose = _compose()
    gateway_command = compose["services"]["genai-cost-gateway"]["command"]
    assert f"--downstream=http://otelcol:{priced_port}" in gateway_command
    assert "otlp/backend" in pipelines["traces/priced"]["exporters"]
    assert "otlp/backend" not in pipelines["traces/in"]["exporters"]  # unpriced spans never reach the backend


def test_the_ottl_config_prices_before_exporting() -> None:
    config = collector_config("ottl")
    (pipeline,) = [p for n, p in config["service"]["pipelines"].items() if n == "traces/in"]
    assert "transform/genai_cost" in pipeline["processors"]
    assert pipeline["processors"].index("transform/genai_cost") < pipeline["processors"].index("batch")


# --- compose ------------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return yaml.safe_load((COLLECTOR / "compose.yaml").read_text())


def _with_env_defaults(value: str) -> str:
    """``${env:NAME:-default}`` as the Collector expands it when NAME is unset."""
    return re.sub(r"\$\{env:\w+:-([^}]*)\}", r"\1", value)


def _port(endpoint: str) -> int:
    found = re.search(r":(\d+)(?:/|$)", _with_env_defaults(endpoint))
    assert found, endpoint
    return int(found.group(1))


def test_compose_services_are_wired() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"otelcol", "genai-cost-gateway", "jaeger", "prometheus", "grafana", "otelcol-ottl"} <= set(services)
    host_ports: list[str] = []
    for name, service in services.items():
        assert "image" in service or "build" in service, name
        if "image" in service:
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", service["image"]), f"{name}: pin an image tag"
        for dependency in service.get("depends_on", []):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for mapping in service.get("ports", []):
            assert re.fullmatch(r"\d+:\d+", mapping), f"{name}: port {mapping!r}"
            host_ports.append(mapping.split(":")[0])
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (COLLECTOR / source).exists(), f"{name}: mounts missing {source}"
            else:
                assert source in compose.get("volumes", {}), f"{name}: undeclared volume {source}"
    assert len(host_ports) == len(set(host_ports)), "two services publish the same host port"
    # Each Collector's --config files are the ones mounted into it.
    for name in ("otelcol", "otelcol-ottl"):
        service = services[name]
        mounted = {v.split(":")[1]: v.split(":")[0] for v in service["volumes"]}
        files = [arg.split("=", 1)[1] for arg in service["command"] if arg.startswith("--config=")]
        assert files and all(f in mounted for f in files), name
        sources = [Path(mounted[f]).name for f in files]
        assert sources in COLLECTOR_CONFIGS.values(), f"{name} runs {sources}, which no test checks"


def test_the_gateway_command_line_is_one_our_cli_accepts() -> None:
    from genai_cost.cli import build_parser

    compose = _compose()
    args = build_parser().parse_args(compose["services"]["genai-cost-gateway"]["command"])
    assert args.command == "gateway" and args.host == "0.0.0.0" and args.http_port == 4318
    dockerfile = (COLLECTOR / "gateway.Dockerfile").read_text()
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M).group(1))  # type: ignore[union-attr]
    assert build_parser().parse_args(cmd).command == "gateway"
    build = compose["services"]["genai-cost-gateway"]["build"]
    context = (COLLECTOR / build["context"]).resolve()
    assert (context / build["dockerfile"]).exists()
    for copied in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M):
        for path in shlex.split(copied):
            assert (context / path).exists(), f"gateway.Dockerfile copies missing {path}"


def test_prometheus_scrapes_what_the_stack_serves() -> None:
    compose = _compose()
    prometheus = yaml.safe_load((COLLECTOR / "prometheus" / "prometheus.yml").read_text())
    mounts = {v.split(":")[1]: v.split(":")[0] for v in compose["services"]["prometheus"]["volumes"] if ":" in v}
    for rule_file in prometheus["rule_files"]:
        assert rule_file in mounts, f"{rule_file} is not mounted into prometheus"
    exporter_port = _port(collector_config("gateway")["exporters"]["prometheus"]["endpoint"])
    serving = {"otelcol": {exporter_port}, "otelcol-ottl": {exporter_port}, "genai-cost-gateway": {4318}}
    for job in prometheus["scrape_configs"]:
        for target in job["static_configs"][0]["targets"]:
            host, port = target.rsplit(":", 1)
            assert int(port) in serving.get(host, set()), f"{job['job_name']} scrapes {target}, which serves nothing"


def test_grafana_provisioning_matches_the_dashboard() -> None:
    datasource = yaml.safe_load((COLLECTOR / "grafana/provisioning/datasources/prometheus.yml").read_text())
    uids = {d["uid"] for d in datasource["datasources"]}
    provider = yaml.safe_load((COLLECTOR / "grafana/provisioning/dashboards/genai-cost.yml").read_text())
    grafana = _compose()["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert provider["providers"][0]["options"]["path"] in mounts
    for panel in _dashboard()["panels"]:
        assert panel["datasource"]["uid"] in uids, panel["title"]


# --- PromQL: rules and panels -------------------------------------------------------------------


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((COLLECTOR / "prometheus" / "genai-cost.rules.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _dashboard() -> dict[str, Any]:
    return json.loads((COLLECTOR / "grafana" / "dashboards" / "genai-cost.json").read_text())


_GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__range": "7d", "$__interval": "1m", "$project": ".*"}


def _without_grafana_variables(expr: str) -> str:
    for name, value in _GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def _queries() -> Iterator[tuple[str, str]]:
    for rule in _rules():
        yield rule.get("alert") or rule["record"], rule["expr"]
    for panel in _dashboard()["panels"]:
        for target in panel["targets"]:
            yield panel["title"], _without_grafana_variables(target["expr"])
    for variable in _dashboard()["templating"]["list"]:
        found = re.fullmatch(r"label_values\((\w+), (\w+)\)", variable["query"]["query"])
        assert found, variable
        yield f"variable {variable['name']}", found.group(1)


def test_rules_are_complete() -> None:
    rules = _rules()
    assert {r.get("alert") for r in rules} >= {
        "GenAIBudgetExhausted",
        "GenAIBudgetRunningOut",
        "GenAISpendAnomaly",
        "GenAIUnpricedCalls",
    }
    for rule in rules:
        assert ("alert" in rule) != ("record" in rule), rule
        if "alert" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"]
        else:
            assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule["record"]


def _output_labels(expr: str) -> set[str] | None:
    """Labels an alert's expression keeps when its outermost aggregation says (``by``); None if open."""
    node = promql_parser.parse(expr)
    while isinstance(node, promql_parser.BinaryExpr | promql_parser.ParenExpr):
        node = node.lhs if isinstance(node, promql_parser.BinaryExpr) else node.expr
    modifier = node.modifier if isinstance(node, promql_parser.AggregateExpr) else None
    if modifier is not None and modifier.type == promql_parser.AggModifierType.By:
        return set(modifier.labels)
    return None


def test_alert_annotations_use_labels_the_expression_keeps() -> None:
    recorded = {r["record"]: r["expr"] for r in _rules() if "record" in r}
    checked = 0
    for rule in _rules():
        if "alert" not in rule:
            continue
        used = set(re.findall(r"\$labels\.(\w+)", " ".join(rule["annotations"].values())))
        expr = rule["expr"]
        head = promql_parser.parse(expr)
        while isinstance(head, promql_parser.BinaryExpr):
            head = head.lhs
        if isinstance(head, promql_parser.VectorSelector) and head.name in recorded:
            expr = recorded[head.name]  # an alert on a recording rule keeps that rule's labels
        kept = _output_labels(expr)
        if kept is not None:
            assert used <= kept, f"{rule['alert']} annotates with {used - kept}, which `by` drops"
            checked += 1
    assert checked >= 3


def test_dashboard_has_the_panels_asked_for() -> None:
    dashboard = _dashboard()
    titles = {p["title"] for p in dashboard["panels"]}
    assert {
        "Daily cost by project",
        "Top 10 features by spend",
        "Cost per request by model",
        "This 30 days vs the 30 before",
        "Unpriced calls by model and reason",
    } <= titles
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["type"] in ("stat", "timeseries", "bargauge", "table", "gauge", "barchart"), panel["title"]
        assert panel["targets"], panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids))
        assert all(t["expr"].strip() for t in panel["targets"])


@pytest.mark.parametrize(("where", "expr"), list(_queries()))
def test_queries_parse(where: str, expr: str) -> None:
    promql_parser.parse(expr)


def test_the_parser_rejects_broken_promql() -> None:
    for broken in ("sum(rate(x[5m])", "rate(x[5q])", "x >", "sum by (a) (x) offset"):
        with pytest.raises(ValueError):
            promql_parser.parse(broken)


# --- metric names: what is queried is what is exported -----------------------------------------

_UNITS = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "By": "bytes", "KiBy": "kibibytes", "1": ""}


def prometheus_name(name: str, unit: str, kind: str) -> str:
    """The Collector's Prometheus exporter naming (UnderscoreEscapingWithSuffixes): dots and other
    characters become ``_``, a UCUM unit its Prometheus word, ``{...}`` units are dropped, other units
    appended as written, and monotonic sums get ``_total``."""
    out = re.sub(r"_+", "_", re.sub(r"[^a-zA-Z0-9_:]", "_", name)).strip("_")
    word = "" if unit.startswith("{") else _UNITS.get(unit, re.sub(r"[^a-zA-Z0-9]", "", unit))
    if word and not out.endswith(f"_{word}"):
        out += f"_{word}"
    if kind == "counter":
        out += "_total"
    return out


def test_prometheus_naming_follows_the_documented_examples() -> None:
    # The translator's own documented cases (pkg/translator/prometheus README).
    assert prometheus_name("system.filesystem.usage", "By", "gauge") == "system_filesystem_usage_bytes"
    assert prometheus_name("system.network.dropped", "{packets}", "gauge") == "system_network_dropped"
    assert prometheus_name("system.network.dropped", "packets", "gauge") == "system_network_dropped_packets"
    assert prometheus_name("http.server.request.duration", "s", "histogram") == "http_server_request_duration_seconds"


def _series(name: str, kind: str) -> set[str]:
    return {name + suffix for suffix in ("_bucket", "_sum", "_count")} if kind == "histogram" else {name}


def _sdk_metrics() -> set[str]:
    """Names the SDK's instruments get, read from real instruments after real recordings."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from genai_cost.metrics import CostMetrics
    from genai_cost.pricing import CostBreakdown
    from genai_cost.usage import TokenUsage

    reader = InMemoryMetricReader()
    recorder = CostMetrics(MeterProvider(metric_readers=[reader]), deferred=False)
    span = {attr.PROVIDER_NAME: "openai", attr.REQUEST_MODEL: "gpt-4o"}
    recorder.record_all(CostBreakdown("priced", 0.5, 0.5), span, TokenUsage(10, 2), 0.2, 0.05)
    recorder.record_cost(CostBreakdown.unpriced("unknown_model"), span)
    names: set[str] = set()
    collected = reader.get_metrics_data()
    assert collected is not None
    for resource in collected.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                data = type(metric.data).__name__
                kind = {"Histogram": "histogram", "Gauge": "gauge"}.get(data) or (
                    "counter" if getattr(metric.data, "is_monotonic", False) else "gauge"
                )
                names |= _series(prometheus_name(metric.name, metric.unit or "", kind), kind)
    assert prometheus_name(attr.METRIC_COST, "USD", "histogram") + "_sum" in names
    return names


def _gateway_metrics() -> set[str]:
    """The gateway serves its own /metrics: take the names from the text it serves."""
    from genai_cost.gateway.config import GatewayConfig
    from genai_cost.gateway.service import Gateway
    from genai_cost.pricing import PriceCatalog

    gateway = Gateway(GatewayConfig(http_port=0, grpc_port=None), price_catalog=PriceCatalog())
    text = gateway.stats.prometheus_text()
    return set(re.findall(r"^# TYPE (\S+) ", text, re.M))


def _collector_metrics() -> set[str]:
    """What the spanmetrics and signaltometrics connectors emit, by their documented naming."""
    config = collector_config("gateway")
    names: set[str] = set()
    spanmetrics = config["connectors"]["spanmetrics"]
    namespace = spanmetrics.get("namespace", "traces.span.metrics")
    names |= _series(prometheus_name(f"{namespace}.calls", "", "counter"), "counter")
    unit = spanmetrics.get("histogram", {}).get("unit", "ms")
    names |= _series(prometheus_name(f"{namespace}.duration", unit, "histogram"), "histogram")
    monotonic = " ".join(
        s
        for group in config["processors"]["transform/monotonic_spend"]["metric_statements"]
        for s in group["statements"]
    )
    for metric in config["connectors"]["signaltometrics"]["spans"]:
        assert "sum" in metric, "only sums are used here"
        # signaltometrics emits its sums without the monotonic flag; the transform sets it.
        kind = "counter" if f'metric.name == "{metric["name"]}"' in monotonic else "gauge"
        names |= _series(prometheus_name(metric["name"], metric.get("unit", ""), kind), kind)
    return names


def _exported() -> set[str]:
    budget = prometheus_name(attr.METRIC_BUDGET_REMAINING, "USD", "gauge")
    recorded = {rule["record"] for rule in _rules() if "record" in rule}
    return _sdk_metrics() | _gateway_metrics() | _collector_metrics() | {budget} | recorded


def _metric_names(expr: str) -> set[str]:
    """The metric names an expression selects, from the parser's syntax tree."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            return
        for field in ("lhs", "rhs", "expr", "param", "vector_selector", "args"):
            child = getattr(node, field, None)
            for item in child if isinstance(child, list) else [child]:
                if item is not None and type(item).__module__.startswith("promql_parser"):
                    walk(item)

    walk(promql_parser.parse(expr))
    return names


def test_every_queried_metric_is_exported() -> None:
    exported = _exported()
    assert "genai_cost_spend_USD_total" in exported
    assert "genai_cost_budget_remaining_USD" in exported
    queried = {name: where for where, expr in _queries() for name in _metric_names(expr)}
    assert queried, "no metric names found in the queries"
    missing = {name: where for name, where in queried.items() if name not in exported}
    assert not missing, f"queried but exported by nothing: {missing}"


def test_metric_name_check_can_fail() -> None:
    selected = _metric_names(
        'sum by (genai_cost_project) (rate(genai_cost_spend_usd_total{a="x"}[5m] offset 1d)) / on() y'
    )
    assert selected == {"genai_cost_spend_usd_total", "y"}
    assert "genai_cost_spend_usd_total" not in _exported()  # the unit keeps its case: USD
