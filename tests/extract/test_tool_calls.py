"""Tool calls in the transcript: summaries, their bounds, windows, and snapshot compatibility."""

from __future__ import annotations

import json
import logging

import pytest

from livehandle import SessionSnapshot, ToolCallSummary, TranscriptTurn
from livehandle._runtime.transcript import MAX_TOOL_CALLS_PER_TURN, TranscriptBuffer


def test_summary_texts_are_cut_to_200_characters() -> None:
    short = ToolCallSummary("lookup", '{"q":"x"}', "ok")
    assert (short.args, short.result) == ('{"q":"x"}', "ok")
    long = ToolCallSummary("lookup", "a" * 500, "b" * 201)
    assert len(long.args) == 200 == len(long.result)
    assert long.args == "a" * 199 + "\u2026"
    exact = ToolCallSummary("lookup", "c" * 200, "")
    assert exact.args == "c" * 200


def test_summary_fields_must_be_strings() -> None:
    with pytest.raises(TypeError, match="a tool call summary is a string"):
        ToolCallSummary("lookup", {"q": 1}, "ok")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        ToolCallSummary(3, "", "")  # type: ignore[arg-type]


def test_transcript_turn_tool_calls_default_and_check() -> None:
    assert TranscriptTurn(1, "u", "m").tool_calls == ()
    calls = [ToolCallSummary("a", "", "")]
    assert TranscriptTurn(1, "u", "m", tool_calls=calls).tool_calls == tuple(calls)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tool_calls must be a sequence of ToolCallSummary"):
        TranscriptTurn(1, "u", "m", tool_calls=("a",))  # type: ignore[arg-type]


def test_buffer_keeps_the_turns_tool_calls_as_compact_json() -> None:
    buffer = TranscriptBuffer()
    buffer.add_user_speech("book a table")
    buffer.add_tool_call("book", {"party": 4, "name": "Åsa"}, {"ok": True})
    buffer.add_tool_call("note", "plain text", None)
    turn = buffer.finish_turn()
    assert turn.tool_calls == (
        ToolCallSummary("book", '{"party":4,"name":"Åsa"}', '{"ok":true}'),
        ToolCallSummary("note", "plain text", "null"),
    )
    assert buffer.finish_turn().tool_calls == ()  # the next turn starts with none


def test_buffer_cuts_long_arguments_and_writes_what_json_cannot() -> None:
    buffer = TranscriptBuffer()
    buffer.add_tool_call("big", {"text": "x" * 1000}, {"blob": b"\x00"})
    (call,) = buffer.finish_turn().tool_calls
    assert len(call.args) == 200 and call.args.startswith('{"text":"xxx')
    assert call.result == json.dumps({"blob": repr(b"\x00")}, separators=(",", ":"))


def test_buffer_scrubs_tool_call_texts() -> None:
    buffer = TranscriptBuffer(scrub=lambda text: text.replace("SECRET", "***"))
    buffer.add_tool_call("auth", {"key": "SECRET"}, "token SECRET")
    (call,) = buffer.finish_turn().tool_calls
    assert "SECRET" not in call.args + call.result
    assert call.args == '{"key":"***"}' and call.result == "token ***"


def test_a_turn_keeps_the_newest_tool_calls_and_logs_the_drop(
    caplog: pytest.LogCaptureFixture,
) -> None:
    buffer = TranscriptBuffer()
    with caplog.at_level(logging.DEBUG, logger="livehandle.runtime"):
        for index in range(MAX_TOOL_CALLS_PER_TURN + 3):
            buffer.add_tool_call(f"t{index}", {}, {})
    calls = buffer.finish_turn().tool_calls
    assert len(calls) == MAX_TOOL_CALLS_PER_TURN
    assert calls[0].name == "t3" and calls[-1].name == f"t{MAX_TOOL_CALLS_PER_TURN + 2}"
    assert sum("the oldest summary is dropped" in r.getMessage() for r in caplog.records) == 3


def test_window_of_finished_turns_and_with_the_current_one() -> None:
    buffer = TranscriptBuffer()
    for text in ("one", "two", "three"):
        buffer.add_typed(text)
        buffer.finish_turn()
    assert [turn.user for turn in buffer.window(2)] == ["two", "three"]
    assert [turn.user for turn in buffer.window(10)] == ["one", "two", "three"]
    buffer.add_typed("four")
    buffer.add_tool_call("t", {}, "ok")
    current = buffer.window(2, include_current=True)
    assert [(turn.index, turn.user) for turn in current] == [(3, "three"), (4, "four")]
    assert current[-1].tool_calls == (ToolCallSummary("t", "{}", "ok"),)
    assert [turn.user for turn in buffer.window(1, include_current=True)] == ["four"]
    assert buffer.count == 3  # looking at the current turn does not finish it
    with pytest.raises(ValueError, match="at least 1"):
        buffer.window(0)


def _snapshot(turns: tuple[TranscriptTurn, ...]) -> SessionSnapshot:
    return SessionSnapshot(
        session_id="call-16",
        state={},
        transcript=turns,
        turn_count=len(turns),
        phase="active",
        resume_handle=None,
        handle_issued_at=None,
        telemetry={},
        config_fingerprint="f",
        saved_at="2026-12-07T05:00:01Z",
    )


def test_snapshots_carry_tool_calls() -> None:
    turn = TranscriptTurn(1, "u", "m", tool_calls=(ToolCallSummary("t", "{}", "ok"),))
    snapshot = _snapshot((turn,))
    assert SessionSnapshot.from_json(snapshot.to_json()) == snapshot


def test_a_snapshot_written_before_tool_calls_existed_still_loads() -> None:
    data = json.loads(_snapshot((TranscriptTurn(1, "u", "m"),)).to_json())
    for turn in data["transcript"]:
        del turn["tool_calls"]
    assert "tool_calls" not in json.dumps(data)
    restored = SessionSnapshot.from_json(json.dumps(data))
    assert restored.transcript == (TranscriptTurn(1, "u", "m"),)
    assert restored.transcript[0].tool_calls == ()
