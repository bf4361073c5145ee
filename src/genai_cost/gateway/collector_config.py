"""``genai-cost collector-config``: print a Collector ``transform`` processor that prices spans in OTTL.

genai-cost collector-config 'openai/gpt-4o*' anthropic/claude-sonnet-4-5 -o collector/pricing.generated.yaml
otelcol-contrib --config collector/otelcol-ottl.yaml --config collector/pricing.generated.yaml
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO


def add_command(commands: Any) -> None:
    parser = commands.add_parser(
        "collector-config",
        help="generate an OpenTelemetry Collector transform processor (OTTL) pricing the chosen models",
    )
    parser.add_argument("models", nargs="+", help="model ids or globs, optionally provider/model ('openai/gpt-4o*')")
    parser.add_argument("--provider", help="only this provider's models (for patterns without one)")
    parser.add_argument("--name", default=None, help="processor name (default: transform/genai_cost)")
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, out: TextIO) -> int:
    from genai_cost.config import price_catalog
    from genai_cost.gateway import ottl

    try:
        name = ottl.check_processor_name(args.name or ottl.DEFAULT_PROCESSOR_NAME)
        catalog = price_catalog(args.config)
        models, skipped = ottl.read_models(catalog, args.models, args.provider)
    except ottl.CollectorConfigError as exc:
        print(f"genai-cost: {exc}", file=sys.stderr)
        return 2
    for reason in skipped:
        print(f"genai-cost: left out {reason}", file=sys.stderr)
    text = ottl.render(models, ottl.transform_processor(models, name=name))
    if args.output:
        with open(args.output, "w", encoding="utf-8") as file:
            file.write(text)
        print(f"{args.output}: {len(models)} models, processor {name}", file=out)
    else:
        out.write(text)
    return 0
