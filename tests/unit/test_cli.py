"""The ``genai-cost`` command as a user types it: price, models, --config, --version, and what it
says when the input is wrong (the real CLI: ``cli.main`` in this process, or a subprocess where
the process itself is what is tested)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pytest
from genai_prices import Usage, calc_price

from genai_cost import __version__
from genai_cost.cli import main

CONFIG = """\
pricing:
  custom_models:
    - {model: "ft:gpt-4o-mini:acme:*", input_per_mtok: 0.3, output_per_mtok: 1.2}
    - {model: llama-3.1-70b, per_gpu_hour: 2.5, gpus: 4}
    - {model: rerank-v3.5, provider: cohere, per_search_unit: 0.002}
"""


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("GENAI_COST_"):
            monkeypatch.delenv(name)
    path = tmp_path / "genai-cost.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exit:  # argparse: --version, --help, bad arguments
        code = int(exit.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def rows(out: str) -> dict[str, str]:
    return {line[:13].strip(): line[13:].strip() for line in out.splitlines()}


def test_version_names_ours_and_the_price_data(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert f"genai-cost {__version__}" in out
    assert f"genai-prices {version('genai-prices')}" in out


@pytest.mark.parametrize("where", ["before", "after"])
def test_config_is_accepted_before_or_after_the_subcommand(
    capsys: pytest.CaptureFixture[str], config: Path, where: str
) -> None:
    command = ["price", "ft:gpt-4o-mini:acme:x1", "--input", "1000000", "--output", "1000000"]
    argv = ["--config", str(config), *command] if where == "before" else [*command, "--config", str(config)]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert rows(out)["total"] == "1.5 USD"
    code, out, err = run(capsys, "models", "ft:*acme*", "--config", str(config))
    assert code == 0, err
    assert "ft:gpt-4o-mini:acme:*" in out


def test_custom_model_prints_without_a_provider_placeholder(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, _ = run(capsys, "--config", str(config), "price", "ft:gpt-4o-mini:acme:x1", "--input", "10")
    assert code == 0
    assert rows(out)["model"] == "ft:gpt-4o-mini:acme:*"
    assert "None" not in out


def test_gpu_hour_price_without_a_duration_is_not_a_silent_zero(
    capsys: pytest.CaptureFixture[str], config: Path
) -> None:
    code, out, err = run(capsys, "--config", str(config), "price", "llama-3.1-70b", "--input", "1000", "--output", "50")
    assert code == 1
    assert out == ""
    assert "no_usage" in err and "per GPU-hour" in err and "--duration" in err
    # With the call's duration it is priced: 2.5 USD per GPU-hour x 4 GPUs x 0.1 h.
    code, out, err = run(
        capsys, "--config", str(config), "price", "llama-3.1-70b", "--input", "1000", "--duration", "360"
    )
    assert code == 0, err
    assert rows(out)["total"] == "1 USD"


def test_rerank_search_units_are_priced_or_said_unknown(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    argv = ["price", "rerank-v3.5", "--provider", "cohere", "--input", "0", "--searches", "3"]
    code, out, err = run(capsys, "--config", str(config), *argv)
    assert code == 0, err
    assert rows(out)["total"] == "0.006 USD"
    code, out, err = run(capsys, *argv)  # no per-search-unit price anywhere: unknown, never 0
    assert code == 1 and out == ""
    assert "unknown_model" in err and "per_search_unit" in err


def test_unknown_service_tier_is_refused_with_the_known_ones(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, err = run(capsys, "price", "gpt-5", "--input", "1000", "--service-tier", "bogus")
    assert code == 2 and out == ""
    assert "'bogus'" in err
    assert "flex" in err and "priority" in err


def test_known_service_tier_selects_its_price(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, standard, _ = run(capsys, "price", "gpt-5", "--input", "1000000", "--provider", "openai")
    assert code == 0
    code, flex, err = run(
        capsys, "price", "gpt-5", "--input", "1000000", "--provider", "openai", "--service-tier", "flex"
    )
    assert code == 0, err
    assert rows(flex)["total"] != rows(standard)["total"]


def test_unknown_model_suggests_close_names(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, out, err = run(capsys, "price", "gpt-4oo", "--input", "1000")
    assert code == 1 and out == ""
    assert "unknown_model" in err
    assert "did you mean" in err and "gpt-4o" in err.split("did you mean", 1)[1]


def test_unknown_model_with_nothing_close_gets_no_suggestion(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, _, err = run(capsys, "price", "zzzz-qqqq-9", "--input", "1000")
    assert code == 1
    assert "did you mean" not in err


@pytest.mark.parametrize("at", ["yesterday", "today", "7d", "12h", "2024-06-01", "2024-06-01T12:00+02:00"])
def test_at_accepts_dates_and_relative_days(capsys: pytest.CaptureFixture[str], config: Path, at: str) -> None:
    code, out, err = run(capsys, "price", "gpt-4o", "--input", "1000", "--at", at)
    assert code == 0, err
    assert rows(out)["total"].endswith("USD")


def test_at_prices_by_the_day_it_names(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    # claude-opus-4-6's long-context surcharge ended on 2026-03-13 (genai-prices keeps the history).
    def reference(day: str) -> float:
        when = datetime.fromisoformat(day).replace(tzinfo=UTC)
        usage = Usage(input_tokens=300_000)
        return float(
            calc_price(usage, "claude-opus-4-6", provider_id="anthropic", genai_request_timestamp=when).total_price
        )

    totals = {}
    for day in ("2026-03-01", "2026-03-20"):
        code, out, err = run(
            capsys, "price", "claude-opus-4-6", "--input", "300000", "--provider", "anthropic", "--at", day
        )
        assert code == 0, err
        totals[day] = float(rows(out)["total"].split()[0])
        assert totals[day] == pytest.approx(reference(day))
    assert totals["2026-03-01"] != totals["2026-03-20"]


def test_at_that_cannot_be_read_says_which_forms_work(capsys: pytest.CaptureFixture[str], config: Path) -> None:
    code, _, err = run(capsys, "price", "gpt-4o", "--input", "1000", "--at", "last tuesday")
    assert code == 2
    assert "_timestamp" not in err
    assert "'last tuesday'" in err and "ISO" in err and "yesterday" in err


def _cli(*args: str, prelude: str = "", **kwargs: object) -> subprocess.CompletedProcess[str]:
    code = f"import sys\n{prelude}\nfrom genai_cost.cli import main\nsys.exit(main(sys.argv[1:]))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GENAI_COST_")}
    return subprocess.run([sys.executable, "-c", code, *args], env=env, text=True, timeout=60, check=False, **kwargs)  # type: ignore[call-overload]


def test_output_cut_short_by_its_reader_exits_quietly() -> None:
    # `genai-cost models | head -2`: the reader is gone before the writer is done.
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = _cli("models", stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 0


def test_missing_redis_py_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    config = tmp_path / "genai-cost.yaml"
    config.write_text("budgets:\n  policies: [{name: company, limit: 10}]\n", encoding="utf-8")
    done = _cli(
        "budget",
        "status",
        "--config",
        str(config),
        "--ledger",
        "redis://127.0.0.1:1/0",
        prelude="sys.modules['redis'] = None  # as if redis-py were not installed",
        capture_output=True,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0
    assert "pip install redis" in done.stderr
