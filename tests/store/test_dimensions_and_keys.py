"""Custom dimensions and API key fingerprints, end to end: the real openai SDK against the local
stand-in, through our instrumentation and the session's cost pipeline, to span attributes, the
store, ``report --by``, budget scopes and the FOCUS ``x_`` columns."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging

import openai
import pytest
from openai_support import MESSAGES, attrs, genai_spans, instrumented

from genai_cost import BudgetExceeded, cost_context
from genai_cost.budget.policy import BudgetPolicy, InvalidBudget
from genai_cost.cli import main
from genai_cost.config import ConfigError, load_settings
from genai_cost.context import set_dimensions
from genai_cost.instrumentation.key_id import client_key_id, key_fingerprint
from genai_cost.reports.focus import export_focus
from genai_cost.store import open_store
from genai_cost.store.rows import calls_from_spans

__all__ = ["instrumented"]
pytestmark = pytest.mark.usefixtures("instrumented")

KEY_A = "sk-proj-AAAAaaaa-secret-key-number-one"
KEY_B = "sk-proj-BBBBbbbb-secret-key-number-two"


@pytest.fixture
def declared():
    set_dimensions(("prompt_version",))
    yield
    set_dimensions(())


@pytest.fixture
def clients(stub):
    with (
        openai.OpenAI(base_url=stub.base_url, api_key=KEY_A, max_retries=0) as a,
        openai.OpenAI(base_url=stub.base_url, api_key=KEY_B, max_retries=0) as b,
    ):
        yield a, b


def _chat(client):
    return client.chat.completions.create(model="gpt-4o", messages=MESSAGES)


def test_dimensions_and_key_ids_reach_spans_store_report_and_focus(declared, clients, span_exporter, tmp_path):
    a, b = clients
    with cost_context(team="search", prompt_version="v1"):
        _chat(a)
        _chat(a)
    with cost_context(team="search", prompt_version="v2"):
        _chat(b)
    spans = genai_spans(span_exporter)
    assert [attrs(s).get("genai_cost.dim.prompt_version") for s in spans] == ["v1", "v1", "v2"]
    assert [attrs(s)["genai_cost.key.id"] for s in spans] == [key_fingerprint(KEY_A)] * 2 + [key_fingerprint(KEY_B)]
    for span in spans:  # the key itself is nowhere on the span
        assert not any(KEY_A in str(v) or KEY_B in str(v) for v in attrs(span).values())

    path = str(tmp_path / "spend.duckdb")
    store = open_store(path)
    assert store.write(list(calls_from_spans(spans))) == 3
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["report", "--store", path, "--since", "1d", "--by", "prompt_version,key", "--format", "json"]) == 0
    rows = {(r["prompt_version"], r["key"]): r for r in json.loads(out.getvalue())}
    assert set(rows) == {("v1", key_fingerprint(KEY_A)), ("v2", key_fingerprint(KEY_B))}
    assert rows[("v1", key_fingerprint(KEY_A))]["calls"] == 2
    amounts = [attrs(s)["genai_cost.amount"] for s in spans]
    assert abs(sum(r["amount"] for r in rows.values()) - sum(amounts)) <= 1e-12

    export_focus(store, str(tmp_path / "f.csv"))
    with (tmp_path / "f.csv").open(newline="") as file:
        focus = list(csv.DictReader(file))
    assert {r["x_dim_prompt_version"] for r in focus} == {"v1", "v2"}
    assert {r["x_ApiKeyId"] for r in focus} == {key_fingerprint(KEY_A), key_fingerprint(KEY_B)}


def test_an_undeclared_dimension_is_dropped_with_a_warning_never_an_error(clients, span_exporter, caplog):
    with caplog.at_level(logging.WARNING, logger="genai_cost"), cost_context(experiment_nobody_declared="x"):
        _chat(clients[0])
    assert not any(k.startswith("genai_cost.dim.") for k in attrs(genai_spans(span_exporter)[0]))
    assert "declare it in config" in caplog.text


@pytest.mark.parametrize(
    "budget", [BudgetPolicy(name="v2-prompts", limit=0.0, match={"dim.prompt_version": "v2"})], indirect=True
)
def test_a_budget_scoped_to_a_custom_dimension(declared, clients, budget, stub):
    with cost_context(prompt_version="v1"):
        _chat(clients[0])
    with cost_context(prompt_version="v2"), pytest.raises(BudgetExceeded):
        _chat(clients[0])
    assert len(stub.requests) == 1  # the blocked call never reached the provider


@pytest.mark.parametrize(
    "budget", [BudgetPolicy(name="key-b", limit=0.0, match={"key": key_fingerprint(KEY_B)})], indirect=True
)
def test_a_budget_scoped_to_an_api_key(clients, budget, stub):
    _chat(clients[0])
    with pytest.raises(BudgetExceeded):
        _chat(clients[1])
    assert len(stub.requests) == 1


def test_fingerprints_are_stable_distinct_and_follow_a_reassigned_key(stub):
    client = openai.OpenAI(base_url=stub.base_url, api_key=KEY_A)
    first = client_key_id(client)
    assert first == client_key_id(client) == key_fingerprint(KEY_A)
    assert first.startswith("k-") and len(first) == 18 and KEY_A not in first
    client.api_key = KEY_B
    assert client_key_id(client) == key_fingerprint(KEY_B) != first


def test_dimension_and_scope_configuration_errors_name_the_key(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("dimensions: [prompt_version, Bad-Name]\n")
    with pytest.raises(ConfigError, match=r"dimensions: dimension 'Bad-Name'"):
        load_settings({"GENAI_COST_CONFIG": str(config)})
    config.write_text(
        "dimensions: [prompt_version]\n"
        "budgets: {policies: [{name: p, limit: 1, match: {dim.prompt_version: v2}}, {name: k, limit: 1, per: key}]}\n"
    )
    settings = load_settings({"GENAI_COST_CONFIG": str(config)})
    assert settings.dimensions == ("prompt_version",)
    assert settings.budgets.policies[0].match == {"dim.prompt_version": "v2"}
    assert load_settings({"GENAI_COST_DIMENSIONS": "a, b"}).dimensions == ("a", "b")
    with pytest.raises(InvalidBudget, match=r"match\.dim\.Bad"):
        BudgetPolicy(name="x", limit=1, match={"dim.Bad": "v"})
