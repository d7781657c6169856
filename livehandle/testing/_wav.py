"""Parse WAV files into PCM16, in pure Python (what :func:`livehandle.testing.audio.read_wav` uses).

The stdlib :mod:`wave` module reads only plain integer PCM (format tag 1); WAV files written by
sox, ffmpeg, DAWs and phone recorders are often ``WAVE_FORMAT_EXTENSIBLE`` (tag 0xFFFE, used for
more than two channels or more than 16 bits) or IEEE float (tag 3).  This module walks the RIFF
chunks itself and converts every supported encoding to signed 16-bit little-endian samples:

* integer PCM whose container is 8 bits (unsigned, as WAV stores it), 16, 24 or 32 bits (or any
  whole number of bytes): the top 16 bits of each sample are kept (truncation, no dither);
* IEEE float, 32 or 64 bits: clipped to [-1, 1] and scaled by 32767, rounded; NaN reads as 0;
* either one plain or inside ``WAVE_FORMAT_EXTENSIBLE`` (its sub-format GUID says which).

The RIFF walk tolerates what real files do: chunks in any order, chunks it does not know (LIST,
fact, bext, cue...) skipped, the pad byte after odd-sized chunks (also when the last one lacks
it), a RIFF size that disagrees with the file, and a streamed data chunk whose size is
0xFFFFFFFF (read to the end of the file).  A partial last frame is dropped.  Everything else that
is wrong, a truncated header or chunk, a missing ``fmt`` or ``data`` chunk, an inconsistent
``fmt``, an unsupported encoding, raises :class:`ValueError` naming the file and the problem.
"""

from __future__ import annotations

import struct
import sys
from array import array

__all__ = ["SUPPORTED", "parse_wav"]

#: What the parser reads, for error messages.
SUPPORTED = (
    "integer PCM (8, 16, 24 or 32 bits) and IEEE float (32 or 64 bits), plain or "
    "WAVE_FORMAT_EXTENSIBLE"
)

_PCM = 0x0001
_FLOAT = 0x0003
_EXTENSIBLE = 0xFFFE
# The last 14 bytes of every KSDATAFORMAT_SUBTYPE_* GUID whose first two bytes are a format tag.
_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
_STREAMED = 0xFFFFFFFF  # a data size left unset by a writer that could not seek back
_NAMES = {
    0x0002: "Microsoft ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MPEG Layer 3",
    0x0161: "Windows Media Audio",
    0x1610: "AAC",
    0xF1AC: "FLAC",
}
_BIG_ENDIAN = sys.byteorder == "big"
# unsigned 8-bit sample -> its little-endian signed 16-bit bytes
_U8_TO_16 = [((value - 128) << 8).to_bytes(2, "little", signed=True) for value in range(256)]


def _format_name(tag: int) -> str:
    name = _NAMES.get(tag)
    return f"0x{tag:04X}" + (f" ({name})" if name else "")


def _chunks(data: bytes, name: str) -> dict[bytes, bytes]:
    """The first chunk of each kind in a RIFF/WAVE file, by id."""
    if len(data) < 12:
        raise ValueError(f"{name}: not a WAV file (empty or truncated header)")
    riff, form = data[0:4], data[8:12]
    if riff in (b"RF64", b"RIFX") and form == b"WAVE":
        kind = "RF64" if riff == b"RF64" else "big-endian RIFX"
        raise ValueError(f"{name}: {kind} WAV files are not supported; supported: {SUPPORTED}")
    if riff != b"RIFF" or form != b"WAVE":
        raise ValueError(f"{name}: not a WAV file (it does not start with RIFF....WAVE)")
    found: dict[bytes, bytes] = {}
    at = 12
    while at + 8 <= len(data):
        chunk_id = data[at : at + 4]
        (size,) = struct.unpack_from("<I", data, at + 4)
        start = at + 8
        if chunk_id == b"data" and size == _STREAMED:
            size = len(data) - start
        end = start + size
        if end > len(data):
            what = chunk_id.decode("latin-1")
            raise ValueError(
                f"{name}: truncated WAV file: its {what!r} chunk declares {size} bytes but only "
                f"{len(data) - start} follow"
            )
        found.setdefault(chunk_id, data[start:end])
        at = end + (size & 1)  # chunks are padded to an even size
    if at < len(data) and data[at:].strip(b"\x00"):
        raise ValueError(f"{name}: truncated WAV file (a chunk header is cut off)")
    return found


def _decode_fmt(fmt: bytes, name: str) -> tuple[int, int, int, int]:
    """``(encoding tag, channels, sample_rate, bytes per sample)`` from a ``fmt`` chunk."""
    if len(fmt) < 16:
        raise ValueError(f"{name}: truncated WAV file (its fmt chunk has {len(fmt)} bytes)")
    tag, channels, sample_rate, _byte_rate, block_align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE:
        if len(fmt) < 40:
            raise ValueError(
                f"{name}: WAVE_FORMAT_EXTENSIBLE fmt chunk too short ({len(fmt)} bytes, need 40)"
            )
        sub_tag, tail = struct.unpack_from("<H", fmt, 24)[0], fmt[26:40]
        if tail != _GUID_TAIL:
            raise ValueError(
                f"{name}: unsupported WAVE_FORMAT_EXTENSIBLE sub-format {fmt[24:40].hex()}; "
                f"supported: {SUPPORTED}"
            )
        tag = sub_tag
    if tag not in (_PCM, _FLOAT):
        raise ValueError(
            f"{name}: unsupported WAV format {_format_name(tag)}; supported: {SUPPORTED}"
        )
    if channels == 0:
        raise ValueError(f"{name}: invalid WAV header: 0 channels")
    if sample_rate == 0:
        raise ValueError(f"{name}: invalid WAV header: sample rate 0")
    if block_align == 0 or block_align % channels:
        raise ValueError(
            f"{name}: invalid WAV header: block align {block_align} for {channels} channels"
        )
    width = block_align // channels
    if bits == 0 or bits > 8 * width:
        raise ValueError(
            f"{name}: invalid WAV header: {bits}-bit samples in {8 * width}-bit containers"
        )
    if tag == _FLOAT and width not in (4, 8):
        raise ValueError(
            f"{name}: unsupported WAV format: {8 * width}-bit float; supported: {SUPPORTED}"
        )
    if tag == _PCM and width > 4:
        raise ValueError(
            f"{name}: unsupported WAV format: {8 * width}-bit integer PCM; supported: {SUPPORTED}"
        )
    return tag, channels, sample_rate, width


def _float_to_pcm16(samples: bytes, width: int) -> bytes:
    values = array("f" if width == 4 else "d")
    values.frombytes(samples)
    if _BIG_ENDIAN:
        values.byteswap()
    out = array(
        "h",
        [
            0 if v != v else 32767 if v >= 1.0 else -32767 if v <= -1.0 else round(v * 32767)
            for v in values
        ],
    )
    if _BIG_ENDIAN:
        out.byteswap()
    return out.tobytes()


def _int_to_pcm16(samples: bytes, width: int) -> bytes:
    if width == 2:
        return samples
    if width == 1:
        return b"".join(map(_U8_TO_16.__getitem__, samples))
    out = bytearray(len(samples) // width * 2)
    out[0::2] = samples[width - 2 :: width]  # the two most significant bytes of each sample
    out[1::2] = samples[width - 1 :: width]
    return bytes(out)


def parse_wav(data: bytes, name: str) -> tuple[bytes, int, int]:
    """Decode the bytes of a WAV file to ``(pcm16, sample_rate, channels)``.

    Args:
        data: the whole file.
        name: how to name the file in error messages.

    Returns:
        Little-endian PCM16 samples (channels interleaved, whole frames only), the sample rate
        in Hz and the channel count.

    Raises:
        ValueError: the data is not a WAV file, is truncated or inconsistent, or uses an encoding
            this parser does not read (the message names it and lists what is supported).
    """
    chunks = _chunks(data, name)
    fmt = chunks.get(b"fmt ")
    if fmt is None:
        raise ValueError(f"{name}: invalid WAV file: no fmt chunk")
    tag, channels, sample_rate, width = _decode_fmt(fmt, name)
    samples = chunks.get(b"data")
    if samples is None:
        raise ValueError(f"{name}: invalid WAV file: no data chunk")
    frame = width * channels
    samples = samples[: len(samples) - len(samples) % frame]
    if tag == _FLOAT:
        return _float_to_pcm16(samples, width), sample_rate, channels
    return _int_to_pcm16(samples, width), sample_rate, channels
