"""Fuzzing: no input makes a decoder raise anything but ProtocolError."""

from __future__ import annotations

import contextlib
import json

from hypothesis import given, settings, strategies as st

from livehandle._errors import ProtocolError
from livehandle._wire.codec import decode_client, decode_server
from tests.wire.strategies import CLIENT_KEYS, SERVER_KEYS, json_values

# Keys that appear in real messages, so generated objects often reach deep into the decoders.
WIRE_KEYS = sorted(
    {
        *CLIENT_KEYS,
        *SERVER_KEYS,
        "modelTurn",
        "parts",
        "inlineData",
        "data",
        "mimeType",
        "text",
        "turnComplete",
        "functionCalls",
        "functionResponses",
        "id",
        "name",
        "args",
        "timeLeft",
        "turns",
        "role",
        "audio",
        "usageMetadata",
        "model",
        "generationConfig",
        "responseModalities",
        "newHandle",
        "resumable",
        "ids",
        "lastConsumedClientMessageIndex",
        "tools",
        "type",
    }
)
wireish = st.recursive(
    json_values,
    lambda inner: (
        st.dictionaries(st.sampled_from(WIRE_KEYS), inner, max_size=4) | st.lists(inner, max_size=3)
    ),
    max_leaves=20,
)
envelopes = st.dictionaries(st.sampled_from(WIRE_KEYS), wireish, min_size=1, max_size=2)


def _decode_both(data: bytes | str) -> None:
    for decode in (decode_server, decode_client):
        with contextlib.suppress(ProtocolError):
            decode(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=256))
def test_arbitrary_bytes_raise_only_protocol_error(data: bytes) -> None:
    _decode_both(data)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_raises_only_protocol_error(value: object) -> None:
    _decode_both(json.dumps(value))


@settings(max_examples=500, deadline=None)
@given(envelopes)
def test_message_shaped_json_raises_only_protocol_error(value: object) -> None:
    _decode_both(json.dumps(value).encode())
