"""The stand-in's eventstream encoder, checked against botocore's own decoder."""

from __future__ import annotations

import struct
import zlib

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from genai_cost.instrumentation.bedrock.models import family_of
from genai_cost.testing.bedrock_wire import encode_message


def decode(data: bytes) -> list:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


def test_messages_round_trip_through_botocore() -> None:
    first = encode_message({":event-type": "chunk", ":message-type": "event"}, b'{"bytes":"e30="}')
    second = encode_message({":message-type": "exception", ":exception-type": "throttlingException"}, b"{}")
    messages = decode(first + second)

    assert [m.headers for m in messages] == [
        {":event-type": "chunk", ":message-type": "event"},
        {":message-type": "exception", ":exception-type": "throttlingException"},
    ]
    assert messages[0].payload == b'{"bytes":"e30="}'
    total, headers_length = struct.unpack("!II", first[:8])
    assert total == len(first) and headers_length == len(first) - 16 - len(b'{"bytes":"e30="}')
    assert struct.unpack("!I", first[-4:])[0] == zlib.crc32(first[:-4])


def test_a_corrupted_message_fails_botocore_checksum() -> None:
    data = bytearray(encode_message({":event-type": "chunk"}, b"payload"))
    data[-6] ^= 0xFF
    with pytest.raises(ChecksumMismatch):
        decode(bytes(data))


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("anthropic.claude-3-haiku-20240307-v1:0", "anthropic"),
        ("arn:aws:bedrock:us-east-1:1:inference-profile/eu.meta.llama3-2-3b-instruct-v1:0", "meta"),
        ("apac.amazon.nova-pro-v1:0", "nova"),
        ("amazon.titan-text-express-v1", "titan"),
        ("mistral.mistral-large-2402-v1:0", "mistral"),
        ("cohere.command-r-v1:0", "cohere"),
        ("arn:aws:bedrock:us-east-1:1:application-inference-profile/a1b2c3", None),
    ],
)
def test_family_of_model_ids(model: str, family: str | None) -> None:
    assert family_of(model) == family
