"""``python -m livehandle console --text`` in a pseudo-terminal, against the built-in emulator.

A real process on a real terminal: the prompt, the typed line echoed, the model's answer, the
tool call, then Ctrl-D (or Ctrl-C) ending it with the summary and exit status 0.  Real time,
every wait bounded.
"""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[3]
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
DEADLINE = 30.0  # seconds for any one expected output (a loaded 2-core machine)

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")


class Terminal:
    """A process whose stdin, stdout and stderr are the slave side of a pseudo-terminal."""

    def __init__(self, *argv: str) -> None:
        self.master, slave = os.openpty()
        env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "livehandle", *argv],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=ROOT,
            close_fds=True,
        )
        os.close(slave)
        self.seen = ""  # everything read so far, escape codes removed

    def expect(self, text: str) -> str:
        """Read until ``text`` has appeared after what an earlier expect consumed."""
        deadline = time.monotonic() + DEADLINE
        while text not in self.seen:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(left):
                pytest.fail(f"{text!r} did not appear; the terminal showed:\n{self.seen}")
        before, _, self.seen = self.seen.partition(text)
        return before + text

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def finish(self) -> tuple[int, str]:
        """Wait for the exit; the status and the rest of the output."""
        deadline = time.monotonic() + DEADLINE
        while self.process.poll() is None or self._read(0.1):
            if time.monotonic() > deadline:
                self.process.kill()
                pytest.fail(f"the console did not exit; the terminal showed:\n{self.seen}")
            if self.process.poll() is None:
                self._read(0.2)
        return self.process.wait(), self.seen

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        os.close(self.master)

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return False
        try:
            data = os.read(self.master, 4096)
        except OSError:  # the slave side closed: the process exited
            return False
        self.seen += ANSI.sub("", data.decode("utf-8", "replace")).replace("\r", "")
        return bool(data)


@pytest.fixture
def console_text() -> Iterator[Terminal]:
    terminal = Terminal("console", "--text")
    yield terminal
    terminal.close()


def test_a_typed_line_is_answered_and_ctrl_d_ends_with_the_summary(
    console_text: Terminal,
) -> None:
    term = console_text
    term.expect("talking to the built-in emulator (ws://127.0.0.1:")
    term.expect("you> ")
    term.type(b"hello console\n")
    term.expect("hello console\n")  # the terminal echoes what is typed
    term.expect("model: You said: hello console\n")
    term.expect("-- turn 1 done (latency ")
    term.expect("you> ")
    term.type(b"what is the weather?\n")
    term.expect("tool: get_weather(city='Paris') called\n")
    term.expect("tool: get_weather -> sunny and 21 degrees\n")
    term.expect("model: In Paris it is sunny and 21 degrees.\n")
    term.expect("you> ")
    term.type(b"\x04")  # Ctrl-D at the start of a line: end of input
    status, rest = term.finish()
    assert status == 0
    assert re.search(r"summary: 2 turns, 0 interruptions, 1 tool call, mean latency \d+ ms", rest)
    assert "Traceback" not in rest


def test_ctrl_c_ends_it_cleanly_with_the_summary(console_text: Terminal) -> None:
    term = console_text
    term.expect("you> ")
    term.type(b"hi\n")
    term.expect("model: You said: hi\n")
    term.expect("you> ")
    term.process.send_signal(signal.SIGINT)
    status, rest = term.finish()
    assert status == 0
    assert "summary: 1 turn, 0 interruptions, 0 tool calls, mean latency " in rest
    assert "Traceback" not in rest and "KeyboardInterrupt" not in rest
