"""read_wav and load_wav on every common WAV encoding, from RIFF bytes written here."""

from __future__ import annotations

import math
import struct
import wave
from array import array

import pytest

from livehandle.testing.audio import load_wav, read_wav, synth_voice, to_mono_16k

PCM, FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
# 16-bit samples that each wider encoding (with junk in its low bytes) must read back as.
SAMPLES = [0, 16384, -32768, 32767, -1, 1234]


def fmt_chunk(tag: int, channels: int, rate: int, width: int, *, bits: int | None = None) -> bytes:
    bits = 8 * width if bits is None else bits
    block = width * channels
    return struct.pack("<HHIIHH", tag, channels, rate, rate * block, block, bits)


def extensible_fmt(
    sub_tag: int, channels: int, rate: int, width: int, *, valid: int | None = None
) -> bytes:
    base = fmt_chunk(EXTENSIBLE, channels, rate, width)
    mask = (1 << channels) - 1
    extra = struct.pack("<HHI", 22, 8 * width if valid is None else valid, mask)
    return base + extra + struct.pack("<H", sub_tag) + GUID_TAIL


def chunk(chunk_id: bytes, body: bytes) -> bytes:
    return chunk_id + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def pcm16(samples: list[int]) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def write(tmp_path, data: bytes, name: str = "in.wav"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_plain_16_bit_pcm_is_read_as_is(tmp_path) -> None:
    data = pcm16(SAMPLES)
    path = write(tmp_path, riff(chunk(b"fmt ", fmt_chunk(PCM, 2, 22050, 2)), chunk(b"data", data)))
    assert read_wav(path) == (data, 22050, 2)


def test_sox_quad_16_bit_extensible_is_read(tmp_path) -> None:
    # What `sox q.wav -c 4 quad.wav` writes: 16-bit PCM, 4 channels, WAVE_FORMAT_EXTENSIBLE,
    # with a fact chunk... and the "unknown format: 65534" before.
    frames = [[100, -100, 2000, -2000], [5, 6, 7, 8]]
    data = pcm16([s for frame in frames for s in frame])
    fact = chunk(b"fact", struct.pack("<I", len(frames)))
    fmt = chunk(b"fmt ", extensible_fmt(PCM, 4, 16000, 2))
    path = write(tmp_path, riff(fmt, fact, chunk(b"data", data)))
    assert read_wav(path) == (data, 16000, 4)
    assert load_wav(path) == pcm16([0, 7])  # the four channels averaged


@pytest.mark.parametrize("tag", ["plain", "extensible"])
def test_32_bit_float_is_scaled_clipped_and_nan_is_zero(tmp_path, tag: str) -> None:
    values = [0.0, 0.5, -0.5, 1.0, -1.0, 1.5, -7.0, math.nan, 1 / 32767]
    data = struct.pack(f"<{len(values)}f", *values)
    fmt = fmt_chunk(FLOAT, 1, 48000, 4) if tag == "plain" else extensible_fmt(FLOAT, 1, 48000, 4)
    path = write(tmp_path, riff(chunk(b"fmt ", fmt), chunk(b"data", data)))
    pcm, rate, channels = read_wav(path)
    assert (rate, channels) == (48000, 1)
    assert pcm == pcm16([0, 16384, -16384, 32767, -32767, 32767, -32767, 0, 1])


def test_64_bit_float_is_read(tmp_path) -> None:
    data = struct.pack("<3d", 0.25, -0.25, 0.0)
    path = write(tmp_path, riff(chunk(b"fmt ", fmt_chunk(FLOAT, 1, 8000, 8)), chunk(b"data", data)))
    assert read_wav(path) == (pcm16([8192, -8192, 0]), 8000, 1)


def test_sox_float_of_a_real_signal_keeps_its_level(tmp_path) -> None:
    # `sox q.wav -e floating-point -b 32 f.wav`: the "unknown format: 3" before.
    voice = array("h", synth_voice(300, sample_rate=16000))
    floats = [v / 32767 for v in voice]
    data = struct.pack(f"<{len(floats)}f", *floats)
    path = write(
        tmp_path, riff(chunk(b"fmt ", fmt_chunk(FLOAT, 1, 16000, 4)), chunk(b"data", data))
    )
    pcm, _, _ = read_wav(path)
    got = array("h", pcm)
    assert max(abs(a - b) for a, b in zip(got, voice, strict=True)) <= 1


def test_8_bit_unsigned_pcm_is_centred_and_widened(tmp_path) -> None:
    data = bytes([128, 255, 0, 129, 127])
    path = write(tmp_path, riff(chunk(b"fmt ", fmt_chunk(PCM, 1, 8000, 1)), chunk(b"data", data)))
    # an odd-sized data chunk: padded with one byte, which is not a sample
    assert read_wav(path) == (pcm16([0, 127 << 8, -32768, 256, -256]), 8000, 1)


@pytest.mark.parametrize("extensible", [False, True])
def test_24_and_32_bit_pcm_keep_their_top_16_bits(tmp_path, extensible: bool) -> None:
    for width in (3, 4):
        raw = b"".join(
            (s * (1 << (8 * (width - 2))) + 0x42 * (width - 2)).to_bytes(
                width, "little", signed=True
            )
            for s in SAMPLES
        )
        fmt = (
            extensible_fmt(PCM, 2, 96000, width) if extensible else fmt_chunk(PCM, 2, 96000, width)
        )
        path = write(tmp_path, riff(chunk(b"fmt ", fmt), chunk(b"data", raw)), f"w{width}.wav")
        assert read_wav(path) == (pcm16(SAMPLES), 96000, 2)


def test_20_bit_samples_in_24_bit_containers_are_read(tmp_path) -> None:
    raw = b"".join((s << 8).to_bytes(3, "little", signed=True) for s in SAMPLES)
    fmt = extensible_fmt(PCM, 1, 44100, 3, valid=20)
    path = write(tmp_path, riff(chunk(b"fmt ", fmt), chunk(b"data", raw)))
    assert read_wav(path)[0] == pcm16(SAMPLES)


def test_unknown_chunks_odd_padding_and_chunk_order_are_handled(tmp_path) -> None:
    data = pcm16(SAMPLES)
    odd = chunk(b"LIST", b"INFOISFT\x03\x00\x00\x00ab\x00")  # 15 bytes, padded to 16
    path = write(
        tmp_path,
        riff(odd, chunk(b"fmt ", fmt_chunk(PCM, 1, 16000, 2)), chunk(b"junk", b"x"),
             chunk(b"data", data), chunk(b"cue ", b"\x00" * 4)),
    )  # fmt: skip
    assert read_wav(path) == (data, 16000, 1)


def test_a_wrong_riff_size_and_a_streamed_data_size_are_tolerated(tmp_path) -> None:
    data = pcm16(SAMPLES)
    body = b"WAVE" + chunk(b"fmt ", fmt_chunk(PCM, 1, 16000, 2))
    body += b"data" + struct.pack("<I", 0xFFFFFFFF) + data  # a writer that could not seek back
    path = write(tmp_path, b"RIFF" + struct.pack("<I", 0xFFFFFFFF) + body)
    assert read_wav(path) == (data, 16000, 1)


def test_a_partial_last_frame_is_dropped(tmp_path) -> None:
    data = pcm16([1, 2, 3, 4]) + b"\x05\x00"  # two stereo frames and half of a third
    path = write(tmp_path, riff(chunk(b"fmt ", fmt_chunk(PCM, 2, 16000, 2)), chunk(b"data", data)))
    assert read_wav(path) == (pcm16([1, 2, 3, 4]), 16000, 2)


def test_stdlib_written_files_still_round_trip(tmp_path) -> None:
    path = tmp_path / "std.wav"
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(16000)
        writer.writeframes(pcm16(SAMPLES))
    assert read_wav(path) == (pcm16(SAMPLES), 16000, 1)


def test_load_wav_gives_16k_mono(tmp_path) -> None:
    voice = synth_voice(500, sample_rate=48000)
    left = array("h", voice)
    stereo = array("h", [s for pair in zip(left, left, strict=True) for s in pair])
    fmt = extensible_fmt(PCM, 2, 48000, 2)
    path = write(tmp_path, riff(chunk(b"fmt ", fmt), chunk(b"data", stereo.tobytes())))
    pcm = load_wav(path)
    assert pcm == to_mono_16k(voice, 48000, 1)
    assert len(pcm) == 2 * 8000


def _truncated_fmt() -> bytes:
    return riff(chunk(b"fmt ", fmt_chunk(PCM, 1, 16000, 2)[:10]), chunk(b"data", b"\x00\x00"))


def _truncated_data() -> bytes:
    whole = riff(chunk(b"fmt ", fmt_chunk(PCM, 1, 16000, 2)), chunk(b"data", pcm16(SAMPLES)))
    return whole[:-4]


def _cut_header() -> bytes:
    return riff(chunk(b"fmt ", fmt_chunk(PCM, 1, 16000, 2)), chunk(b"data", b"")) + b"dat"


def _format(tag: int, width: int = 2) -> bytes:
    return riff(chunk(b"fmt ", fmt_chunk(tag, 1, 8000, width)), chunk(b"data", b"\x00" * 8))


def _unknown_guid() -> bytes:
    fmt = extensible_fmt(PCM, 1, 8000, 2)[:24] + b"\x01\x00" + b"\x11" * 14
    return riff(chunk(b"fmt ", fmt), chunk(b"data", b"\x00" * 8))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", r"not a WAV file \(empty or truncated header\)"),
        (b"this is just some text, not audio", r"not a WAV file \(it does not start with RIFF"),
        (b"RF64\xff\xff\xff\xffWAVE", "RF64 WAV files are not supported; supported: integer PCM"),
        (_truncated_fmt(), r"truncated WAV file \(its fmt chunk has 10 bytes\)"),
        (_truncated_data(), "truncated WAV file: its 'data' chunk declares 12 bytes but only 8"),
        (_cut_header(), r"truncated WAV file \(a chunk header is cut off\)"),
        (riff(chunk(b"data", b"\x00\x00")), "invalid WAV file: no fmt chunk"),
        (riff(chunk(b"fmt ", fmt_chunk(PCM, 1, 8000, 2))), "invalid WAV file: no data chunk"),
        (_format(7, 1), r"unsupported WAV format 0x0007 \(mu-law\); supported: integer PCM"),
        (_format(0x55), r"unsupported WAV format 0x0055 \(MPEG Layer 3\)"),
        (_format(0x1234), r"unsupported WAV format 0x1234; supported: integer PCM \(8, 16, 24"),
        (_format(FLOAT, 2), "unsupported WAV format: 16-bit float"),
        (_format(PCM, 8), "unsupported WAV format: 64-bit integer PCM"),
        (_unknown_guid(), "unsupported WAVE_FORMAT_EXTENSIBLE sub-format 0100111111"),
        (
            riff(chunk(b"fmt ", fmt_chunk(EXTENSIBLE, 1, 8000, 2)), chunk(b"data", b"")),
            r"WAVE_FORMAT_EXTENSIBLE fmt chunk too short \(16 bytes, need 40\)",
        ),
        (_format(PCM, 0), "invalid WAV header: block align 0 for 1 channels"),
        (
            riff(chunk(b"fmt ", fmt_chunk(PCM, 0, 8000, 2)), chunk(b"data", b"")),
            "invalid WAV header: 0 channels",
        ),
        (
            riff(chunk(b"fmt ", fmt_chunk(PCM, 1, 0, 2)), chunk(b"data", b"")),
            "invalid WAV header: sample rate 0",
        ),
        (
            riff(chunk(b"fmt ", fmt_chunk(PCM, 1, 8000, 2, bits=24)), chunk(b"data", b"")),
            "invalid WAV header: 24-bit samples in 16-bit containers",
        ),
    ],
    ids=[
        "empty", "text", "rf64", "short-fmt", "short-data", "cut-header", "no-fmt", "no-data",
        "mu-law", "mp3", "unknown-tag", "float16", "int64", "unknown-guid", "short-extensible",
        "block-align-0", "no-channels", "rate-0", "bits-over-width",
    ],
)  # fmt: skip
def test_bad_files_raise_value_error_naming_the_file_and_the_problem(
    tmp_path, data: bytes, message: str
) -> None:
    path = write(tmp_path, data, "bad.wav")
    with pytest.raises(ValueError, match=message) as caught:
        read_wav(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_missing_file_raises_os_error(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        load_wav(tmp_path / "missing.wav")
