"""The console's devices: the speaker queue, the sounddevice backend (on a fake module), the view.

The backend is driven through a stand-in ``sounddevice`` module whose streams record how they
were opened and whose callbacks the test calls, as PortAudio's thread would.
"""

from __future__ import annotations

import io
import sys
import types
from typing import Any, ClassVar

import pytest
import trio
import trio.lowlevel
import trio.testing

from livehandle._cli.console.devices import (
    PREBUFFER_SECONDS,
    QUEUE_LIMIT_SECONDS,
    DeviceInfo,
    PcmQueue,
)
from livehandle._cli.console.sd_backend import SoundDeviceBackend
from livehandle._cli.console.view import View, meter
from livehandle.testing import audio

# -- the speaker's queue ------------------------------------------------------------------------


def test_the_queue_holds_back_until_prebuffered_then_plays_and_reports_dry() -> None:
    dry: list[int] = []
    queue = PcmQueue(on_dry=lambda: dry.append(len(dry)))
    block = 480 * 2  # 20 ms at 24 kHz
    queue.write(bytes(block))
    assert queue.take(block, now=0.0) == b""  # 20 ms queued: not enough to start
    assert queue.take(block, now=PREBUFFER_SECONDS / 2) == b""
    assert queue.take(block, now=PREBUFFER_SECONDS) == bytes(block)  # waited long enough
    assert dry == [0] and len(queue) == 0
    prebuffer = int(PREBUFFER_SECONDS * 24000) * 2
    queue.write(b"\x01" * prebuffer)
    assert queue.take(block, now=10.0) == b"\x01" * block  # enough queued: plays at once
    assert queue.flush() == prebuffer - block
    assert dry == [0]  # a flush is not running dry


def test_a_write_beyond_the_limit_is_dropped_and_counted() -> None:
    queue = PcmQueue(rate=100, on_dry=lambda: None)
    limit = QUEUE_LIMIT_SECONDS * 100 * 2
    queue.write(bytes(limit - 2))
    queue.write(bytes(4))  # does not fit
    assert (len(queue), queue.dropped) == (limit - 2, 4)


# -- the sounddevice backend ----------------------------------------------------------------------


class FakeStream:
    opened: ClassVar[list[FakeStream]] = []
    refuse_rates: ClassVar[set[int]] = set()

    def __init__(self, *, samplerate: int, blocksize: int, callback: Any, **options: Any) -> None:
        if samplerate in self.refuse_rates:
            raise FakePortAudioError("Invalid sample rate")
        self.samplerate = samplerate
        self.blocksize = blocksize
        self.callback = callback
        self.options = options
        self.state = "made"
        FakeStream.opened.append(self)

    def start(self) -> None:
        self.state = "started"

    def stop(self) -> None:
        self.state = "stopped"

    def close(self) -> None:
        self.state = "closed"


class FakePortAudioError(Exception):
    pass


@pytest.fixture
def fake_sounddevice(monkeypatch: pytest.MonkeyPatch) -> types.SimpleNamespace:
    devices = [
        {"name": "Mic", "index": 0, "max_input_channels": 1, "max_output_channels": 0,
         "default_samplerate": 48000.0},
        {"name": "Speakers", "index": 1, "max_input_channels": 0, "max_output_channels": 2,
         "default_samplerate": 48000.0},
    ]  # fmt: skip

    def query_devices(device: int | None = None, kind: str | None = None) -> Any:
        if device is None and kind is None:
            return devices  # the list
        return devices[device if device is not None else 0 if kind == "input" else 1]

    module = types.SimpleNamespace(
        query_devices=query_devices,
        default=types.SimpleNamespace(device=[0, 1]),
        RawInputStream=type("RawInputStream", (FakeStream,), {}),
        RawOutputStream=type("RawOutputStream", (FakeStream,), {}),
        PortAudioError=FakePortAudioError,
    )
    FakeStream.opened = []
    FakeStream.refuse_rates = set()
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    return module


def test_devices_are_listed_with_the_defaults(fake_sounddevice: types.SimpleNamespace) -> None:
    assert SoundDeviceBackend().devices() == [
        DeviceInfo(0, "Mic", inputs=1, outputs=0, default_input=True),
        DeviceInfo(1, "Speakers", inputs=0, outputs=2, default_output=True),
    ]


async def test_microphone_blocks_reach_trio_and_the_speaker_plays_then_runs_dry(
    fake_sounddevice: types.SimpleNamespace, autojump_clock: trio.testing.MockClock
) -> None:
    backend = SoundDeviceBackend()
    async with backend.open(None, None) as (microphone, speaker):
        mic_stream, out_stream = FakeStream.opened
        assert (mic_stream.samplerate, mic_stream.blocksize) == (16000, 320)
        assert (out_stream.samplerate, mic_stream.options["dtype"]) == (24000, "int16")
        assert mic_stream.state == out_stream.state == "started"
        # PortAudio's thread hands a block over; the loop reads it
        chunk = audio.synth_voice(20, sample_rate=16000, seed="mic")
        await trio.to_thread.run_sync(mic_stream.callback, chunk, 320, None, None)
        assert await microphone.read() == chunk
        # the model's audio plays once prebuffered, then silence; running dry is signalled
        reply = b"\x07\x00" * 24000  # a second
        speaker.write(reply)
        assert speaker.queued == len(reply)
        out = bytearray(960)
        played = bytearray()
        async with trio.open_nursery() as nursery:
            dry = trio.Event()

            async def wait() -> None:
                await speaker.wait_dry()
                dry.set()

            nursery.start_soon(wait)
            while not dry.is_set():
                await trio.to_thread.run_sync(out_stream.callback, out, 480, None, None)
                played += out
                await trio.lowlevel.checkpoint()
        assert played.startswith(reply) and played[len(reply) :] == bytes(len(played) - len(reply))
    assert mic_stream.state == out_stream.state == "closed"


async def test_a_device_that_refuses_the_rate_is_opened_at_its_own_and_resampled(
    fake_sounddevice: types.SimpleNamespace, autojump_clock: trio.testing.MockClock
) -> None:
    FakeStream.refuse_rates = {16000, 24000}
    async with SoundDeviceBackend().open(None, None) as (microphone, speaker):
        mic_stream, out_stream = FakeStream.opened
        assert mic_stream.samplerate == out_stream.samplerate == 48000
        block = audio.synth_voice(20, sample_rate=48000, seed="hi")
        await trio.to_thread.run_sync(mic_stream.callback, block, 960, None, None)
        assert len(await microphone.read() or b"") == 320 * 2  # 20 ms at 16 kHz
        speaker.write(bytes(480 * 2))  # 20 ms at 24 kHz
        assert speaker.queued == 960 * 2  # queued at 48 kHz


def test_a_device_that_cannot_be_opened_says_which(
    fake_sounddevice: types.SimpleNamespace,
) -> None:
    from livehandle._cli.console.devices import DevicesUnavailable

    FakeStream.refuse_rates = {16000, 48000}

    async def open_it() -> None:
        async with SoundDeviceBackend().open(DeviceInfo(0, "Mic", 1, 0), None):
            pass  # pragma: no cover

    with pytest.raises(DevicesUnavailable, match=r"^cannot open 0 Mic input device: Invalid"):
        trio.run(open_it)


# -- the view -------------------------------------------------------------------------------------


def test_elsewhere_the_view_prints_plain_lines_only() -> None:
    out = io.StringIO()
    view = View(out, tty=False, clock=lambda: 0.0)
    view.level(-20)
    view.speaking("you")
    view.speaking("you")
    view.partial("model", "Hel")
    view.final("model", "Hello")
    view.line("tool: x", tag="tool")
    assert out.getvalue() == "-- you speaking\nmodel: Hello\ntool: x\n"


def test_on_a_terminal_the_status_line_is_redrawn_and_cleared_for_lines() -> None:
    now = [0.0]
    out = io.StringIO()
    view = View(out, tty=True, clock=lambda: now[0])
    view.speaking("you")
    view.level(-30)  # not redrawn: the last draw was at this instant
    assert view.status_text() == f"[  you]  mic {meter(-30)}  -30 dB"
    now[0] = 1.0
    view.level(-30)
    assert out.getvalue().endswith(f"\r[  you]  mic {meter(-30)}  -30 dB\x1b[K")
    written = len(out.getvalue())
    now[0] = 2.0
    view.level(-30)  # the same text: nothing is rewritten
    assert len(out.getvalue()) == written
    view.partial("model", "Once upon")
    assert view.status_text().endswith("model: Once upon")
    before = len(out.getvalue())
    view.final("model", "Once upon a time")
    drawn = out.getvalue()[before:]
    assert drawn.startswith("\r\x1b[K\x1b[36mmodel:\x1b[0m Once upon a time\n\r[  you]")
    view.close()
    assert out.getvalue().endswith("\r\x1b[K")
    assert meter(0) == "|" * 20 and meter(-60) == "." * 20 and meter(-90) == "." * 20
