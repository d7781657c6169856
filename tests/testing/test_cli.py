"""``python -m livehandle emulator``: a real process, a plain WebSocket client, exit codes."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trio
import trio_websocket

import livehandle
from livehandle._cli import main

ROOT = Path(livehandle.__file__).resolve().parent.parent
URL_LINE = re.compile(
    r"livehandle emulator listening on (ws://127\.0\.0\.1:(\d+)) \((.+); Ctrl-C to stop\)\n"
)
SETUP = {
    "setup": {
        "model": "models/gemini-3.8-live",
        "generationConfig": {"responseModalities": ["TEXT"]},
    }
}

posix_signals = pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to a process")


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "livehandle", *args]


def environment() -> dict[str, str]:
    """The current environment with the repository importable (installed or not)."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


async def start_cli(nursery: trio.Nursery, *args: str) -> trio.Process:
    """Start the CLI with stdout and stderr piped; killed if the nursery is cancelled."""
    run = functools.partial(
        trio.run_process,
        command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        check=False,
        env=environment(),
    )
    process: trio.Process = await nursery.start(run)
    return process


async def read_line(stream: trio.abc.ReceiveStream) -> str:
    """Read up to and including the first newline (one byte at a time: nothing is over-read)."""
    data = bytearray()
    while not data.endswith(b"\n"):
        chunk = await stream.receive_some(1)
        if not chunk:
            raise AssertionError(f"the process closed stdout after {bytes(data)!r}")
        data += chunk
    return data.decode()


async def read_all(stream: trio.abc.ReceiveStream) -> bytes:
    data = bytearray()
    while chunk := await stream.receive_some():
        data += chunk
    return bytes(data)


async def interrupt(process: trio.Process) -> tuple[int, bytes]:
    """Send SIGINT; return the exit status and everything the process wrote to stderr."""
    assert process.stderr is not None
    process.send_signal(signal.SIGINT)
    with trio.fail_after(5):
        stderr = await read_all(process.stderr)
        status = await process.wait()
    return status, stderr


async def text_turn(url: str, text: str) -> tuple[str, list[str | bytes]]:
    """Set up a TEXT session over a bare WebSocket, send one turn; the reply and every frame."""
    frames: list[str | bytes] = []
    async with trio_websocket.open_websocket_url(url) as ws:
        await ws.send_message(json.dumps(SETUP))
        frames.append(await ws.get_message())
        assert "setupComplete" in json.loads(frames[0])
        turn = {"role": "user", "parts": [{"text": text}]}
        await ws.send_message(
            json.dumps({"clientContent": {"turns": [turn], "turnComplete": True}})
        )
        reply = []
        while True:
            frames.append(await ws.get_message())
            content = json.loads(frames[-1]).get("serverContent", {})
            reply += [part["text"] for part in content.get("modelTurn", {}).get("parts", ())]
            if content.get("turnComplete"):
                return "".join(reply), frames


@posix_signals
async def test_emulator_prints_its_bound_port_answers_a_turn_and_exits_0_on_sigint() -> None:
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            process = await start_cli(nursery, "emulator", "--port", "0")
            assert process.stdout is not None
            line = await read_line(process.stdout)
            match = URL_LINE.fullmatch(line)
            assert match is not None, line
            url, port, what = match.groups()
            assert int(port) > 0
            assert what == "echo assistant"

            reply, frames = await text_turn(url, "hello")
            assert reply == "You said: hello"
            assert all(isinstance(frame, bytes) for frame in frames)  # binary, as Gemini does

            status, stderr = await interrupt(process)
    assert status == 0
    assert b"Traceback" not in stderr
    assert await process.stdout.receive_some() == b""  # one line, nothing more


@posix_signals
async def test_emulator_scenario_file_changes_the_reply_and_text_frames_are_text(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "hi.json"
    scenario.write_text(
        json.dumps(
            {"rules": [{"when": {"text": "^hi$"}, "reply": [{"say": "Hello from the file"}]}]}
        )
    )
    args = ("emulator", "--port", "0", "--scenario", str(scenario), "--text-frames")
    with trio.fail_after(15):
        async with trio.open_nursery() as nursery:
            process = await start_cli(nursery, *args)
            assert process.stdout is not None
            match = URL_LINE.fullmatch(await read_line(process.stdout))
            assert match is not None
            assert match[3] == f"scenario {scenario}"

            reply, frames = await text_turn(match[1], "hi")
            assert reply == "Hello from the file"
            assert all(isinstance(frame, str) for frame in frames)
            other, _ = await text_turn(match[1], "something else")
            assert other == "You said: something else"  # no rule matched: the default echo

            status, _ = await interrupt(process)
    assert status == 0


async def test_invalid_scenario_file_exits_2_with_one_line_reason(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.json"
    scenario.write_text(json.dumps({"rules": [{"when": {"text": "("}, "reply": []}]}))
    with trio.fail_after(15):
        result = await trio.run_process(
            command("emulator", "--port", "0", "--scenario", str(scenario)),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
            env=environment(),
        )
    assert result.returncode == 2
    assert result.stdout == b""  # it never listened
    lines = result.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        f"livehandle emulator: scenario file {scenario}: not a valid scenario: rules[0].when"
    )


def test_unreadable_scenario_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.json"
    assert main(["emulator", "--port", "0", "--scenario", str(missing)]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == f"livehandle emulator: cannot read scenario file {missing}: No such file or directory\n"
    )


def test_scenario_file_with_invalid_json_says_where_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = tmp_path / "broken.json"
    scenario.write_text('{"rules": [\n  {"when": {"text": "hi"}, "reply": []},\n]}')
    assert main(["emulator", "--port", "0", "--scenario", str(scenario)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"livehandle emulator: scenario file {scenario}: invalid JSON at line 3 column 1: "
        "Expecting value\n"
    )


def test_port_in_use_exits_1_with_one_line_reason(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["emulator", "--port", str(port)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"livehandle emulator: cannot listen on 127.0.0.1:{port}: ")
    assert err.count("\n") == 1


def test_no_subcommand_prints_help_and_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m livehandle")
    assert "emulator" in err


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_invalid_port_is_a_usage_error(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emulator", "--port", port]) == 2
    assert "argument --port" in capsys.readouterr().err


TLS_URL_LINE = re.compile(
    r"livehandle emulator listening on (wss://127\.0\.0\.1:(\d+)) \((.+); Ctrl-C to stop\)\n"
)


async def read_tls_notice(stream: trio.abc.ReceiveStream) -> tuple[str, Path, dict[str, str]]:
    """The URL, the CA file and the google-genai environment that ``--tls`` prints."""
    match = TLS_URL_LINE.fullmatch(await read_line(stream))
    assert match is not None
    notice = [await read_line(stream) for _ in range(5)]
    ca_file = Path(notice[0].rsplit("its PEM is ", 1)[1].strip())
    assert f"SSL_CERT_FILE={ca_file}\n" in notice[2]
    assert f"REQUESTS_CA_BUNDLE={ca_file}\n" in notice[3]
    assert notice[4].startswith("  google-genai:  ")
    genai_env = dict(item.split("=", 1) for item in notice[4].split(":  ", 1)[1].split())
    return match[1], ca_file, genai_env


@posix_signals
async def test_emulator_tls_serves_wss_that_its_printed_ca_file_makes_trusted() -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            process = await start_cli(nursery, "emulator", "--port", "0", "--tls")
            assert process.stdout is not None
            url, ca_file, genai_env = await read_tls_notice(process.stdout)
            port = url.rsplit(":", 1)[1]
            assert genai_env == {
                "SSL_CERT_FILE": str(ca_file),
                "GOOGLE_GEMINI_BASE_URL": f"https://127.0.0.1:{port}",
                "GEMINI_API_KEY": "any-key",
            }
            assert ca_file.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
            assert b"PRIVATE KEY" not in ca_file.read_bytes()  # only the certificate is shared

            trusting = ssl.create_default_context(cafile=str(ca_file))
            async with trio_websocket.open_websocket_url(url, trusting) as ws:
                await ws.send_message(json.dumps(SETUP))
                assert "setupComplete" in json.loads(await ws.get_message())
            # A client that does not trust the CA refuses the certificate.
            stream = await trio.open_ssl_over_tcp_stream(
                "127.0.0.1", int(port), ssl_context=ssl.create_default_context()
            )
            async with stream:
                with pytest.raises(trio.BrokenResourceError) as refused:
                    await stream.do_handshake()
            assert isinstance(refused.value.__cause__, ssl.SSLCertVerificationError)

            status, stderr = await interrupt(process)
    assert status == 0
    assert b"Traceback" not in stderr
    assert not ca_file.parent.exists()  # the run's temporary directory went with it


@posix_signals
async def test_emulator_tls_writes_the_ca_file_where_told(tmp_path: Path) -> None:
    ca_file = tmp_path / "emulator-ca.pem"
    args = ("emulator", "--port", "0", "--tls", "--ca-file", str(ca_file), "--api-key", "k-123")
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            process = await start_cli(nursery, *args)
            assert process.stdout is not None
            _, printed, genai_env = await read_tls_notice(process.stdout)
            assert printed == ca_file
            assert (
                genai_env["GEMINI_API_KEY"] == "<api-key>"
            )  # a placeholder: the key is never printed
            status, _ = await interrupt(process)
            rest = await read_all(process.stdout)
    assert status == 0
    assert b"k-123" not in rest
    assert ca_file.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")  # left for the user


def test_emulator_tls_without_trustme_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "trustme", None)  # import trustme raises ImportError
    assert main(["emulator", "--port", "0", "--tls"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        "livehandle emulator: --tls needs the trustme package: pip install 'livehandle[tls]'\n"
    )


def test_emulator_ca_file_needs_tls_and_a_writable_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["emulator", "--port", "0", "--ca-file", str(tmp_path / "ca.pem")]) == 2
    assert capsys.readouterr().err == "livehandle emulator: --ca-file is only used with --tls\n"
    nowhere = tmp_path / "missing" / "ca.pem"
    assert main(["emulator", "--port", "0", "--tls", "--ca-file", str(nowhere)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err == (
        f"livehandle emulator: cannot write the CA certificate to {nowhere}: "
        "No such file or directory\n"
    )


def test_tls_certificate_names_the_host_and_the_local_names() -> None:
    from livehandle._cli._tls import identities

    assert identities("127.0.0.1") == ["localhost", "127.0.0.1", "::1"]
    assert identities("emulator.internal") == ["emulator.internal", "localhost", "127.0.0.1", "::1"]
    assert identities("0.0.0.0") == ["localhost", "127.0.0.1", "::1"]
    assert identities("::") == ["localhost", "127.0.0.1", "::1"]


@pytest.mark.parametrize(
    ("url", "base_url"),
    [
        ("wss://127.0.0.1:8765", "https://127.0.0.1:8765"),
        ("wss://0.0.0.0:8765", "https://127.0.0.1:8765"),  # the certificate names 127.0.0.1
        ("wss://[::]:8765", "https://[::1]:8765"),
        ("wss://emulator.internal:443", "https://emulator.internal:443"),
    ],
)
def test_tls_instructions_give_google_genai_a_base_url_it_can_verify(
    url: str, base_url: str
) -> None:
    from livehandle._cli._tls import trust_instructions

    lines = trust_instructions(url, Path("/tmp/x/ca.pem"))
    assert lines[-1] == (
        "  google-genai:  SSL_CERT_FILE=/tmp/x/ca.pem "
        f"GOOGLE_GEMINI_BASE_URL={base_url} GEMINI_API_KEY=any-key"
    )
