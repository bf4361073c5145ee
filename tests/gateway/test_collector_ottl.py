"""The OTTL pricing generator: statements parse under OTTL's grammar, and running them prices
spans exactly as ``PriceCatalog`` does (to 1e-9), or leaves them visibly unpriced.

otelcol-contrib is a Go binary that no package index we can reach ships (PyPI, npm, Debian), so
the statements are checked by a small parser for the OTTL subset the generator uses (literal,
path, converter and operator grammar as pkg/ottl/LANGUAGE.md defines it) and then executed by an
interpreter with OTTL's semantics where they matter here: int/float math does not mix, ``set``
with a nil value does nothing, a failing statement is skipped (``error_mode: ignore``), each
span gets a fresh ``cache``, and a group's ``conditions`` are ORed.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from genai_cost import attributes as attr
from genai_cost.gateway import ottl
from genai_cost.pricing import PriceCatalog
from genai_cost.span_reader import read_span_call
from genai_cost.usage import TokenUsage

COLLECTOR = Path(__file__).resolve().parents[2] / "collector"

# --- a parser for the OTTL subset ---------------------------------------------------------------

# The token rules of pkg/ottl's lexer (grammar.go, buildLexer), in its order.
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<float>[-+]?\d*\.\d+(?:[eE][-+]?\d+)?)
    | (?P<int>[-+]?\d+)
    | (?P<string>"(?:\\.|[^\\"])*")
    | (?P<op>==|!=|<=|>=|<|>|\+|-|\*|/|\(|\)|\[|\]|,|\.)
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_CONVERTERS = {"IsMatch": 2, "Double": 1, "Int": 1, "IsInt": 1, "IsDouble": 1, "IsString": 1}
_PREDICATES = {"IsMatch", "IsInt", "IsDouble", "IsString"}
_EDITORS = {"set": 2}
_PATH_ROOTS = {"attributes", "cache", "metric"}
_METRIC_FIELDS = {"name", "is_monotonic", "unit", "type", "aggregation_temporality"}
_KEYWORDS = {"where", "and", "or", "not", "nil", "true", "false"}


class OTTLSyntaxError(ValueError):
    pass


class OTTLRuntimeError(Exception):
    pass


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        found = _TOKEN.match(text, position)
        if not found or found.end() == position:
            raise OTTLSyntaxError(f"unexpected text at {position}: {text[position : position + 20]!r}")
        kind = found.lastgroup
        assert kind is not None
        tokens.append((kind, found.group(kind)))
        position = found.end()
    return tokens


@dataclass
class Parser:
    tokens: list[tuple[str, str]]
    at: int = 0

    def peek(self, offset: int = 0) -> tuple[str, str] | None:
        index = self.at + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, value: str | None = None, kind: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value) or (kind is not None and token[0] != kind):
            raise OTTLSyntaxError(f"expected {value or kind}, got {token}")
        self.at += 1
        return token

    # statement := editor "(" args ")" ["where" bool]
    def statement(self) -> tuple[Any, Any]:
        _, name = self.take(kind="name")
        if name not in _EDITORS:
            raise OTTLSyntaxError(f"unknown editor {name!r}")
        args = self.arguments(name, _EDITORS[name])
        if not isinstance(args[0], tuple) or args[0][0] != "path":
            raise OTTLSyntaxError("set() needs a path to set")
        condition = None
        if self.peek() == ("name", "where"):
            self.take("where")
            condition = self.boolean()
        if self.peek() is not None:
            raise OTTLSyntaxError(f"trailing tokens: {self.tokens[self.at :]}")
        return ("call", name, args), condition

    def condition(self) -> Any:
        expression = self.boolean()
        if self.peek() is not None:
            raise OTTLSyntaxError(f"trailing tokens: {self.tokens[self.at :]}")
        return expression

    def arguments(self, name: str, arity: int) -> list[Any]:
        self.take("(")
        args = [self.value()]
        while self.peek() == ("op", ","):
            self.take(",")
            args.append(self.value())
        self.take(")")
        if len(args) != arity:
            raise OTTLSyntaxError(f"{name} takes {arity} arguments, got {len(args)}")
        return args

    def boolean(self) -> Any:
        left = self.conjunction()
        while self.peek() == ("name", "or"):
            self.take("or")
            left = ("or", left, self.conjunction())
        return left

    def conjunction(self) -> Any:
        left = self.negation()
        while self.peek() == ("name", "and"):
            self.take("and")
            left = ("and", left, self.negation())
        return left

    def negation(self) -> Any:
        if self.peek() == ("name", "not"):
            self.take("not")
            return ("not", self.negation())
        if self.peek() == ("op", "("):
            saved = self.at
            try:
                self.take("(")
                inner = self.boolean()
                self.take(")")
                following = self.peek()
                if following is None or following[1] not in ("==", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/"):
                    return inner
            except OTTLSyntaxError:
                pass
            self.at = saved
        if self.peek() in (("name", "true"), ("name", "false")):
            return ("literal", self.take()[1] == "true")
        left = self.value()
        token = self.peek()
        if token is not None and token[1] in ("==", "!=", "<", ">", "<=", ">="):
            self.take()
            return ("compare", token[1], left, self.value())
        if left[0] == "call" and left[1] in _PREDICATES:
            return left
        raise OTTLSyntaxError(f"not a boolean: {left}")

    def value(self) -> Any:
        left = self.term()
        while self.peek() in (("op", "+"), ("op", "-")):
            op = self.take()[1]
            left = ("math", op, left, self.term())
        return left

    def term(self) -> Any:
        left = self.factor()
        while self.peek() in (("op", "*"), ("op", "/")):
            op = self.take()[1]
            left = ("math", op, left, self.factor())
        return left

    def factor(self) -> Any:
        token = self.peek()
        if token is None:
            raise OTTLSyntaxError("unexpected end")
        kind, text = token
        if kind == "string":
            self.take()
            return ("literal", re.sub(r"\\(.)", r"\1", text[1:-1]))
        if kind == "float":
            self.take()
            return ("literal", float(text))
        if kind == "int":
            self.take()
            return ("literal", int(text))
        if token == ("op", "("):
            self.take("(")
            inner = self.value()
            self.take(")")
            return inner
        if kind == "name":
            if text in ("nil", "true", "false"):
                self.take()
                return ("literal", {"nil": None, "true": True, "false": False}[text])
            if text in _KEYWORDS:
                raise OTTLSyntaxError(f"unexpected keyword {text!r}")
            if text in _CONVERTERS:
                self.take()
                return ("call", text, self.arguments(text, _CONVERTERS[text]))
            if text == "metric":
                self.take()
                self.take(".")
                field = self.take(kind="name")[1]
                if field not in _METRIC_FIELDS:
                    raise OTTLSyntaxError(f"metric has no field {field!r}")
                return ("path", "metric", field)
            if text in _PATH_ROOTS:
                self.take()
                self.take("[")
                key = self.take(kind="string")[1]
                self.take("]")
                return ("path", text, re.sub(r"\\(.)", r"\1", key[1:-1]))
            raise OTTLSyntaxError(f"unknown name {text!r}")
        raise OTTLSyntaxError(f"unexpected {token}")


@functools.cache
def parse_statement(text: str) -> tuple[Any, Any]:
    return Parser(tokenize(text)).statement()


@functools.cache
def parse_condition(text: str) -> Any:
    return Parser(tokenize(text)).condition()


def parse_value(text: str) -> Any:
    parser = Parser(tokenize(text))
    value = parser.value()
    if parser.peek() is not None:
        raise OTTLSyntaxError(f"trailing tokens: {parser.tokens[parser.at :]}")
    return value


# --- an interpreter with OTTL's semantics ------------------------------------------------------


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def evaluate(node: Any, span: dict[str, Any], cache: dict[str, Any]) -> Any:
    kind = node[0]
    if kind == "literal":
        return node[1]
    if kind == "path":
        return (span if node[1] == "attributes" else cache).get(node[2])
    if kind == "math":
        left, right = evaluate(node[2], span, cache), evaluate(node[3], span, cache)
        if not (_number(left) and _number(right)) or type(left) is not type(right):
            raise OTTLRuntimeError(f"math on {type(left).__name__} and {type(right).__name__}")
        op = node[1]
        if op == "/" and right == 0:
            raise OTTLRuntimeError("division by zero")
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        return left // right if isinstance(left, int) else left / right
    if kind == "compare":
        left, right = evaluate(node[2], span, cache), evaluate(node[3], span, cache)
        op = node[1]
        if op in ("==", "!="):
            if _number(left) and _number(right):
                equal = float(left) == float(right)
            else:
                equal = type(left) is type(right) and left == right
            return equal if op == "==" else not equal
        if _number(left) and _number(right):
            left, right = float(left), float(right)
        elif not (isinstance(left, str) and isinstance(right, str)):
            return False
        return {"<": left < right, ">": left > right, "<=": left <= right, ">=": left >= right}[op]
    if kind == "and":
        return evaluate(node[1], span, cache) and evaluate(node[2], span, cache)
    if kind == "or":
        return evaluate(node[1], span, cache) or evaluate(node[2], span, cache)
    if kind == "not":
        return not evaluate(node[1], span, cache)
    if kind == "call":
        name, args = node[1], node[2]
        if name == "IsMatch":
            target = evaluate(args[0], span, cache)
            pattern = evaluate(args[1], span, cache)
            return target is not None and re.search(pattern, str(target)) is not None
        if name in ("IsInt", "IsDouble", "IsString"):
            value = evaluate(args[0], span, cache)
            return {
                "IsInt": isinstance(value, int) and not isinstance(value, bool),
                "IsDouble": isinstance(value, float),
                "IsString": isinstance(value, str),
            }[name]
        if name == "Int":  # ottlfuncs Int: floats truncate, strings parse, anything else is nil
            value = evaluate(args[0], span, cache)
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, float):
                return int(value) if math.isfinite(value) else None
            if isinstance(value, int):
                return value
            if isinstance(value, str) and re.fullmatch(r"[-+]?\d+", value):
                return int(value)
            return None
        if name == "Double":
            value = evaluate(args[0], span, cache)
            if isinstance(value, bool):
                return 1.0 if value else 0.0
            if _number(value):
                return float(value)
            try:
                return float(value) if isinstance(value, str) else None
            except ValueError:
                return None
        if name == "set":
            value = evaluate(args[1], span, cache)
            if value is not None:  # OTTL: "no fields currently support null"
                _, root, key = args[0]
                (span if root == "attributes" else cache)[key] = value
            return None
    raise AssertionError(f"cannot evaluate {node}")


def run_processor(config: dict[str, Any], span: dict[str, Any]) -> dict[str, Any]:
    """Apply a transform processor config (one span context group) to a span's attributes."""
    (processor,) = config["processors"].values()
    assert processor["error_mode"] == "ignore"
    span = dict(span)
    for group in processor["trace_statements"]:
        assert group["context"] == "span"
        cache: dict[str, Any] = {}
        conditions = [parse_condition(c) for c in group.get("conditions", [])]
        if conditions and not any(evaluate(c, span, cache) for c in conditions):
            continue
        for text in group["statements"]:
            statement, condition = parse_statement(text)
            try:
                if condition is None or evaluate(condition, span, cache):
                    evaluate(statement, span, cache)
            except OTTLRuntimeError:
                continue  # error_mode: ignore
    return span


# --- the checks ---------------------------------------------------------------------------------

SELECTED = [
    "openai/gpt-4o",
    "openai/gpt-4o-mini",
    "openai/o3-mini",
    "anthropic/claude-sonnet-4-5",
    "anthropic/claude-3-5-haiku*",
    "openai/text-embedding-3-small",
    "google/gemini-2.5-flash",
]


@pytest.fixture(scope="module")
def catalog() -> PriceCatalog:
    return PriceCatalog()


@pytest.fixture(scope="module")
def config(catalog: PriceCatalog) -> dict[str, Any]:
    models, _ = ottl.read_models(catalog, SELECTED)
    # Round-trip through the YAML the command prints, so quoting problems show here.
    return yaml.safe_load(ottl.render(models, ottl.transform_processor(models)))


def _span(model: str, provider: str | None, usage: TokenUsage, **extra: Any) -> dict[str, Any]:
    span: dict[str, Any] = {attr.OPERATION_NAME: "chat", attr.REQUEST_MODEL: model, **extra}
    if provider:
        span[attr.PROVIDER_NAME] = provider
    span[attr.USAGE_INPUT_TOKENS] = usage.input_tokens
    span[attr.USAGE_OUTPUT_TOKENS] = usage.output_tokens
    if usage.cache_read_tokens:
        span[attr.USAGE_CACHE_READ_TOKENS] = usage.cache_read_tokens
    if usage.cache_write_tokens:
        span[attr.USAGE_CACHE_WRITE_TOKENS] = usage.cache_write_tokens
    if usage.reasoning_tokens:
        span[attr.USAGE_REASONING_TOKENS] = usage.reasoning_tokens
    return span


USAGES = [
    TokenUsage(input_tokens=1200, output_tokens=350),
    TokenUsage(input_tokens=48_000, output_tokens=2_000, cache_read_tokens=40_000),
    TokenUsage(input_tokens=9_000, output_tokens=4_000, cache_read_tokens=1_000, cache_write_tokens=6_000),
    TokenUsage(input_tokens=150_000, output_tokens=12_000, reasoning_tokens=9_000),
    TokenUsage(input_tokens=7, output_tokens=0),
]

# Spellings spans carry (dated snapshots, other case) and neighbours that must not be mistaken
# for a selected model: the catalog decides which model each one is.
SPELLINGS = [
    ("gpt-4o", "openai"),
    ("gpt-4o-2024-08-06", "openai"),
    ("GPT-4o", "openai"),
    ("gpt-4o-mini", "openai"),
    ("gpt-4o-mini-2024-07-18", None),
    ("gpt-4o-2024-05-13", "openai"),  # a different (older) price
    ("gpt-4.1", "openai"),  # not selected
    ("o3-mini", "openai"),
    ("claude-sonnet-4-5", "anthropic"),
    ("claude-sonnet-4-5-20250929", "anthropic"),
    ("claude-3-5-haiku-20241022", "anthropic"),
    ("claude-opus-4-1", "anthropic"),  # not selected
    ("gemini-2.5-flash", "gcp.gemini"),
    ("gemini-2.5-flash-lite", "gcp.gemini"),  # not selected, shares a prefix
    ("text-embedding-3-small", "openai"),
    ("gpt-4o", "aws.bedrock"),  # a selected name from a provider that was not selected
]


def _selected(catalog: PriceCatalog) -> set[tuple[str, str]]:
    return set(ottl.select_models(catalog, SELECTED))


def expected(catalog: PriceCatalog, span: dict[str, Any]) -> tuple[str, Any]:
    """What the gateway's engine makes of a span (the shared span reader, then the catalog),
    restricted to the generated table: (status, CostBreakdown or None)."""
    call = read_span_call(span)
    probe = catalog.price(call.model, TokenUsage(input_tokens=1), provider_name=call.provider_name)
    if probe.amount is None or (probe.price_provider, probe.price_model) not in _selected(catalog):
        return attr.Status.UNKNOWN_MODEL, None
    if call.usage is None and call.usage_error is None:
        return attr.Status.NO_USAGE, None
    if call.usage_error is not None:
        return attr.Status.INVALID_USAGE, None
    assert call.usage is not None and probe.price_provider and probe.price_model
    tier = ottl.read_model(catalog, probe.price_provider, probe.price_model).tier_start
    if tier is not None and call.usage.input_tokens > tier:
        return "above_tier", None
    cost = catalog.price(call.model, call.usage, provider_name=call.provider_name)
    assert cost.amount is not None
    return attr.Status.PRICED, cost


def assert_same(catalog: PriceCatalog, config: dict[str, Any], span: dict[str, Any]) -> str:
    status, cost = expected(catalog, span)
    got = run_processor(config, span)
    if status == "above_tier":
        assert got[attr.COST_STATUS] == attr.Status.UNKNOWN_MODEL, (span, got)
        assert "tier" in got[attr.COST_STATUS_DETAIL]
        return status
    assert got[attr.COST_STATUS] == status, (span, got)
    if cost is None:
        assert attr.COST_AMOUNT not in got, (span, got)
        return status
    assert got[attr.COST_AMOUNT] == pytest.approx(cost.amount, abs=1e-9, rel=0), span
    for name, part in (
        (attr.COST_INPUT, cost.input),
        (attr.COST_OUTPUT, cost.output),
        (attr.COST_CACHE_READ, cost.cache_read),
        (attr.COST_CACHE_WRITE, cost.cache_write),
        (attr.COST_TOOLS, cost.tools),
        (attr.COST_SAVINGS, cost.savings),
    ):
        assert got.get(name, 0.0) == pytest.approx(part, abs=1e-9, rel=0), (span, name)
    assert got[attr.COST_CURRENCY] == cost.currency
    assert (got[attr.PRICE_PROVIDER], got[attr.PRICE_MODEL]) == (cost.price_provider, cost.price_model)
    assert got[attr.USAGE_COST_ALIAS] == got[attr.COST_AMOUNT]
    assert isinstance(got[attr.COST_AMOUNT], float)
    return status


@pytest.mark.parametrize(("model", "provider"), SPELLINGS)
def test_statements_price_like_the_catalog(
    catalog: PriceCatalog, config: dict[str, Any], model: str, provider: str | None
) -> None:
    statuses = {assert_same(catalog, config, _span(model, provider, usage)) for usage in USAGES}
    assert statuses & {attr.Status.PRICED, attr.Status.UNKNOWN_MODEL}


def test_the_table_prices_and_refuses_as_expected(catalog: PriceCatalog, config: dict[str, Any]) -> None:
    """The spelling list really exercises both sides (a check on the test itself)."""
    usage = TokenUsage(input_tokens=1000, output_tokens=100)
    statuses = [expected(catalog, _span(m, p, usage))[0] for m, p in SPELLINGS]
    assert statuses.count(attr.Status.PRICED) >= 9 and statuses.count(attr.Status.UNKNOWN_MODEL) >= 4
    big = TokenUsage(input_tokens=250_000, output_tokens=100)
    assert assert_same(catalog, config, _span("claude-sonnet-4-5", "anthropic", big)) == "above_tier"


def test_a_large_sample_matches_to_a_billionth(catalog: PriceCatalog, config: dict[str, Any]) -> None:
    """Many usages on every selected model: the float arithmetic in OTTL stays within 1e-9."""
    import random

    rng = random.Random(6)
    checked = 0
    for pid, model in _selected(catalog):
        tier = ottl.read_model(catalog, pid, model).tier_start or 1_000_000
        for _ in range(40):
            inp = rng.randint(0, min(tier, 1_000_000))
            cr = rng.randint(0, inp)
            cw = rng.randint(0, inp - cr)
            cw1h = rng.randint(0, cw)
            out = rng.randint(0, 64_000)
            usage = TokenUsage(inp, out, cr, cw, cache_write_1h_tokens=cw1h, reasoning_tokens=rng.randint(0, out))
            span = _span(model, pid, usage)
            if cw1h:
                span[attr.ANTHROPIC_CACHE_WRITE_1H] = cw1h
            assert assert_same(catalog, config, span) == attr.Status.PRICED
            checked += 1
    assert checked >= 40 * len(SELECTED)


_COUNT_KEYS = [
    attr.USAGE_INPUT_TOKENS,
    attr.USAGE_OUTPUT_TOKENS,
    attr.USAGE_CACHE_READ_TOKENS,
    attr.USAGE_CACHE_WRITE_TOKENS,
    attr.USAGE_REASONING_TOKENS,
    attr.LEGACY_PROMPT_TOKENS,
    attr.LEGACY_COMPLETION_TOKENS,
    attr.LEGACY_CACHE_READ_TOKENS,
    attr.LEGACY_CACHE_CREATION_TOKENS,
    attr.LLM_PROMPT_TOKENS,
    attr.LLM_COMPLETION_TOKENS,
    attr.ANTHROPIC_CACHE_WRITE_5M,
    attr.ANTHROPIC_CACHE_WRITE_1H,
]
_COUNTS = st.one_of(
    st.integers(0, 300_000),
    st.integers(0, 5_000),
    st.integers(-5, -1),
    st.integers(0, 300_000).map(str),
    st.sampled_from(["12x", "-3", "", "1.5"]),
    st.floats(0, 1000, allow_nan=False),
    st.integers(0, 100_000).map(float),
    st.booleans(),
)


@settings(max_examples=300)
@given(
    spelling=st.sampled_from(SPELLINGS),
    provider_key=st.sampled_from([attr.PROVIDER_NAME, attr.LEGACY_SYSTEM, None]),
    model_key=st.sampled_from([attr.REQUEST_MODEL, attr.RESPONSE_MODEL]),
    counts=st.dictionaries(st.sampled_from(_COUNT_KEYS), _COUNTS, max_size=6),
)
def test_any_span_gets_what_the_gateway_would_give_it(
    catalog: PriceCatalog,
    config: dict[str, Any],
    spelling: tuple[str, str | None],
    provider_key: str | None,
    model_key: str,
    counts: dict[str, Any],
) -> None:
    """Arbitrary usage attributes, in every spelling the span reader knows and some it refuses."""
    model, provider = spelling
    span: dict[str, Any] = {attr.OPERATION_NAME: "chat", model_key: model, **counts}
    if provider and provider_key:
        span[provider_key] = provider
    assert_same(catalog, config, span)


def test_priced_spans_and_non_calls_are_left_alone(config: dict[str, Any]) -> None:
    usage = TokenUsage(input_tokens=100, output_tokens=10)
    already = _span("gpt-4o", "openai", usage, **{attr.COST_STATUS: "priced", attr.COST_AMOUNT: 1.5})
    assert run_processor(config, already) == already
    duplicate = _span("gpt-4o", "openai", usage, **{attr.COST_STATUS: "duplicate"})
    assert run_processor(config, duplicate) == duplicate
    agent = _span("gpt-4o", "openai", usage, **{attr.OPERATION_NAME: "invoke_agent"})
    assert run_processor(config, agent) == agent
    plain = {"http.request.method": "GET"}
    assert run_processor(config, plain) == plain


def test_unpriceable_spans_say_why(config: dict[str, Any]) -> None:
    no_usage = {attr.OPERATION_NAME: "chat", attr.PROVIDER_NAME: "openai", attr.REQUEST_MODEL: "gpt-4o"}
    got = run_processor(config, no_usage)
    assert got[attr.COST_STATUS] == attr.Status.NO_USAGE and attr.COST_AMOUNT not in got
    bad = _span("gpt-4o", "openai", TokenUsage(input_tokens=10, output_tokens=1))
    bad[attr.USAGE_OUTPUT_TOKENS] = -4  # a broken instrumentation
    got = run_processor(config, bad)
    assert got[attr.COST_STATUS] == attr.Status.INVALID_USAGE and attr.COST_AMOUNT not in got
    bad[attr.USAGE_OUTPUT_TOKENS] = "many"
    assert run_processor(config, bad)[attr.COST_STATUS] == attr.Status.INVALID_USAGE


def test_older_spellings_and_string_counts(catalog: PriceCatalog, config: dict[str, Any]) -> None:
    span = {
        attr.LEGACY_SYSTEM: "openai",
        attr.REQUEST_MODEL: "gpt-4o-mini",
        attr.LEGACY_PROMPT_TOKENS: "1000",
        attr.LEGACY_COMPLETION_TOKENS: 20,
    }
    got = run_processor(config, span)
    expected = catalog.price("gpt-4o-mini", TokenUsage(1000, 20), provider_name="openai")
    assert got[attr.COST_AMOUNT] == pytest.approx(expected.amount, abs=1e-12)


def test_generated_text_uses_only_ottl_literals(config: dict[str, Any]) -> None:
    (processor,) = config["processors"].values()
    statements = processor["trace_statements"][0]["statements"]
    for text in statements:
        parse_statement(text)
        # Rates as plain decimals (OTTL's lexer takes exponents too; decimals read like a price list).
        assert not re.search(r"\d[eE][-+]?\d", re.sub(r'"(?:\\.|[^"\\])*"', '""', text)), text


@pytest.mark.parametrize(
    "broken",
    [
        'set(cache["x"], 2.5e)',  # an exponent without digits
        'set(cache["x"], Floor(1.5))',  # a converter the subset does not know
        'set(cache["x"], 1.0) where',  # dangling where
        'set(cache["x"] 1.0)',
        'set(cache["x"], "unterminated)',
        'IsMatch(cache["x"], "a")',  # a converter is not a statement
    ],
)
def test_the_grammar_check_rejects_broken_statements(broken: str) -> None:
    with pytest.raises(OTTLSyntaxError):
        parse_statement(broken)


def test_the_interpreter_follows_ottl_math_rules() -> None:
    span: dict[str, Any] = {"n": 3}
    cache: dict[str, Any] = {}
    statement, _ = parse_statement('set(cache["x"], attributes["n"] * 0.5)')
    with pytest.raises(OTTLRuntimeError):  # int * float is an error in OTTL
        evaluate(statement, span, cache)
    statement, _ = parse_statement('set(cache["x"], Double(attributes["n"]) * 0.5)')
    evaluate(statement, span, cache)
    assert cache["x"] == 1.5


def test_float_literals_round_trip() -> None:
    for value in (2.5e-06, 1e-05, 3.75e-06, 1.25e-07, 7.5e-08, 0.1, 15.0, 1.234567890123e-09):
        text = ottl.ottl_float(value)
        assert re.fullmatch(r"\d+\.\d+", text), text
        assert float(text) == value


def test_models_ottl_cannot_price_are_refused(catalog: PriceCatalog) -> None:
    with pytest.raises(ottl.CollectorConfigError, match="no priced model"):
        ottl.select_models(catalog, ["no-such-model-anywhere"])
    with pytest.raises(ottl.CollectorConfigError, match="transform"):
        ottl.check_processor_name("filter/x")


def test_the_command_writes_a_processor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from genai_cost.cli import main

    target = tmp_path / "pricing.yaml"
    assert main(["collector-config", "openai/gpt-4o-mini", "--name", "transform/prices", "-o", str(target)]) == 0
    written = yaml.safe_load(target.read_text())
    assert list(written["processors"]) == ["transform/prices"]
    assert main(["collector-config", "nothing-like-this"]) == 2
    assert "no priced model matches" in capsys.readouterr().err


def test_ottl_in_the_collector_configs_parses() -> None:
    """The filter, transform and signaltometrics expressions of collector/*.yaml."""
    checked = 0
    for path in sorted(COLLECTOR.glob("otelcol*.yaml")):
        config = yaml.safe_load(path.read_text())
        for name, processor in (config.get("processors") or {}).items():
            if name.startswith("filter"):
                for condition in processor["traces"]["span"]:
                    parse_condition(condition)
                    checked += 1
            if name.startswith("transform"):
                for key in ("trace_statements", "metric_statements"):
                    for group in processor.get(key, []):
                        for text in group["statements"]:
                            parse_statement(text)
                            checked += 1
        for name, connector in (config.get("connectors") or {}).items():
            if name.startswith("signaltometrics"):
                for metric in connector["spans"]:
                    for condition in metric.get("conditions", []):
                        parse_condition(condition)
                    parse_value(metric["sum"]["value"])
                    checked += 1
    assert checked >= 4


def test_the_committed_example_parses_and_prices(catalog: PriceCatalog) -> None:
    config = yaml.safe_load((COLLECTOR / "pricing.generated.yaml").read_text())
    (processor,) = config["processors"].values()
    for group in processor["trace_statements"]:
        for condition in group["conditions"]:
            parse_condition(condition)
        for text in group["statements"]:
            parse_statement(text)
    usage = TokenUsage(input_tokens=5000, output_tokens=700, cache_read_tokens=2000)
    got = run_processor(config, _span("gpt-4o-mini", "openai", usage))
    expected = catalog.price("gpt-4o-mini", usage, provider_name="openai")
    assert got[attr.COST_AMOUNT] == pytest.approx(expected.amount, abs=1e-9, rel=0), (
        "collector/pricing.generated.yaml is stale: regenerate it with the command in collector/README.md"
    )


def test_price_overrides_carry_over() -> None:
    """Aliases, discounts and custom models from the config file reach the OTTL table."""
    from genai_cost.pricing import CustomPrice, Discount, PriceOverrides

    overrides = PriceOverrides(
        aliases={"my-gpt4o-deployment": "gpt-4o"},
        custom_models=(CustomPrice(model="ft:gpt-4o-mini:acme:*", input_per_mtok=0.3, output_per_mtok=1.2),),
        discounts=(Discount(percent=15, provider="openai", model="gpt-4o*"),),
    )
    catalog = PriceCatalog(overrides)
    models, _ = ottl.read_models(catalog, ["openai/gpt-4o", "ft:gpt-4o-mini:acme:*"])
    config = yaml.safe_load(ottl.render(models, ottl.transform_processor(models)))
    usage = TokenUsage(input_tokens=20_000, output_tokens=1_000, cache_read_tokens=5_000)
    for model, provider in (
        ("my-gpt4o-deployment", "openai"),
        ("gpt-4o", "openai"),
        ("ft:gpt-4o-mini:acme:8f2a", "openai"),
        ("ft:gpt-4o-mini:acme:8f2a", None),
    ):
        span = _span(model, provider, usage)
        got = run_processor(config, span)
        cost = catalog.price(model, usage, provider_name=provider)
        assert cost.amount is not None, model
        assert got[attr.COST_STATUS] == attr.Status.PRICED, (model, got)
        assert got[attr.COST_AMOUNT] == pytest.approx(cost.amount, abs=1e-9, rel=0), model
    # Azure's gpt-4o is another price, not in this table.
    azure = run_processor(config, _span("my-gpt4o-deployment", "azure.ai.openai", usage))
    assert azure[attr.COST_STATUS] == attr.Status.UNKNOWN_MODEL
    discounted = catalog.price("gpt-4o", usage, provider_name="openai").amount
    list_price = PriceCatalog().price("gpt-4o", usage, provider_name="openai").amount
    assert discounted is not None and list_price is not None
    assert discounted == pytest.approx(0.85 * list_price)


def test_counts_above_the_plausible_bound_are_invalid_as_in_the_gateway(
    catalog: PriceCatalog, config: dict[str, Any]
) -> None:
    """plausibility.max_usage_tokens applies to OTTL pricing as to the span reader: an absurd
    count is invalid_usage with no amount, never a priced absurd amount."""
    from genai_cost import plausibility

    absurd = plausibility.max_usage_tokens + 1
    for key in (attr.USAGE_INPUT_TOKENS, attr.USAGE_OUTPUT_TOKENS, attr.USAGE_REASONING_TOKENS):
        span = _span("gpt-4o", "openai", TokenUsage(input_tokens=100, output_tokens=10))
        span[key] = absurd
        if key == attr.USAGE_REASONING_TOKENS:
            span[attr.USAGE_OUTPUT_TOKENS] = absurd  # reasoning within output: only the size is wrong
        assert assert_same(catalog, config, span) == attr.Status.INVALID_USAGE
        got = run_processor(config, span)
        assert attr.COST_AMOUNT not in got and "plausible" in got[attr.COST_STATUS_DETAIL]
    at_bound = _span("gpt-4o-mini", "openai", TokenUsage(input_tokens=plausibility.max_usage_tokens, output_tokens=1))
    assert assert_same(catalog, config, at_bound) == attr.Status.PRICED
