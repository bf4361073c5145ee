"""The first run of an app that uses one SDK, under ``opentelemetry-instrument``, with every SDK
genai-cost supports installed: the call is priced, stderr stays empty (also with genai-cost
switched off), and the SDKs the app never imported stay unimported.

``scripts/ci-minimal.sh`` runs the same check in fresh venvs holding one SDK each.
"""

from __future__ import annotations

import pytest

from genai_cost.testing.first_run import run_app

# The official and OpenLLMetry openai instrumentations and the official botocore one are
# installed for other tests; they are not ours to judge (the botocore one imports botocore).
OTHERS_OFF = {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,botocore,aiobotocore"}


@pytest.mark.parametrize("sdk", ["openai", "anthropic"])
def test_one_sdk_app_is_priced_with_nothing_on_stderr(sdk: str) -> None:
    run = run_app(sdk, OTHERS_OFF)
    assert run.problems() == [], run.stdout


def test_switched_off_genai_cost_says_nothing_either() -> None:
    run = run_app("openai", {**OTHERS_OFF, "GENAI_COST_ENABLED": "false"})
    assert run.problems(expect_priced=False) == [], run.stdout
