"""What the console shows: conversation lines, and on a terminal a live status line under them.

On a terminal (plain ANSI: carriage return, erase line, colours) the bottom line is redrawn in
place: who is speaking, the microphone's input level meter, and the transcript streaming in.
Finished transcripts, tool calls, barge-ins and turn latencies scroll above it as lines.

Anywhere else (a pipe, a file, the tests) it prints plain text lines only, with no escape
codes: a line when someone starts speaking, the finished transcripts and the rest.  The meter
and the streaming fragments are left out, as they only make sense redrawn in place.

What the server sends (transcripts, text, tool results, error texts) is shown, never obeyed:
control characters are taken out of it (a line keeps its line breaks and tabs; the status line,
which must stay one line, shows any run of whitespace as one space), so no escape sequence from
the other end moves the cursor, clears the screen or retitles the terminal.
"""

from __future__ import annotations

import re
import shutil
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["METER_CELLS", "REDRAW_SECONDS", "View", "meter"]

METER_CELLS = 20
FLOOR_DBFS = -60.0  # the meter's empty end
REDRAW_SECONDS = 0.05  # the status line is redrawn at most this often for the meter alone
STREAM_SHOWN = 60  # the last characters of a streaming transcript the status line shows
_COLOURS = {"you": "\x1b[32m", "model": "\x1b[36m", "tool": "\x1b[33m", "!": "\x1b[31m"}
_RESET = "\x1b[0m"
# C0 controls but tab and line feed, DEL and the C1 controls (0x9B alone starts a sequence)
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def meter(dbfs: float, cells: int = METER_CELLS) -> str:
    """An ASCII level bar: ``|`` cells from -60 dBFS (none) to 0 dBFS (all)."""
    fraction = (max(FLOOR_DBFS, min(0.0, dbfs)) - FLOOR_DBFS) / -FLOOR_DBFS
    filled = round(fraction * cells)
    return "|" * filled + "." * (cells - filled)


class View:
    """The console's output; ``tty`` None asks ``out.isatty()``.

    ``clock`` (seconds) paces meter redraws; by default Trio's clock, so a mock clock drives it.
    """

    def __init__(
        self,
        out: TextIO,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._clock = clock or _trio_time
        self._who: str | None = None  # who is speaking now
        self._level: float | None = None  # dBFS; None until the microphone reports
        self._streaming: tuple[str, str] | None = None  # (who, text so far)
        self._shown = False  # the status line is on screen
        self._drawn = ""  # its text
        self._drawn_at = float("-inf")

    # -- lines ----------------------------------------------------------------------------------

    def line(self, text: str, *, tag: str | None = None) -> None:
        """A permanent line; ``tag`` (``you``, ``model``, ``tool``, ``!``) colours its start."""
        self._clear()
        text = _CONTROLS.sub("", text.replace("\r\n", "\n"))
        if self.tty and tag in _COLOURS:
            head, sep, rest = text.partition(" ")
            text = f"{_COLOURS[tag]}{head}{_RESET}{sep}{rest}"
        print(text, file=self.out, flush=True)
        self._draw()

    def final(self, who: str, text: str, note: str = "") -> None:
        """A finished transcript: ``you: ...`` or ``model: ...``."""
        if self._streaming is not None and self._streaming[0] == who:
            self._streaming = None
        self.line(f"{who}: {text}{note}", tag=who)

    # -- the status line ------------------------------------------------------------------------

    def speaking(self, who: str | None) -> None:
        """``who`` (``you``, ``model``) started speaking, or None: nobody is."""
        if who == self._who:
            return
        self._who = who
        if self.tty:
            self._draw()
        elif who is not None:
            print(f"-- {who} speaking", file=self.out, flush=True)

    @property
    def who(self) -> str | None:
        """Who is shown as speaking."""
        return self._who

    def level(self, dbfs: float) -> None:
        """The microphone's latest input level (terminal only)."""
        self._level = dbfs
        if self.tty and self._clock() - self._drawn_at >= REDRAW_SECONDS:
            self._draw()

    def partial(self, who: str, fragment: str) -> None:
        """A fragment of a transcript (or text reply) as it streams in (terminal only)."""
        if self._streaming is None or self._streaming[0] != who:
            self._streaming = (who, "")
        self._streaming = (who, self._streaming[1] + fragment)
        if self.tty:
            self._draw()

    def close(self) -> None:
        """Take the status line off the screen (before the summary, or on exit)."""
        self._clear()
        self._streaming = None
        self._level = None
        self._who = None

    def status_text(self) -> str:
        """The status line's text, without colours."""
        parts = []
        if self._level is not None or self._who is not None:
            parts.append(f"[{self._who or '-':>5}]")
        if self._level is not None:
            parts.append(f"mic {meter(self._level)} {max(self._level, FLOOR_DBFS):4.0f} dB")
        if self._streaming is not None:
            who, text = self._streaming
            text = " ".join(_CONTROLS.sub(" ", text).split())  # one line, nothing obeyed
            shown = text if len(text) <= STREAM_SHOWN else "..." + text[-STREAM_SHOWN:]
            parts.append(f"{who}: {shown}")
        return "  ".join(parts)

    def _draw(self) -> None:
        if not self.tty:
            return
        text = self.status_text()
        if not text:
            self._clear()
            return
        width = shutil.get_terminal_size((80, 24)).columns - 1
        self._drawn_at = self._clock()
        if self._shown and text[:width] == self._drawn:
            return  # already on screen
        self._drawn = text[:width]
        self.out.write(f"\r{self._drawn}\x1b[K")
        self.out.flush()
        self._shown = True

    def _clear(self) -> None:
        if self._shown:
            self.out.write("\r\x1b[K")
            self.out.flush()
            self._shown = False


def _trio_time() -> float:
    import trio

    try:
        return trio.current_time()
    except RuntimeError:  # outside trio.run
        return 0.0
