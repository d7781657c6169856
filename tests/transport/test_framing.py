"""The send hot path's client text frames: what a WebSocket server decodes from them."""

from __future__ import annotations

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import TextMessage

from livehandle._transport.framing import MaskingKeys, masked_text_frame


def decoded(frame: bytes) -> list[str]:
    server = Connection(ConnectionType.SERVER)
    server.receive_data(frame)
    events = list(server.events())
    assert all(isinstance(event, TextMessage) and event.message_finished for event in events)
    return [event.data for event in events if isinstance(event, TextMessage)]


@pytest.mark.parametrize("size", [0, 1, 3, 4, 5, 125, 126, 127, 65535, 65536, 70001])
def test_a_server_decodes_the_text_whatever_the_length(size: int) -> None:
    text = ("é{x}" * size)[:size]
    frame = masked_text_frame(text.encode(), b"\x01\xfe\x7f\x80")
    assert decoded(frame) == [text]
    assert frame[0] == 0x81 and frame[1] & 0x80  # final text frame, masked (RFC 6455 §5.3)


def test_the_payload_on_the_wire_is_masked() -> None:
    payload = b'{"realtimeInput": {}}'
    frame = masked_text_frame(payload, b"\x11\x22\x33\x44")
    assert payload not in frame
    assert frame[2:6] == b"\x11\x22\x33\x44"


def test_a_masking_key_is_four_bytes() -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        masked_text_frame(b"x", b"abc")


def test_masking_keys_are_fresh_across_pages() -> None:
    keys = MaskingKeys()
    taken = [keys.take() for _ in range(3000)]  # about three pages
    assert all(len(key) == 4 for key in taken)
    assert len(set(taken)) > 2990  # random 32-bit keys: a collision is rare
    assert taken[:1024] != taken[1024:2048]
