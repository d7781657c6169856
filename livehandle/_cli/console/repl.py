"""``livehandle console --text``: a text chat with the model, no audio devices.

Each line read is sent as a typed turn; the model's answer (its text, or the transcript of its
spoken answer) streams on the status line on a terminal and is printed as a ``model:`` line
when complete, followed by the turn's latency.  The prompt ``you> `` is shown when the input is
a terminal.  End of input (Ctrl-D) ends the chat.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TextIO

import trio

from livehandle._cli.console.loop import Narrator

if TYPE_CHECKING:
    from livehandle._cli.console.loop import Stats
    from livehandle._cli.console.view import View
    from livehandle._events import SessionEnd
    from livehandle._handle import LiveHandle

__all__ = ["PROMPT", "chat", "stdin_lines"]

PROMPT = "you> "

#: Reads the next line: None at the end of input.
LineReader = Callable[[], Awaitable[str | None]]


def stdin_lines(stream: TextIO | None = None) -> LineReader:
    """A reader of ``stream`` (default stdin) in a worker thread, abandoned on cancellation."""
    source = stream or sys.stdin

    async def read() -> str | None:
        line = await trio.to_thread.run_sync(source.readline, abandon_on_cancel=True)
        return line.rstrip("\r\n") if line else None

    return read


async def chat(
    handle: LiveHandle,
    read_line: LineReader,
    view: View,
    stats: Stats,
    *,
    prompt: bool,
    reply_timeout: float = 30.0,
) -> SessionEnd | None:
    """Chat until the input ends; returns how the session ended if it ended on its own."""
    narrator = Narrator(handle, view, stats, show_user_text=False)
    with handle.stream() as events:
        async with trio.open_nursery() as nursery:

            async def narrate() -> None:
                await narrator.run(events)
                nursery.cancel_scope.cancel()  # the session ended

            nursery.start_soon(narrate)
            while True:
                try:  # Ctrl-C may strike while the prompt is being written: inside the try
                    if prompt:
                        view.out.write(PROMPT)
                        view.out.flush()
                    line = await read_line()
                except BaseException:  # Ctrl-C (or cancelled) at the prompt
                    if prompt:  # what follows (the summary) starts on its own line
                        view.out.write("\n")
                        view.out.flush()
                    raise
                if line is None:
                    if prompt:
                        view.out.write("\n")
                    break
                if not line.strip():
                    continue
                replied = _turn_after(stats, stats.turns)
                await handle.send_text(line)
                with trio.move_on_after(reply_timeout) as waiting:
                    await narrator.wait_until(replied)
                if waiting.cancelled_caught:
                    view.line(f"!! no reply within {reply_timeout:g} s", tag="!")
            nursery.cancel_scope.cancel()
    return narrator.end


def _turn_after(stats: Stats, done: int) -> Callable[[], bool]:
    return lambda: stats.turns > done
