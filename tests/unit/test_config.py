from __future__ import annotations

from pathlib import Path

import pytest

from genai_cost.config import ConfigError, load_file, load_settings, parse_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "genai-cost.yaml"
    path.write_text(text)
    return path


def test_full_file_is_parsed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
attribution: {project: checkout, team: search}
pricing:
  aliases: {prod-gpt4o: gpt-4o}
  discounts: [{provider: openai, model: "gpt-4o*", percent: 15}]
  custom_models:
    - {model: "ft:gpt-4o-mini:acme:*", input_per_mtok: 0.3, output_per_mtok: 1.2, currency: eur}
    - {model: llama-3.1-70b, per_gpu_hour: 2.5, gpus: 4}
    - {model: rerank-v3.5, provider: cohere, per_search_unit: 0.002}
spans: {amount_aliases: [gen_ai.usage.cost, llm.usage.cost], max_open_traces: 100}
metrics: {user_id: true}
""",
    )
    settings = load_file(path)
    assert settings.attribution == {"project": "checkout", "team": "search"}
    assert settings.overrides.aliases == {"prod-gpt4o": "gpt-4o"}
    assert settings.overrides.discounts[0].percent == 15
    assert settings.overrides.custom_models[0].currency == "EUR"
    assert settings.overrides.custom_models[1].is_time_based
    assert settings.overrides.custom_models[2].per_search_unit == 0.002
    assert settings.amount_aliases == ("gen_ai.usage.cost", "llm.usage.cost")
    assert settings.max_open_traces == 100 and settings.metrics_user_id


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("pricing:\n  dicounts: []\n", "pricing.dicounts: unknown key; allowed: aliases, custom_models, discounts"),
        ("budget: {}\n", "budget: unknown key"),
        (
            "pricing:\n  discounts:\n    - percent: 150\n",
            "pricing.discounts[0].percent: must be between 0.0 and 100.0, got 150",
        ),
        ("pricing:\n  custom_models:\n    - {model: x}\n", "pricing.custom_models[0]: needs a price"),
        ("pricing:\n  custom_models:\n    - {input_per_mtok: 1}\n", "pricing.custom_models[0].model: is required"),
        (
            "pricing:\n  custom_models:\n    - {model: x, per_gpu_hour: 1, input_per_mtok: 1}\n",
            "pricing.custom_models[0]: give either per-token prices",
        ),
        (
            "pricing:\n  custom_models:\n    - {model: x, input_per_mtok: 1, currency: dollars}\n",
            "currency: expected an ISO 4217 code",
        ),
        ("attribution: {project: 5}\n", "attribution.project: expected a non-empty string, got 5"),
        ("spans: {max_open_traces: 0}\n", "spans.max_open_traces: expected an integer >= 1, got 0"),
        ("- just\n- a list\n", "expected a mapping, got list"),
        ("pricing: {aliases: [a, b]}\n", "pricing.aliases: expected a mapping of names to names"),
    ],
)
def test_bad_files_name_file_key_and_problem(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_file(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_invalid_yaml_points_at_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "pricing:\n  aliases: {a: b\n")
    with pytest.raises(ConfigError, match=rf"{path}: not valid YAML at line \d+, column \d+"):
        load_file(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.yaml: cannot read the config file"):
        load_settings({"GENAI_COST_CONFIG": str(tmp_path / "nope.yaml")})


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "attribution: {project: p1, team: t1}\nmetrics: {user_id: false}\n")
    settings = load_settings(
        {
            "GENAI_COST_CONFIG": str(path),
            "GENAI_COST_TEAM": "t2",
            "GENAI_COST_METRICS_USER_ID": "yes",
            "GENAI_COST_AMOUNT_ALIASES": "a.cost, b.cost",
        }
    )
    assert settings.attribution == {"project": "p1", "team": "t2"}
    assert settings.metrics_user_id is True
    assert settings.amount_aliases == ("a.cost", "b.cost")


def test_bad_boolean_environment_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="GENAI_COST_ENABLED: expected true or false, got 'maybe'"):
        load_settings({"GENAI_COST_ENABLED": "maybe"})


def test_empty_file_means_defaults(tmp_path: Path) -> None:
    settings = load_file(write(tmp_path, ""))
    assert settings.enabled and settings.amount_aliases == ("gen_ai.usage.cost",)
    assert parse_settings(None).overrides.custom_models == ()


def test_completing_spans_off_the_call_is_on_by_default_and_can_be_switched_off(tmp_path: Path) -> None:
    assert load_settings({}).complete_off_call is True
    assert parse_settings({"spans": {"complete_off_call": False}}).complete_off_call is False
    assert load_settings({"GENAI_COST_COMPLETE_OFF_CALL": "false"}).complete_off_call is False
    path = tmp_path / "genai-cost.yaml"
    path.write_text("spans: {complete_off_call: sometimes}\n")
    with pytest.raises(ConfigError, match=r"spans\.complete_off_call"):
        load_file(path)
    with pytest.raises(ConfigError, match="GENAI_COST_COMPLETE_OFF_CALL: expected true or false"):
        load_settings({"GENAI_COST_COMPLETE_OFF_CALL": "later"})
