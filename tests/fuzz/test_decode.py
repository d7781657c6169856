"""Fuzz the codec: only ProtocolError comes out of a decoder, and what decodes re-encodes.

Three kinds of input, for both ``decode_server`` and ``decode_client``: arbitrary bytes and text,
arbitrary JSON values, and valid messages of every kind mutated (``tests/fuzz/mutations.py``).
A message that decodes must encode again, and decode to the same message (the codec is a
fixed point after one pass: nothing it accepts is something it cannot send).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import event, given, note, strategies as st

from livehandle import ProtocolError
from livehandle.lowlevel import decode_client, decode_server, encode_client, encode_server
from tests.fuzz.known_bugs import CODEC_BUGS, describe, known
from tests.fuzz.mutations import frames, valid_client_trees, valid_server_trees
from tests.fuzz.profiles import FUZZ
from tests.wire.strategies import json_values

# The long hostile inputs (a 5000-digit number) make long reprs of failing examples; fine here.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")

SIDES = ((decode_server, encode_server), (decode_client, encode_client))


def check_one(data: bytes | str, decode: Any, encode: Any) -> None:
    """Decode ``data``; only ProtocolError may escape, and a success must survive a round trip."""
    note(f"{decode.__name__} input: {describe(data)}")
    try:
        message = decode(data)
    except ProtocolError:
        event(f"{decode.__name__}: ProtocolError")
        return
    except Exception as exc:
        if (bug := known(exc, CODEC_BUGS)) is None:
            raise
        event(f"known bug {bug.name}")
        return
    event(f"{decode.__name__}: {type(message).__name__}")
    try:
        text = encode(message)
    except ProtocolError as exc:
        if (bug := known(exc, CODEC_BUGS)) is None:
            raise AssertionError(f"decoded {message!r:.300} but cannot re-encode it") from exc
        event(f"known bug {bug.name}")
        return
    assert decode(text) == message, f"re-encoded {text!r:.300} decodes differently"


def check_both(data: bytes | str) -> None:
    for decode, encode in SIDES:
        check_one(data, decode, encode)


@FUZZ
@given(st.binary(max_size=512) | st.text(max_size=256))
def test_arbitrary_bytes_and_text(data: bytes | str) -> None:
    check_both(data)


@FUZZ
@given(json_values, st.booleans())
def test_arbitrary_json_values(value: object, binary: bool) -> None:
    text = json.dumps(value)
    check_both(text.encode() if binary else text)


@FUZZ
@given(frames(valid_server_trees))
def test_mutated_server_messages(frame: bytes | str) -> None:
    check_one(frame, decode_server, encode_server)


@FUZZ
@given(frames(valid_client_trees))
def test_mutated_client_messages(frame: bytes | str) -> None:
    check_one(frame, decode_client, encode_client)
