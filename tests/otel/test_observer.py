"""The OpenTelemetry observer fed by hand: edges the emulator tests do not reach."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio.testing

from livehandle import ConnectionLost, LiveEvent, OtelConfig, SessionEnd, SessionEvent
from livehandle._runtime.otel import OtelObserver, _tool_error
from livehandle._runtime.telemetry import SessionTelemetry
from livehandle._wire import messages as m

if TYPE_CHECKING:
    from tests.otel.conftest import Exported

CLIENT_END = SessionEvent.Disconnected(SessionEnd("client", 1000))


def observer(exported: Exported, telemetry: SessionTelemetry | None = None) -> OtelObserver:
    config = OtelConfig(
        tracer_provider=exported.tracer_provider, meter_provider=exported.meter_provider
    )
    return OtelObserver(
        config,
        telemetry=telemetry or SessionTelemetry(),
        model="models/gemini-test-live",
        backend="vertex",
        session_id="s-1",
    )


def call(name: str, call_id: str | None) -> m.FunctionCall:
    return m.FunctionCall(name=name, id=call_id, args={"secret": "do not export"})


async def test_client_vad_edges_time_the_turn_and_its_first_audio(
    autojump_clock: trio.testing.MockClock, exported: Exported
) -> None:
    otel = observer(exported)
    otel.speech_started()
    await trio.sleep(2)
    otel.speech_ended()
    await trio.sleep(0.5)
    otel.session_event(SessionEvent.AudioData(b"\0\0" * 100))
    otel.session_event(SessionEvent.AudioData(b"\0\0" * 100))  # later chunks record nothing
    await trio.sleep(1)
    otel.session_event(SessionEvent.TurnComplete())
    otel.session_event(CLIENT_END)
    (turn,) = [s for s in exported.spans() if s.name == "chat gemini-test-live"]
    assert turn.attributes["livehandle.turn.trigger"] == "speech"
    assert turn.attributes["livehandle.turn.time_to_first_audio"] == pytest.approx(0.5)
    assert turn.attributes["livehandle.turn.response_latency"] == pytest.approx(0.5)
    assert turn.attributes["gen_ai.system"] == "vertex_ai"
    assert turn.attributes["gen_ai.provider.name"] == "gcp.vertex_ai"
    (duration,) = exported.points("livehandle.turn.duration")
    assert duration.sum == pytest.approx(3.5)
    (first,) = exported.points("livehandle.turn.time_to_first_audio")
    assert (first.count, first.sum) == (1, pytest.approx(0.5))


async def test_drops_and_lags_are_counted_once_each(
    autojump_clock: trio.testing.MockClock, exported: Exported
) -> None:
    telemetry = SessionTelemetry()
    otel = observer(exported, telemetry)
    telemetry.record_dropped("audio", 3)
    telemetry.record_lagged(2)
    otel.session_event(SessionEvent.TurnComplete())
    telemetry.record_dropped("audio", 1)
    telemetry.record_dropped("text")
    otel.session_event(SessionEvent.TurnComplete())
    otel.session_event(CLIENT_END)
    assert exported.total("livehandle.events.dropped", livehandle__event__kind="audio") == 4
    assert exported.total("livehandle.events.dropped", livehandle__event__kind="text") == 1
    assert exported.total("livehandle.events.lagged") == 2


async def test_withdrawn_and_anonymous_calls_and_an_abnormal_end(
    autojump_clock: trio.testing.MockClock, exported: Exported
) -> None:
    otel = observer(exported)
    otel.session_event(SessionEvent.ToolCall((call("a", "c1"), call("b", None), call("c", "c3"))))
    await trio.sleep(1)
    otel.session_event(SessionEvent.ToolCallCancelled(("c1",)))
    otel.live_event(LiveEvent.ToolExecution("b", {}, {"result": "ok"}, id=None))
    otel.live_event(LiveEvent.ToolExecution("zz", {}, {"result": "ok"}, id="unknown"))  # ignored
    otel.session_event(SessionEvent.Error(ConnectionLost("dropped")))
    end = SessionEnd("network", 1006, error=ConnectionLost("dropped"))
    otel.session_event(SessionEvent.Disconnected(end))
    otel.close()  # again: nothing more happens
    spans = {s.name: s for s in exported.spans()}
    assert spans["execute_tool a"].attributes["livehandle.tool.cancelled"] == "server"
    assert "livehandle.tool.cancelled" not in spans["execute_tool b"].attributes
    assert "gen_ai.tool.call.id" not in spans["execute_tool b"].attributes
    assert spans["execute_tool c"].attributes["livehandle.tool.cancelled"] == "session_ended"
    turn = spans["chat gemini-test-live"]
    assert turn.attributes["livehandle.turn.trigger"] == "model"
    assert turn.attributes["livehandle.turn.complete"] is False
    session = spans["livehandle.session"]
    assert session.attributes["error.type"] == "ConnectionLost"
    assert not session.status.is_ok and session.status.description == "ConnectionLost"
    assert [(e.name, dict(e.attributes)) for e in session.events] == [
        ("exception", {"exception.type": "ConnectionLost"})
    ]
    assert len(exported.spans()) == 5
    durations = exported.points("livehandle.tool.duration")
    assert [(p.attributes["gen_ai.tool.name"], p.sum) for p in durations] == [("b", 1.0)]


async def test_a_failing_export_is_logged_once_and_never_reaches_the_session(
    autojump_clock: trio.testing.MockClock,
    exported: Exported,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    otel = observer(exported)
    calls: list[Any] = []

    def broken(event: SessionEvent) -> None:
        calls.append(event)
        raise RuntimeError("exporter bug")

    monkeypatch.setattr(otel, "session_event", broken)
    with caplog.at_level(logging.ERROR, logger="livehandle.otel"):
        otel.tap(SessionEvent.TurnComplete())
        otel.tap(SessionEvent.TurnComplete())
    assert len(calls) == 1
    assert [r.getMessage() for r in caplog.records] == [
        "OpenTelemetry export failed; it stops for this session"
    ]


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"result": "fine"}, None),
        ({"error": "ValueError: no forecast"}, "ValueError"),
        ({"error": "unknown tool 'x': this client has no such function"}, "tool_error"),
        ({"status": "error", "tool": "t", "error": "boom"}, "tool_error"),
        ({"status": "error", "tool": "t"}, "tool_error"),
        ({"error": {"code": 3}}, "tool_error"),
    ],
)
def test_the_error_type_of_a_tool_answer(result: dict[str, object], expected: str | None) -> None:
    assert _tool_error(result) == expected


async def test_server_vad_a_text_reply_and_a_call_stopped_by_a_barge_in(
    autojump_clock: trio.testing.MockClock, exported: Exported
) -> None:
    otel = observer(exported)
    otel.session_event(SessionEvent.VoiceActivityStart())
    await trio.sleep(1)
    otel.session_event(SessionEvent.VoiceActivityEnd())
    await trio.sleep(0.25)
    otel.session_event(SessionEvent.TextDelta("Sure"))
    otel.session_event(SessionEvent.ToolCall((call("book", "c1"),)))
    otel.live_event(LiveEvent.ToolCancelled(("c1",), reason="barge_in"))
    otel.live_event(LiveEvent.Interrupted())  # not a dispatcher event: ignored
    otel.session_event(SessionEvent.Interrupted())
    otel.session_event(SessionEvent.TextDelta("stale"))  # the interrupted reply: no answer
    otel.session_event(SessionEvent.Usage(m.UsageMetadata(prompt_token_count=10)))
    otel.session_event(SessionEvent.TurnComplete("interrupted"))
    otel.session_event(CLIENT_END)
    spans = {s.name: s for s in exported.spans()}
    turn = spans["chat gemini-test-live"]
    assert turn.attributes["livehandle.turn.trigger"] == "speech"
    assert turn.attributes["livehandle.turn.response_latency"] == pytest.approx(0.25)
    assert "livehandle.turn.time_to_first_audio" not in turn.attributes
    assert turn.attributes["gen_ai.response.finish_reasons"] == ("interrupted",)
    assert turn.attributes["gen_ai.usage.input_tokens"] == 10
    assert "gen_ai.usage.output_tokens" not in turn.attributes
    assert spans["execute_tool book"].attributes["livehandle.tool.cancelled"] == "barge_in"
    (tokens,) = exported.points("gen_ai.client.token.usage")  # no breakdown: the total
    assert tokens.attributes["gen_ai.token.type"] == "input" and tokens.sum == 10
    assert "livehandle.token.modality" not in tokens.attributes
    (latency,) = exported.points("livehandle.turn.response_latency")
    assert latency.count == 1


FEED = (
    SessionEvent.Connected(),
    SessionEvent.UserTextSent("hi"),
    SessionEvent.ToolCall((call("t", "c1"),)),
    SessionEvent.AudioData(b"\0\0"),
    SessionEvent.Interrupted(),
    SessionEvent.TurnComplete(),
    SessionEvent.Reconnecting("go_away", 1),
    SessionEvent.Resumed(2, 120.0, 0, 0.0),
)


@pytest.mark.parametrize("half", ["traces", "metrics"])
async def test_each_half_works_alone(
    autojump_clock: trio.testing.MockClock, exported: Exported, half: str
) -> None:
    config = OtelConfig(
        tracer_provider=exported.tracer_provider,
        meter_provider=exported.meter_provider,
        traces=half == "traces",
        metrics=half == "metrics",
    )
    otel = OtelObserver(
        config, telemetry=SessionTelemetry(), model="m", backend="url", session_id="s"
    )
    for event in FEED:
        otel.session_event(event)
    otel.live_event(LiveEvent.ToolExecution("t", {}, {"error": "KeyError: 'x'"}, id="c1"))
    otel.session_event(CLIENT_END)
    spans = exported.spans()
    assert exported.total("livehandle.tool.errors") == (1 if half == "metrics" else 0)
    assert exported.total("livehandle.reconnects") == (1 if half == "metrics" else 0)
    assert len(spans) == (3 if half == "traces" else 0)
    if half == "traces":
        tool_span = next(s for s in spans if s.name == "execute_tool t")
        assert tool_span.attributes["error.type"] == "KeyError"


def test_the_switches_must_be_booleans() -> None:
    with pytest.raises(TypeError, match=r"OtelConfig\.traces must be a bool"):
        OtelConfig(traces="yes")  # type: ignore[arg-type]
    assert "provider" not in repr(OtelConfig(tracer_provider=object()))
