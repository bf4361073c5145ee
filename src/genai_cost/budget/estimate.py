"""The guard's pre-call estimate: input tokens counted offline, output at ``max_tokens``.

No tokenizer is downloaded or run (tiktoken fetches its vocabularies over the network). Instead
text is counted conservatively: one token per three UTF-8 bytes, rounded up, plus a few tokens of
framing per message. English BPE averages about four characters a token, so this overstates
English by about a third; CJK text (three bytes a character, about a token a character) comes out
close. Images and other binary parts count a fixed ``IMAGE_TOKENS`` rather than their base64
length. Overstating is the safe side: the reservation is released and replaced by the real cost
when the call returns.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from genai_cost.pricing import catalog
from genai_cost.usage import TokenUsage

BYTES_PER_TOKEN = 3
MESSAGE_OVERHEAD_TOKENS = 4
# OpenAI's high-detail 1024x1024 image is 765 tokens, Anthropic's ~1600 for a large image.
IMAGE_TOKENS = 1600
_BINARY_TYPES = frozenset(
    {"image_url", "input_image", "image", "input_audio", "audio", "file", "input_file", "document"}
)
_MAX_DEPTH = 12


def count_text_tokens(text: str) -> int:
    size = len(text) if text.isascii() else len(text.encode("utf-8"))
    return -(-size // BYTES_PER_TOKEN)


def count_input_tokens(value: Any) -> int:
    """A conservative token count of a request's input: strings, messages, content parts."""
    return _count(value, 0)


def _count(value: Any, depth: int) -> int:
    # Exact types first: request messages are plain dicts, lists and strs, and an
    # ``isinstance(value, Mapping)`` ABC check per node cost more than the counting itself.
    kind = type(value)
    if kind is str:
        if value.startswith("data:"):  # an inline file as a data URL
            return IMAGE_TOKENS
        # count_text_tokens, inline: one frame less per text node
        return -(-(len(value) if value.isascii() else len(value.encode("utf-8"))) // BYTES_PER_TOKEN)
    if depth > _MAX_DEPTH:
        return _count_other(value, depth) if isinstance(value, str) else 0
    if kind is dict:
        return _count_mapping(value, depth)
    if kind is list or kind is tuple:
        total = 0
        depth += 1
        for item in value:
            # A list of message dicts, inline (what _count does for a dict within the depth bound).
            if type(item) is dict and depth <= _MAX_DEPTH:
                total += _count_mapping(item, depth)
            else:
                total += _count(item, depth)
        return total
    if value is None or kind is bool or kind is int or kind is float:
        return 0
    return _count_other(value, depth)


def _count_mapping(value: Mapping[str, Any], depth: int) -> int:
    if value.get("type") in _BINARY_TYPES:
        return IMAGE_TOKENS
    total = MESSAGE_OVERHEAD_TOKENS
    depth += 1
    for item in value.values():
        # A message's text, inline (what _count does for a str): most values of a message are.
        if type(item) is str:
            if item.startswith("data:"):
                total += IMAGE_TOKENS
            else:
                total += -(-(len(item) if item.isascii() else len(item.encode("utf-8"))) // BYTES_PER_TOKEN)
        else:
            total += _count(item, depth)
    return total


def _count_other(value: Any, depth: int) -> int:
    """Anything but a plain str, dict, list, tuple, number or None: subclasses, other mappings
    and sequences, SDK model objects."""
    if isinstance(value, str):
        text = str(value)
        return IMAGE_TOKENS if text.startswith("data:") else count_text_tokens(text)
    if isinstance(value, Mapping):
        return _count_mapping(value, depth)
    if isinstance(value, list | tuple):
        return _count(list(value), depth)
    if isinstance(value, bool | int | float):
        return 0
    # An SDK model object (pydantic) passed as a message: count what it would serialise to.
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        try:
            return _count(dump(exclude_none=True), depth + 1)
        except Exception:
            return 0
    return count_text_tokens(str(value))


# (model, provider, server) -> (price per input token, per output token), or None if unpriced.
# Memoised per catalog (configure() installs a new one): pricing a usage through the catalog costs
# a few µs, a multiply-add on memoised rates a fraction of one.
_rates: dict[tuple[str, str | None, str | None], tuple[float, float] | None] = {}
_rates_catalog: Any = None
_MAX_RATES = 4096
# Rates are read at a million tokens: where a price has context-size tiers, that is the top
# tier, so the estimate errs high.
_PROBE_TOKENS = 1_000_000


def _rates_for(
    prices: Any, model: str, provider_name: str | None, server_address: str | None
) -> tuple[float, float] | None:
    where = {"provider_name": provider_name, "server_address": server_address}
    input_only = prices.price(model, TokenUsage(input_tokens=_PROBE_TOKENS), **where).amount
    both = prices.price(model, TokenUsage(input_tokens=_PROBE_TOKENS, output_tokens=_PROBE_TOKENS), **where).amount
    if input_only is None or both is None or math.isnan(both):
        return None
    return input_only / _PROBE_TOKENS, max(0.0, both - input_only) / _PROBE_TOKENS


def estimate_cost(
    model: str | None,
    input_tokens: int,
    output_tokens: int,
    *,
    provider_name: str | None = None,
    server_address: str | None = None,
) -> float | None:
    """The price of ``input_tokens`` in and ``output_tokens`` out, or None for an unknown model."""
    return estimate(model, provider_name, server_address, input_tokens, output_tokens)


def estimate(
    model: str | None, provider_name: str | None, server_address: str | None, input_tokens: int, output_tokens: int
) -> float | None:
    """``estimate_cost`` with positional arguments, for the guard's call path."""
    global _rates_catalog
    if not model:
        return None
    prices = catalog()
    if prices is not _rates_catalog:
        _rates.clear()
        _rates_catalog = prices
    key = (model, provider_name, server_address)
    try:
        rates = _rates[key]
    except KeyError:
        rates = _rates_for(prices, model, provider_name, server_address)
        if len(_rates) >= _MAX_RATES:
            _rates.clear()
        _rates[key] = rates
    if rates is None:
        return None
    return input_tokens * rates[0] + output_tokens * rates[1]
