"""A session that outlives its connections, against the emulator (in memory, on a mock clock)."""

from __future__ import annotations

import trio
import trio.testing

from livehandle import LiveConfig, LiveEvent, open_live_session
from livehandle.testing import LiveEmulator, Scenario
from tests.testing.helpers import until

TEXT = LiveConfig(response_modality="TEXT", auto_resume=True)


async def test_a_text_conversation_is_answered_across_go_aways_on_one_handle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    scenario = Scenario(go_away_after_turns=2, go_away_time_left=30)
    answers: list[str] = []
    resumed: list[LiveEvent.Resumed] = []
    async with (
        LiveEmulator(scenario).in_memory() as emu,
        open_live_session(TEXT, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        for n in range(7):
            await handle.send_text(f"question {n}")
            seen = await until(events, LiveEvent.TurnComplete)
            answers.append("".join(e.text for e in seen if isinstance(e, LiveEvent.TextComplete)))
            resumed.extend(e for e in seen if isinstance(e, LiveEvent.Resumed))
        await handle.disconnect()
    assert answers == [f"You said: question {n}" for n in range(7)]
    assert len(emu.connections) >= 3
    assert [r.connection for r in resumed] == list(range(2, len(emu.connections) + 1))
    assert all(r.lost_audio_ms == 0 for r in resumed)
    assert handle.telemetry.reconnects == len(emu.connections) - 1
