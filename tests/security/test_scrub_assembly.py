"""Text joined from fragments is scrubbed once, where it is joined (a split echo is whole there)."""

from __future__ import annotations

from livehandle._events import SessionEvent
from livehandle._runtime.transcript import TranscriptBuffer
from livehandle._session.protocol import ProtocolState
from livehandle._wire import messages as m

SECRET = "CANARY-joined-key-0123456789"


class CountingScrub:
    """Replaces SECRET with ``***`` and counts its calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, text: str) -> str:
        self.calls.append(text)
        return text.replace(SECRET, "***")


def test_text_complete_is_scrubbed_once_per_turn_and_deltas_pass_as_they_are() -> None:
    scrub = CountingScrub()
    events: list[SessionEvent] = []
    state = ProtocolState(events.append, scrub)
    half = len(SECRET) // 2
    for piece in (f"key {SECRET[:half]}", f"{SECRET[half:]} done"):
        state.handle(m.ServerContent(model_turn=m.Content(parts=(m.Part(text=piece),))))
    state.handle(m.ServerContent(turn_complete=True))

    complete = [e for e in events if isinstance(e, SessionEvent.TextComplete)]
    deltas = [e.text for e in events if isinstance(e, SessionEvent.TextDelta)]
    assert [e.text for e in complete] == ["key *** done"]
    assert scrub.calls == [f"key {SECRET} done"]  # once, on the joined text
    assert "".join(deltas) == f"key {SECRET} done"  # each delta alone holds no whole secret


def test_the_transcript_scrubs_both_sides_once_per_finished_turn() -> None:
    scrub = CountingScrub()
    buffer = TranscriptBuffer(scrub=scrub)
    half = len(SECRET) // 2
    buffer.add_user_speech(f"my key is {SECRET[:half]}")
    buffer.add_user_speech(SECRET[half:])
    buffer.add_model_speech(f"you said {SECRET[:5]}")
    buffer.add_model_speech(SECRET[5:])

    turn = buffer.finish_turn()

    assert (turn.user, turn.model) == ("my key is ***", "you said ***")
    assert len(scrub.calls) == 2
    assert buffer.turns == [turn]


def test_the_transcript_without_a_scrubber_keeps_text_as_is() -> None:
    buffer = TranscriptBuffer()
    buffer.add_model_speech(SECRET)
    assert buffer.finish_turn().model == SECRET
