"""The ``genai-cost`` command: price look-ups, the priced model list, config checks.

genai-cost price gpt-4o --input 12000 --output 800 --cache-read 8000
genai-cost models 'claude*sonnet*' --provider anthropic
genai-cost check-config genai-cost.yaml
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from typing import TextIO

from genai_cost.attributes import Status
from genai_cost.config import ConfigError, load_file, load_settings, price_catalog
from genai_cost.pricing import PriceCatalog
from genai_cost.usage import InvalidUsage, TokenUsage


def _catalog(args: argparse.Namespace) -> PriceCatalog:
    return price_catalog(args.config)


def _money(value: float, currency: str) -> str:
    digits = f"{value:.10f}".rstrip("0").rstrip(".") if value else "0"
    return f"{digits} {currency}"


def _model_label(provider: str | None, model: str | None) -> str:
    # A custom price may name no provider: show the model alone rather than "None/model".
    return f"{provider}/{model}" if provider else str(model)


def _did_you_mean(catalog: PriceCatalog, model: str, provider: str | None) -> str:
    names = {m for p, m, _ in catalog.known_models() if not provider or p in (provider, "*")}
    close = difflib.get_close_matches(model.lower(), sorted(names), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else ""


def cmd_price(args: argparse.Namespace, out: TextIO) -> int:
    try:
        usage = TokenUsage(
            input_tokens=args.input,
            output_tokens=args.output,
            cache_read_tokens=args.cache_read,
            cache_write_tokens=args.cache_write,
            reasoning_tokens=args.reasoning,
            web_searches=args.web_searches,
            rerank_searches=args.searches,
        )
    except InvalidUsage as exc:
        print(f"genai-cost: invalid usage: {exc}", file=sys.stderr)
        return 2
    when = args.at or datetime.now(UTC)
    catalog = _catalog(args)
    if args.service_tier:
        tiers = catalog.context_values("service_tier")
        if args.service_tier not in tiers:
            print(
                f"genai-cost: unknown service tier {args.service_tier!r}; the price data knows: {', '.join(tiers)}",
                file=sys.stderr,
            )
            return 2
    cost = catalog.price(
        args.model,
        usage,
        provider_name=args.provider,
        start_time_ns=int(when.timestamp() * 1e9),
        duration_s=args.duration,
        price_context={"service_tier": args.service_tier} if args.service_tier else None,
    )
    if cost.amount is None:
        hint = _did_you_mean(catalog, args.model, args.provider) if cost.status == Status.UNKNOWN_MODEL else ""
        if cost.status == Status.NO_USAGE:  # the usage is given here: only a GPU-hour price lacks something
            hint = "; pass the call's duration with --duration SECONDS"
        print(f"genai-cost: {cost.status}: {cost.detail}{hint}", file=sys.stderr)
        return 1
    currency = cost.currency
    rows = [
        ("model", _model_label(cost.price_provider, cost.price_model)),
        ("source", cost.source or ""),
        ("input", _money(cost.input, currency)),
        ("cache read", _money(cost.cache_read, currency)),
        ("cache write", _money(cost.cache_write, currency)),
        ("output", _money(cost.output, currency)),
        ("tools", _money(cost.tools, currency)),
        ("total", _money(cost.amount, currency)),
        ("cache savings", _money(cost.savings, currency)),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}", file=out)
    return 0


def cmd_models(args: argparse.Namespace, out: TextIO) -> int:
    pattern = args.pattern.lower() if args.pattern else None
    count = 0
    for provider, model, name in _catalog(args).known_models():
        if args.provider and provider != args.provider:
            continue
        if pattern and not (fnmatchcase(model.lower(), pattern) or pattern in model.lower()):
            continue
        print(f"{provider:<16} {model:<48} {name or ''}", file=out)
        count += 1
    if count == 0:
        print("genai-cost: no priced model matches", file=sys.stderr)
        return 1
    return 0


def cmd_check_config(args: argparse.Namespace, out: TextIO) -> int:
    settings = load_file(args.file) if args.file else load_settings()
    print(
        f"{settings.source or 'environment'}: ok ({len(settings.overrides.custom_models)} custom models, "
        f"{len(settings.overrides.aliases)} aliases, {len(settings.overrides.discounts)} discounts)",
        file=out,
    )
    return 0


# "7d" / "12h" (also "7d ago", and "-7d" when written --at=-7d): that long before now.
_AGO = re.compile(r"-?(\d+)\s*([dh])(?:\s*ago)?")
_AT_FORMS = (
    "an ISO date or date-time (2026-11-30, 2026-11-30T14:00, 2026-11-30T14:00+01:00), today, yesterday, 7d or 12h (ago)"
)


def _timestamp(value: str) -> datetime:
    """``--at``: ISO date/date-time (UTC unless it says otherwise), ``today``, ``yesterday``, ``Nd``, ``Nh`` (ago)."""
    now = datetime.now(UTC)
    word = value.strip().lower()
    if word in ("now", "today"):
        return now
    if word == "yesterday":
        return now - timedelta(days=1)
    if ago := _AGO.fullmatch(word):
        amount, unit = int(ago.group(1)), ago.group(2)
        return now - (timedelta(days=amount) if unit == "d" else timedelta(hours=amount))
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"cannot read {value!r} as a time; use {_AT_FORMS}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from genai_cost.version import __version__

    try:
        prices = f"genai-prices {version('genai-prices')}"
    except PackageNotFoundError:
        prices = "genai-prices not installed"
    return f"genai-cost {__version__} (price data: {prices})"


def _accept_everywhere(parser: argparse.ArgumentParser, option: str, **kwargs: object) -> None:
    """Let every subcommand take ``option`` after its name too (``genai-cost models --config f``).

    ``default=SUPPRESS`` keeps a subcommand from overwriting the value given before it.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if not any(option in a.option_strings for a in sub._actions):
                    sub.add_argument(option, default=argparse.SUPPRESS, **kwargs)  # type: ignore[arg-type]
                _accept_everywhere(sub, option, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="genai-cost", description="Know, attribute and cap what your AI costs.")
    parser.add_argument("--config", help="config file (default: $GENAI_COST_CONFIG)")
    parser.add_argument("--version", action="version", version=_version())
    commands = parser.add_subparsers(dest="command", required=True)

    price = commands.add_parser("price", help="price one call and print the breakdown")
    price.add_argument("model")
    price.add_argument("--input", type=int, required=True, help="input tokens, including cached ones")
    price.add_argument("--output", type=int, default=0, help="output tokens, including reasoning")
    price.add_argument("--cache-read", type=int, default=0)
    price.add_argument("--cache-write", type=int, default=0)
    price.add_argument("--reasoning", type=int, default=0)
    price.add_argument("--web-searches", type=int, default=0)
    price.add_argument("--searches", type=int, default=0, help="rerank search units (Cohere rerank)")
    price.add_argument("--provider", help="provider (openai, anthropic, aws.bedrock, gcp.vertex_ai ...)")
    price.add_argument("--service-tier", help="service tier / variant (flex, priority ...; a wrong one lists them)")
    price.add_argument(
        "--at", type=_timestamp, help="price as of this time (historic prices): ISO date/time, yesterday, 7d (ago)"
    )
    price.add_argument(
        "--duration", type=float, metavar="SECONDS", help="the call's duration (for per_gpu_hour custom prices)"
    )
    price.set_defaults(run=cmd_price)

    models = commands.add_parser("models", help="list priced models")
    models.add_argument("pattern", nargs="?", help="substring or glob, e.g. 'gpt-4o*'")
    models.add_argument("--provider")
    models.set_defaults(run=cmd_models)

    check = commands.add_parser("check-config", help="validate a config file")
    check.add_argument("file", nargs="?")
    check.set_defaults(run=cmd_check_config)

    from genai_cost.gateway.command import add_command as add_gateway_command

    add_gateway_command(commands)

    from genai_cost.commands.budget import add_budget_commands

    add_budget_commands(commands)

    from genai_cost.gateway.collector_config import add_command as add_collector_config_command

    add_collector_config_command(commands)

    from genai_cost.commands.reports import add_commands as add_report_commands

    add_report_commands(commands)

    from genai_cost.commands.answers import add_commands as add_answer_commands

    add_answer_commands(commands)
    _accept_everywhere(parser, "--config", help="config file (default: $GENAI_COST_CONFIG)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args, sys.stdout))
    except ConfigError as exc:
        print(f"genai-cost: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader stopped early (`genai-cost models | head`): what it read is what it wanted.
        # Point stdout at /dev/null so the interpreter's final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
