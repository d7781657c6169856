"""Fuzz the codec with valid messages of every kind, mutated (``tests/fuzz/mutations.py``).

Only ProtocolError comes out of ``decode_server`` and ``decode_client``; a message that decodes
must encode again and decode to the same message (nothing the codec accepts is something it
cannot send).  Arbitrary bytes and JSON values are in ``test_arbitrary.py``.
"""

from __future__ import annotations

import pytest
from hypothesis import given

from livehandle.lowlevel import decode_client, decode_server, encode_client, encode_server
from tests.fuzz.checks import check_decode
from tests.fuzz.mutations import frames, valid_client_trees, valid_server_trees
from tests.fuzz.profiles import FUZZ

# The long hostile inputs (a 5000-digit number) make long reprs of failing examples; fine here.
pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")


@FUZZ
@given(frames(valid_server_trees))
def test_mutated_server_messages(frame: bytes | str) -> None:
    check_decode(frame, decode_server, encode_server)


@FUZZ
@given(frames(valid_client_trees))
def test_mutated_client_messages(frame: bytes | str) -> None:
    check_decode(frame, decode_client, encode_client)
