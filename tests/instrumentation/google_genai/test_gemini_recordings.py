"""Conformance: the recorded Vertex AI traffic in ../shared/recordings/vertexai, replayed to the
real google-genai SDK, gives one correct span per exchange.

The recordings were made by the older ``vertexai`` SDK, which asks for ``$alt=json;enum-encoding=int``
and so got enums as numbers; google-genai asks for (and parses only) enum names. Each response is
replayed as the server sends it to google-genai: the same document with the enum numbers written
as their proto names (``ENUM_NAMES``; a number outside the table fails the test). The request is
rebuilt from the recording (model, API version, contents, generation config, system instruction,
tools), and google-genai is checked to send the recorded contents to the recorded path. Expected
values come from the recording and from genai-prices, never from our code.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from gemini_support import (
    assert_priced,
    assert_usage,
    attrs,
    instrumented,
    only_span,
    vertex_client,
)
from google.genai import errors, types
from opentelemetry.trace import StatusCode

from conftest import RECORDINGS
from genai_cost.testing import CassetteReplayer, RecordedInteraction, StubProvider

__all__ = ["instrumented"]

CASSETTE_DIR = RECORDINGS / "vertexai"
CASSETTES = sorted(CASSETTE_DIR.glob("*.yaml")) if CASSETTE_DIR.is_dir() else []

#: google.cloud.aiplatform.v1 proto enum numbers (Candidate.FinishReason, Modality, TrafficType,
#: and the schema Type of the recorded requests' tool declarations).
ENUM_NAMES: dict[str, dict[int, str]] = {
    "type": {0: "TYPE_UNSPECIFIED", 1: "STRING", 2: "NUMBER", 3: "INTEGER", 4: "BOOLEAN", 5: "ARRAY", 6: "OBJECT"},
    "finishReason": {
        0: "FINISH_REASON_UNSPECIFIED",
        1: "STOP",
        2: "MAX_TOKENS",
        3: "SAFETY",
        4: "RECITATION",
        5: "OTHER",
    },
    "modality": {0: "MODALITY_UNSPECIFIED", 1: "TEXT", 2: "IMAGE", 3: "VIDEO", 4: "AUDIO", 5: "DOCUMENT"},
    "trafficType": {0: "TRAFFIC_TYPE_UNSPECIFIED", 1: "ON_DEMAND", 2: "PROVISIONED_THROUGHPUT"},
}


def named_enums(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ENUM_NAMES[k][v] if k in ENUM_NAMES and isinstance(v, int) else named_enums(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [named_enums(v) for v in value]
    return value


def camel_keys(value: Any) -> Any:
    """Proto JSON accepts both spellings of a field, and of base64 (google-genai sends the URL-safe
    alphabet): compare requests in one spelling, inline data as its bytes."""
    if isinstance(value, dict):
        return {_camel(k): _bytes(v) if k == "data" else camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_keys(v) for v in value]
    return value


def _bytes(data: Any) -> Any:
    return base64.urlsafe_b64decode(data.replace("+", "-").replace("/", "_")) if isinstance(data, str) else data


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def as_google_genai_sees_it(interaction: RecordedInteraction) -> RecordedInteraction:
    document = named_enums(interaction.response_json())
    return dataclasses.replace(interaction, response_body=json.dumps(document).encode())


@pytest.fixture(params=CASSETTES or [None], ids=lambda p: p.stem if p else "absent")
def cassette(request: pytest.FixtureRequest) -> Path:
    if request.param is None:
        pytest.skip(f"no recordings at {CASSETTE_DIR} (a clone without ../shared)")
    return request.param


def sdk_call(interaction: RecordedInteraction) -> tuple[str, str, Any, types.GenerateContentConfig | None]:
    """(API version, model, contents, config) that make google-genai send the recorded request."""
    path = interaction.path
    assert path.endswith(":generateContent"), f"no SDK method for {path} in the conformance map"
    api_version = path.split("/")[1]
    model = path.rsplit("/", 1)[1].removesuffix(":generateContent")
    body = named_enums(interaction.request_body)
    settings = dict(body.get("generationConfig") or {})
    for key in ("systemInstruction", "tools", "toolConfig", "safetySettings"):
        if key in body:
            settings[key] = body[key]
    config = types.GenerateContentConfig.model_validate(settings) if settings else None
    return api_version, model, body["contents"], config


def test_recorded_exchange(cassette: Path, stub: StubProvider, span_exporter: Any) -> None:
    replayer = CassetteReplayer(cassette)
    replayer.interactions = [as_google_genai_sees_it(i) for i in replayer.interactions]
    with StubProvider(cassette=replayer) as replaying:
        for interaction in list(replayer.interactions):
            span_exporter.clear()
            api_version, model, contents, config = sdk_call(interaction)
            client = vertex_client(replaying, api_version)
            if interaction.status >= 400:
                with pytest.raises(errors.APIError) as caught:
                    client.models.generate_content(model=model, contents=contents, config=config)
                assert caught.value.code == interaction.status
            else:
                response = client.models.generate_content(model=model, contents=contents, config=config)
                assert response.response_id == interaction.response_json()["responseId"]
            sent = replaying.last_request
            assert sent.path == interaction.path
            assert camel_keys(sent.body["contents"]) == camel_keys(interaction.request_body["contents"])
            check_span(span_exporter, interaction)
    assert replayer.remaining == []


def check_span(span_exporter: Any, interaction: RecordedInteraction) -> None:
    span = only_span(span_exporter)
    a = attrs(span)
    assert a["gen_ai.provider.name"] == "gcp.vertex_ai"
    document = interaction.response_json()
    if interaction.status >= 400:
        error_class = errors.ClientError if interaction.status < 500 else errors.ServerError
        assert a["error.type"] == f"google.genai.errors.{error_class.__name__}"
        assert span.status.status_code is StatusCode.ERROR
        assert "genai_cost.amount" not in a
        return
    assert a["gen_ai.response.model"] == document["modelVersion"]
    assert a["gen_ai.response.id"] == document["responseId"]
    assert a["gen_ai.response.finish_reasons"] == tuple(c["finishReason"].lower() for c in document["candidates"])
    assert_usage(span, document["usageMetadata"])
    assert_priced(span, document, document["modelVersion"])
