"""The smallest bot: send typed turns, print the model's answers as they stream in.

Run it with no API key and it talks to the in-process emulator, whose default model echoes
what it is told::

    python examples/echo_bot.py "Hello!" "How are you?"

Set ``GEMINI_API_KEY`` (or pass ``--endpoint wss://...``) to talk to Gemini instead.
"""

from __future__ import annotations

import argparse
import os
from contextlib import AsyncExitStack

import trio

from livehandle import LiveConfig, LiveEvent, open_live_session
from livehandle.testing import LiveEmulator


async def main(lines: list[str], endpoint: str | None = None) -> list[str]:
    """Send each line as a turn; print and return the model's answers."""
    answers = []
    async with AsyncExitStack() as stack:
        if endpoint is None and not os.environ.get("GEMINI_API_KEY"):
            endpoint = (await stack.enter_async_context(LiveEmulator().running())).url
        config = LiveConfig(response_modality="TEXT")
        handle = await stack.enter_async_context(open_live_session(config, endpoint=endpoint))
        events = handle.stream()
        for line in lines:
            print(f"you:   {line}")
            await handle.send_text(line)
            async for event in events:
                match event:
                    case LiveEvent.TextComplete(text=text):
                        print(f"model: {text}")
                        answers.append(text)
                    case LiveEvent.TurnComplete():
                        break
    return answers


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lines", nargs="*", default=["Hello!", "What can you do?"])
    parser.add_argument("--endpoint", help="a ws:// or wss:// Live API URL (default: emulator)")
    args = parser.parse_args()
    trio.run(main, args.lines, args.endpoint)
