"""Shared fixtures and oracles for the Bedrock instrumentation tests.

Real boto3 against the local stand-in: ``endpoint_url`` at the stub and dummy credentials, so
SigV4 signing, the REST-JSON serializer and parser, botocore's error factory and its eventstream
decoder all run as they do against AWS. Retries are off (``total_max_attempts=1``): a scripted
error must reach the test, not be retried into a default success.

Not a conftest.py (it would shadow the root one); test modules import what they need.
"""

from __future__ import annotations

from typing import Any

import boto3
import botocore.config
import pytest
from conftest import (  # noqa: F401 - re-exported for the test modules
    PRICE_TOLERANCE as TOLERANCE,
    assert_priced_at,
    assert_usage,
    attrs,
    genai_prices_cost,
    genai_spans,
    instrumentation_fixtures,
    only_span,
)
from opentelemetry.sdk.trace import ReadableSpan

from genai_cost.instrumentation.bedrock import BedrockInstrumentor
from genai_cost.testing import StubProvider

MESSAGES = [{"role": "user", "content": [{"text": "Say this is a test"}]}]
SECRET_KEY = "aws-secret-key-do-not-record"
NO_RETRIES = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})


# Clients used inside uninstrumented() must be created inside it.
instrument, uninstrumented, instrumented, no_content_capture = instrumentation_fixtures(BedrockInstrumentor)


def make_client(stub: StubProvider, service: str = "bedrock-runtime") -> Any:
    return boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url=stub.url,
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key=SECRET_KEY,
        config=NO_RETRIES,
    )


@pytest.fixture
def client(stub: StubProvider) -> Any:
    return make_client(stub)


def path(model: str, op: str) -> str:
    """The request path botocore sends for ``model`` (its id percent-encoded, ``/`` included)."""
    from urllib.parse import quote

    return f"/model/{quote(model, safe='')}/{op}"


# --- oracles ---------------------------------------------------------------------------------


def genai_prices_usage(
    input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0
) -> dict[str, int]:
    """genai-prices usage for Bedrock counts (Bedrock's input excludes cache; genai-prices' includes it)."""
    usage = {
        "input_tokens": input_tokens + cache_read + cache_write,
        "output_tokens": output_tokens,
        "cache_read_tokens": cache_read,
        "cache_write_tokens": cache_write,
    }
    return {k: v for k, v in usage.items() if v}


def oracle(model_ref: str, usage: dict[str, int]) -> float:
    """genai-prices' own price on AWS for this usage (never our catalog)."""
    return genai_prices_cost(model_ref, usage, "aws")


def assert_priced(a: dict[str, Any], model_ref: str, usage: dict[str, int]) -> None:
    assert_priced_at(a, oracle(model_ref, usage))
    assert a["genai_cost.price.provider"] == "aws"


__all__ = ["attrs", "genai_spans", "only_span"]  # re-exported for the test modules


def assert_no_secrets(span: ReadableSpan, *texts: str) -> None:
    values = " ".join(str(v) for v in (span.attributes or {}).values())
    for text in (SECRET_KEY, "AKIDTEST", *texts):
        assert text not in values
