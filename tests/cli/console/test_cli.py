"""``livehandle console`` as a command: devices, the missing-library line, usage errors, the run.

The audio backend is replaced by fake devices (``make_backend`` patched); the missing
``sounddevice`` is simulated by making its import fail.
"""

from __future__ import annotations

import importlib
import re
import sys
from typing import TYPE_CHECKING

import pytest

from livehandle._cli import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, console as console_cli, main
from livehandle._cli.console import sd_backend
from livehandle._cli.console.devices import DeviceInfo, format_devices, pick_devices
from livehandle._cli.console.fake import DEFAULT_DEVICES, FakeBackend, FakeSpeaker, spoken

if TYPE_CHECKING:
    from livehandle._cli.console.fake import ScriptItem

INSTALL = (
    "livehandle console: the console's audio needs sounddevice and PortAudio: pip install "
    "'livehandle[console]' (and apt-get install libportaudio2 on Debian/Ubuntu), or run with "
    "--text\n"
)


@pytest.fixture(autouse=True)
def no_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


def use_fake_devices(monkeypatch: pytest.MonkeyPatch, backend: FakeBackend) -> None:
    monkeypatch.setattr(console_cli, "make_backend", lambda: backend)


@pytest.mark.parametrize("device", [None, "list"])
def test_without_sounddevice_one_line_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], device: str | None
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import fails
    argv = ["console"] + (["--device", device] if device else [])
    assert main(argv) == EXIT_FAILURE
    captured = capsys.readouterr()
    assert captured.err == INSTALL
    assert captured.out == ""


def test_without_portaudio_the_same_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.import_module

    def import_module(name: str) -> object:
        if name == "sounddevice":
            raise OSError("PortAudio library not found")  # what sounddevice raises
        return real(name)

    monkeypatch.setattr(sd_backend.importlib, "import_module", import_module)
    assert main(["console"]) == EXIT_FAILURE
    assert capsys.readouterr().err == INSTALL


def test_device_list_prints_every_device_with_the_defaults(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    use_fake_devices(monkeypatch, FakeBackend())
    assert main(["console", "--device", "list"]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        "<    0 Fake Microphone  (1 in, 0 out)",
        " >   1 Fake Speaker  (0 in, 2 out)",
        "     2 Fake USB Headset  (1 in, 2 out)",
        "< default input, > default output; pick with --device IN[,OUT] (index or name)",
    ]
    assert format_devices([]) == ["no audio devices found"]


def test_devices_are_picked_by_index_or_name() -> None:
    mic, speaker, headset = DEFAULT_DEVICES
    assert pick_devices(DEFAULT_DEVICES, None) == (None, None)
    assert pick_devices(DEFAULT_DEVICES, "2") == (headset, headset)
    assert pick_devices(DEFAULT_DEVICES, "usb") == (headset, headset)
    assert pick_devices(DEFAULT_DEVICES, "0,1") == (mic, speaker)
    assert pick_devices(DEFAULT_DEVICES, "microphone,") == (mic, None)
    assert pick_devices(DEFAULT_DEVICES, ",Fake Speaker") == (None, speaker)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("7", "--device: no device 7 (see --device list)"),
        ("1,1", "--device: device 1 (Fake Speaker) has no input"),
        ("0", "--device: device 0 (Fake Microphone) has no output"),
        ("nothing", "--device: no input device named like 'nothing' (see --device list)"),
        ("fake,", "--device: 'fake' names several input devices: 0 Fake Microphone, 2 Fake USB"),
        ("1,2,3", "--device '1,2,3': give IN,OUT or one device for both"),
    ],
)
def test_a_device_that_cannot_be_used_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], spec: str, reason: str
) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(reason)):
        pick_devices(DEFAULT_DEVICES, spec)
    use_fake_devices(monkeypatch, FakeBackend())
    assert main(["console", "--device", spec]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"livehandle console: {reason}") and err.count("\n") == 1


def test_text_mode_takes_no_device_and_a_bad_endpoint_is_refused(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["console", "--text", "--device", "1"]) == EXIT_USAGE
    assert "--device has no use with --text" in capsys.readouterr().err
    assert main(["console", "--text", "--endpoint", "http://example.com"]) == EXIT_USAGE
    assert capsys.readouterr().err.startswith("livehandle console: --endpoint: ")
    assert main(["console", "--timeout", "0"]) == EXIT_USAGE


def test_a_voice_conversation_on_fake_devices_ends_with_the_summary(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The whole command, in real time, against the built-in emulator on a socket."""
    backend = FakeBackend()

    async def replied() -> None:
        assert backend.speaker is not None
        await FakeSpeaker.wait_dry(backend.speaker)

    script: list[ScriptItem] = [spoken("hello"), replied]
    backend.script = script
    use_fake_devices(monkeypatch, backend)
    assert main(["console", "--device", "usb", "--timeout", "20"]) == EXIT_OK
    out = capsys.readouterr().out
    headset = DEFAULT_DEVICES[2]
    assert backend.opened == [(headset, headset)]
    assert "talking to the built-in emulator (ws://127.0.0.1:" in out
    assert "-- connected (speak; Ctrl-C to end)" in out
    assert re.search(r'^model: I heard "\[speech \d\.\d s\]"', out, re.MULTILINE)
    assert re.search(r"^-- turn 1 done \(latency \d+ ms\)$", out, re.MULTILINE)
    assert re.search(
        r"^summary: 1 turn, 0 interruptions, 0 tool calls, mean latency \d+ ms$",
        out,
        re.MULTILINE,
    )
    assert "\x1b[" not in out  # not a terminal: plain lines
    assert backend.speaker is not None and backend.speaker.played


def test_device_info_is_plain_data() -> None:
    device = DeviceInfo(3, "Built-in", inputs=2, outputs=0)
    assert (device.index, device.default_input, device.default_output) == (3, False, False)


async def test_text_mode_talks_to_an_endpoint_and_reads_lines_without_a_prompt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a terminal: no prompt and plain lines; --endpoint wins over the built-in emulator."""
    import io

    import trio

    from livehandle._config.live import DEFAULT_MODEL, MODEL_ENV
    from livehandle.testing import LiveEmulator

    monkeypatch.delenv(MODEL_ENV, raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-never-sent-to-an-endpoint")
    monkeypatch.setattr(sys, "stdin", io.StringIO("first line\n\nsecond line\n"))
    async with LiveEmulator().running() as emulator:  # the echo scenario
        url = emulator.url
        with trio.fail_after(30):
            status = await trio.to_thread.run_sync(main, ["console", "--text", "--endpoint", url])
    assert status == EXIT_OK
    out = capsys.readouterr().out
    assert out.splitlines()[0] == (f"livehandle console: talking to {url}, model {DEFAULT_MODEL}")
    assert "you>" not in out and "\x1b[" not in out
    assert "model: You said: first line\n-- turn 1 done (latency " in out
    assert "model: You said: second line\n-- turn 2 done (latency " in out
    assert "AIza" not in out
    assert re.search(r"summary: 2 turns, 0 interruptions, 0 tool calls, mean latency \d+ ms", out)
    assert len(emulator.connections) == 1
