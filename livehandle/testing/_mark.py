"""The words of :func:`livehandle.testing.audio.speech`, carried inside its samples.

The emulator cannot recognise words, so :func:`~livehandle.testing.audio.speech` writes the text
it stands for into the audio itself, where the emulator reads it back: a *speech mark* in the
least significant bit of consecutive samples (one bit per sample, most significant bit first):

=========  =======  ==================================================================
field      bits     content
=========  =======  ==================================================================
sync       32       the constant ``0xB5E319A7``
length     16       ``n``, the number of UTF-8 bytes of the text (1 to 4096)
text       8 ``n``  the text, UTF-8
check      32       CRC-32 of the length and text bytes
=========  =======  ==================================================================

Changing the lowest bit moves a sample by at most 1/32768 of full scale (about -90 dBFS), so the
mark changes neither how the audio sounds nor what the emulator's VAD detects.  It survives any
chunking and base64 transport, since the bytes arrive unchanged, but not resampling, mixing or
any gain change.  A mark is recognised only when sync, length and checksum all agree, so
ordinary audio is practically never taken for one (a false sync needs 32 matching bits, a false
checksum 32 more).
"""

from __future__ import annotations

import zlib

__all__ = ["MAX_TEXT_BYTES", "MarkReader", "embed", "mark_bits"]

#: The longest text (in UTF-8 bytes) a mark carries.
MAX_TEXT_BYTES = 4096
#: Texts a reader holds until a speech turn takes them; older ones are dropped beyond this.
MAX_PENDING = 64

_SYNC = 0xB5E319A7
_SYNC_BITS = bytes((_SYNC >> (31 - i)) & 1 for i in range(32))
_HEADER = 32 + 16
_LSB = bytes(value & 1 for value in range(256))  # a sample's low byte -> its lowest bit
_DIGITS = bytes.maketrans(b"\x00\x01", b"01")


def _bits(value: int, count: int) -> list[int]:
    return [(value >> (count - 1 - i)) & 1 for i in range(count)]


def _payload(text: str) -> bytes:
    data = text.encode("utf-8")
    if not data:
        raise ValueError("the text of speech must not be empty")
    if len(data) > MAX_TEXT_BYTES:
        raise ValueError(
            f"the text of speech is {len(data)} UTF-8 bytes; at most {MAX_TEXT_BYTES} fit a mark"
        )
    return data


def mark_bits(text: str) -> int:
    """How many samples the mark of ``text`` needs.

    Raises:
        ValueError: the text is empty or longer than :data:`MAX_TEXT_BYTES` in UTF-8.
    """
    return _HEADER + 8 * len(_payload(text)) + 32


def embed(pcm: bytes, text: str) -> bytes:
    """``pcm`` (PCM16 little-endian) with the mark of ``text`` in its first samples' lowest bits.

    Raises:
        ValueError: the text is empty or too long, or ``pcm`` has fewer samples than the mark
            needs (:func:`mark_bits`).
    """
    data = _payload(text)
    body = len(data).to_bytes(2, "big") + data
    bits = _bits(_SYNC, 32)
    for byte in body:
        bits += _bits(byte, 8)
    bits += _bits(zlib.crc32(body), 32)
    if len(pcm) // 2 < len(bits):
        raise ValueError(f"{len(pcm) // 2} samples cannot carry a {len(bits)}-bit speech mark")
    out = bytearray(pcm)
    for index, bit in enumerate(bits):
        out[2 * index] = (out[2 * index] & 0xFE) | bit
    return bytes(out)


class MarkReader:
    """Finds speech marks in a PCM16 stream fed chunk by chunk.

    The texts found wait in :meth:`take` for the next speech turn.  Memory is bounded: between
    chunks the reader keeps at most one mark's worth of bits (about 33,000) and
    :data:`MAX_PENDING` texts, dropping the oldest text beyond that.
    """

    def __init__(self) -> None:
        self._bits = b""  # one byte (0 or 1) per sample not yet ruled out as part of a mark
        self._pending: list[str] = []

    def feed(self, pcm: bytes) -> None:
        """Scan more PCM16 little-endian samples (whole samples) for marks."""
        bits = self._bits + pcm[0::2].translate(_LSB)
        start = 0
        while True:
            found = bits.find(_SYNC_BITS, start)
            if found < 0:
                start = max(start, len(bits) - len(_SYNC_BITS) + 1)
                break
            if len(bits) - found < _HEADER:
                start = found
                break
            size = int(bits[found + 32 : found + _HEADER].translate(_DIGITS), 2)
            if not 0 < size <= MAX_TEXT_BYTES:
                start = found + 1
                continue
            end = found + _HEADER + 8 * size + 32
            if len(bits) < end:
                start = found
                break
            body = int(bits[found + 32 : end - 32].translate(_DIGITS), 2).to_bytes(2 + size, "big")
            check = int(bits[end - 32 : end].translate(_DIGITS), 2)
            text = body[2:].decode("utf-8", errors="replace")
            if zlib.crc32(body) != check or not text:
                start = found + 1
                continue
            self._pending.append(text)
            del self._pending[:-MAX_PENDING]
            start = end
        self._bits = bits[start:]

    def take(self) -> str | None:
        """The texts found since the last call, joined by spaces; None if there are none."""
        if not self._pending:
            return None
        text = " ".join(self._pending)
        self._pending.clear()
        return text
