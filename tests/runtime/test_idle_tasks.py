"""How many tasks a session runs: an idle one is its reader, the WebSocket's and a control lane."""

from __future__ import annotations

import trio
import trio.testing

from livehandle import LiveConfig, open_live_session
from livehandle.testing import LiveEmulator

PCM = bytes(640)  # 20 ms of 16 kHz PCM16


def tasks_under(nursery: trio.Nursery) -> int:
    return sum(
        1 + sum(tasks_under(inner) for inner in task.child_nurseries)
        for task in nursery.child_tasks
    )


def session_tasks() -> int:
    """Tasks under the newest nursery of this task: the one ``open_live_session`` opened."""
    return tasks_under(trio.lowlevel.current_task().child_nurseries[-1])


async def test_an_idle_session_runs_three_tasks_and_sending_audio_adds_none() -> None:
    async with LiveEmulator().running() as emulator:
        config = LiveConfig()  # AUDIO out, server VAD, client VAD on the microphone
        async with open_live_session(config, api_key="k", endpoint=emulator.url) as handle:
            await trio.testing.wait_all_tasks_blocked()
            # the session's reader, trio-websocket's reader (which also owns the connection's
            # end: the transport runs no task of its own) and the control lane
            assert session_tasks() == 3
            for _ in range(50):  # a second of microphone audio, written by this task
                await handle.send_audio(PCM)
                assert session_tasks() == 3
            await trio.testing.wait_all_tasks_blocked()
            assert session_tasks() == 3
