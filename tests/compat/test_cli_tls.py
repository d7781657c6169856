"""google-genai, configured only by environment, against ``python -m livehandle emulator --tls``.

google-genai always connects with ``wss://``.  The emulator command started with ``--tls`` prints
the environment that makes google-genai trust it and connect to it; this test starts the command
in a real process, sets exactly that environment, and has google-genai's unmodified client (no
``http_options``, no SSL context) complete a live turn.  Only the nox ``compat`` session installs
google-genai; elsewhere this module is skipped.
"""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING

import pytest

import livehandle

genai = pytest.importorskip(
    "google.genai", reason="google-genai is not installed (only the nox 'compat' session has it)"
)

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(livehandle.__file__).resolve().parent.parent
MODEL = "gemini-live-2.5-flash-preview"
LINE_TIMEOUT = 20.0  # seconds for the command to print each line of its notice
CLIENT_TIMEOUT = 30.0  # seconds for the whole client script
STOP_TIMEOUT = 10.0  # seconds for the command to exit after SIGINT

# Whatever would make google-genai go elsewhere than the printed environment says.
GENAI_ENVIRONMENT = (
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_CLIENT_MODE",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
)


class Lines:
    """The lines a process writes to a pipe, read by a thread so that waits can be bounded."""

    def __init__(self, pipe: IO[str]) -> None:
        self._lines: queue.Queue[str] = queue.Queue()  # unbounded: the command prints ~6 lines
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[str]) -> None:
        for line in pipe:
            self._lines.put(line)
        self._lines.put("")  # end of output

    def next(self) -> str:
        try:
            line = self._lines.get(timeout=LINE_TIMEOUT)
        except queue.Empty:
            raise AssertionError("the emulator command printed nothing in time") from None
        assert line, "the emulator command ended its output early"
        return line


@pytest.fixture
def tls_emulator() -> Iterator[tuple[str, dict[str, str]]]:
    """The command's URL and the google-genai environment it printed; stopped with SIGINT."""
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}
    process = subprocess.Popen(
        [sys.executable, "-m", "livehandle", "emulator", "--port", "0", "--tls"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = Lines(process.stdout)
        first = lines.next()
        assert first.startswith("livehandle emulator listening on wss://127.0.0.1:"), first
        url = first.split()[4]
        notice = [lines.next() for _ in range(5)]
        (genai_line,) = [line for line in notice if line.startswith("  google-genai:  ")]
        printed = dict(item.split("=", 1) for item in genai_line.split(":  ", 1)[1].split())
        yield url, printed
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_google_genai_completes_a_turn_with_only_the_printed_environment(
    tls_emulator: tuple[str, dict[str, str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, printed = tls_emulator
    assert set(printed) == {"SSL_CERT_FILE", "GOOGLE_GEMINI_BASE_URL", "GEMINI_API_KEY"}
    assert printed["GOOGLE_GEMINI_BASE_URL"] == "https" + url.removeprefix("wss")
    for name in GENAI_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    for name, value in printed.items():
        monkeypatch.setenv(name, value)

    async def client() -> tuple[str, bool]:
        client = genai.Client()  # everything comes from the environment
        try:
            config = {"response_modalities": ["TEXT"]}
            async with client.aio.live.connect(model=MODEL, config=config) as session:
                turn = {"role": "user", "parts": [{"text": "hello over TLS"}]}
                await session.send_client_content(turns=turn, turn_complete=True)
                messages = [message async for message in session.receive()]
        finally:
            await client.aio.aclose()
            client.close()
        text = "".join(message.text or "" for message in messages)
        return text, bool(messages[-1].server_content.turn_complete)

    text, completed = asyncio.run(asyncio.wait_for(client(), CLIENT_TIMEOUT))
    assert text == "You said: hello over TLS"
    assert completed
