"""The protobuf side of enrichment: hand-encoded attributes equal upb's, edits touch only what changed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from genai_cost.gateway.enrich import apply_attributes, encode_attribute


@pytest.mark.parametrize(
    "value",
    ["priced", "", "ünïcode ✓" * 20, True, False, 0, 1, 300, -1, -(2**63), 2**63 - 1, 0.0, 1e-9, -2.5, 1e300],
)
def test_encoded_attribute_is_what_upb_would_write(value):
    expected = Span()
    kv = expected.attributes.add(key="genai_cost.some.key")
    if isinstance(value, bool):
        kv.value.bool_value = value
    elif isinstance(value, int):
        kv.value.int_value = value
    elif isinstance(value, float):
        kv.value.double_value = value
    else:
        kv.value.string_value = value
    for _ in range(2):  # the second time from the caches
        got = Span()
        got.MergeFromString(encode_attribute("genai_cost.some.key", value))
        assert got == expected
        assert got.SerializeToString() == expected.SerializeToString()


def test_apply_attributes_appends_overwrites_and_removes_only_what_changed():
    span = Span(name="s")
    span.attributes.extend(
        [
            KeyValue(key="keep", value=AnyValue(string_value="x")),
            KeyValue(key="replace", value=AnyValue(int_value=1)),
            KeyValue(key="drop", value=AnyValue(double_value=2.0)),
            KeyValue(key="keep.too", value=AnyValue(bool_value=True)),
        ]
    )
    old = {"keep": "x", "replace": 1, "drop": 2.0, "keep.too": True}
    new = {"keep": old["keep"], "replace": 5, "keep.too": old["keep.too"], "added": 0.5}
    apply_attributes(span, old, new)
    assert [(kv.key, kv.value.WhichOneof("value")) for kv in span.attributes] == [
        ("keep", "string_value"),
        ("replace", "int_value"),
        ("keep.too", "bool_value"),
        ("added", "double_value"),
    ]
    assert span.attributes[1].value.int_value == 5 and span.attributes[3].value.double_value == 0.5


def _attribute_names() -> list[str]:
    from genai_cost import attributes as attr

    return [v for k, v in vars(attr).items() if k.isupper() and isinstance(v, str)]


@settings(max_examples=300)
@given(
    st.dictionaries(
        st.sampled_from(_attribute_names()),
        st.one_of(st.text(max_size=10), st.integers(), st.sampled_from(["chat", "embeddings", "openai"])),
        max_size=12,
    )
)
def test_without_a_marker_key_no_span_is_a_genai_call(attributes):
    # The gateway skips decoding spans with none of these keys; is_genai_call must agree.
    from genai_cost.span_reader import GENAI_MARKER_KEYS, is_genai_call

    for key in GENAI_MARKER_KEYS:
        attributes.pop(key, None)
    assert not is_genai_call(attributes)


def test_a_genai_span_with_an_empty_value_is_priced_and_keeps_it():
    """The decoder's fast path leaves an AnyValue with nothing set to its slow path (None)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from genai_cost import attributes as attr
    from genai_cost.gateway.enrich import Enricher
    from genai_cost.metrics import CostMetrics
    from genai_cost.processor import CostDecider

    request = ExportTraceServiceRequest()
    span = (
        request.resource_spans.add()
        .scope_spans.add()
        .spans.add(trace_id=b"\x01" * 16, span_id=b"\x02" * 8, parent_span_id=b"\x03" * 8)
    )
    values = {attr.OPERATION_NAME: "chat", attr.REQUEST_MODEL: "gpt-4o", attr.PROVIDER_NAME: "openai"}
    values |= {attr.USAGE_INPUT_TOKENS: 1000, attr.USAGE_OUTPUT_TOKENS: 100}
    for key, value in values.items():
        kv = span.attributes.add(key=key)
        kv.value.string_value = value if isinstance(value, str) else ""
        if not isinstance(value, str):
            kv.value.int_value = value
    span.attributes.add(key="empty.value")  # no value set at all
    before = span.attributes[-1].SerializeToString()
    counts = Enricher(CostDecider(metrics=CostMetrics(deferred=False))).enrich(request)
    assert counts.priced == 1 and counts.errors == 0
    keys = [kv.key for kv in span.attributes]
    assert keys[: len(values) + 1] == [*values, "empty.value"] and attr.COST_AMOUNT in keys
    assert span.attributes[len(values)].SerializeToString() == before
