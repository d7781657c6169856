"""Client text frames for the send hot path (RFC 6455 §5.2, §5.3), without a copy per stride.

A client must mask every frame it sends with a fresh, unpredictable 32-bit key (§5.3).  The
general-purpose encoder of wsproto copies the payload into a ``bytearray`` and masks it in four
strided passes; a 20 ms microphone frame is about 900 bytes of JSON, and that encoder costs more
than everything else the frame needs.  :func:`masked_text_frame` builds the same bytes with one
big-integer XOR.  The masking keys come from the operating system's CSPRNG (``os.urandom``), a
page at a time, so a frame costs no system call for its key.

Only unfragmented text frames of a connection that negotiated no extension are built here; the
transport falls back to wsproto for everything else.
"""

from __future__ import annotations

import os
import struct

__all__ = ["MaskingKeys", "masked_text_frame"]

_FIN_TEXT = 0x81  # FIN, RSV1-3 clear, opcode 1 (text)
_MASKED = 0x80
_KEYS_PER_PAGE = 1024


class MaskingKeys:
    """Fresh 4-byte masking keys from ``os.urandom``, fetched 1024 at a time."""

    __slots__ = ("_next", "_page")

    def __init__(self) -> None:
        self._page = b""
        self._next = 0

    def take(self) -> bytes:
        """The next key; never the same bytes twice from one page."""
        start = self._next
        if start >= len(self._page):
            self._page = os.urandom(4 * _KEYS_PER_PAGE)
            start = 0
        self._next = start + 4
        return self._page[start : start + 4]


def masked_text_frame(payload: bytes, key: bytes) -> bytes:
    """One final, masked text frame carrying ``payload`` (UTF-8 text), masked with ``key``.

    Raises:
        ValueError: ``key`` is not 4 bytes.
    """
    if len(key) != 4:
        raise ValueError(f"a masking key is 4 bytes, got {len(key)}")
    size = len(payload)
    if size < 126:
        header = bytes((_FIN_TEXT, _MASKED | size))
    elif size < 1 << 16:
        header = struct.pack("!BBH", _FIN_TEXT, _MASKED | 126, size)
    else:
        header = struct.pack("!BBQ", _FIN_TEXT, _MASKED | 127, size)
    if not size:
        return header + key
    mask = key * (size // 4 + 1)
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(mask[:size], "little")
    return header + key + masked.to_bytes(size, "little")
