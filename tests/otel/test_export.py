"""OpenTelemetry spans and metrics of sessions against the in-memory emulator (mock clock)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import trio
import trio.testing

from livehandle import LiveConfig, LiveEvent, OtelConfig, open_live_session, tool
from livehandle.testing import (
    Audio,
    CallTools,
    Fault,
    LiveEmulator,
    Rule,
    Say,
    Scenario,
    ToolCallSpec,
    When,
)
from tests.testing.helpers import until

if TYPE_CHECKING:
    from tests.otel.conftest import Exported

MODEL = LiveConfig().model.removeprefix("models/")


def otel(exported: Exported, **settings: Any) -> OtelConfig:
    return OtelConfig(
        tracer_provider=exported.tracer_provider, meter_provider=exported.meter_provider, **settings
    )


@tool
async def lookup(city: str) -> str:
    """Look a city's weather up (takes 2 s)."""
    await trio.sleep(2)
    return f"{city}: sunny"


@tool
async def explode(city: str) -> str:
    """Fail after 1 s."""
    await trio.sleep(1)
    raise ValueError(f"no forecast for {city}")


WEATHER = Scenario(
    rules=[
        Rule(
            When(text="weather"),
            [
                CallTools(
                    [
                        ToolCallSpec("lookup", {"city": "Paris"}, id="c1"),
                        ToolCallSpec("explode", {"city": "Paris"}, id="c2"),
                    ]
                ),
                Say("It is sunny in Paris"),
            ],
        )
    ]
)


async def test_a_turn_with_a_tool_call_and_a_failing_tool(
    autojump_clock: trio.testing.MockClock, exported: Exported
) -> None:
    config = LiveConfig(response_modality="TEXT", tools=(lookup, explode), otel=otel(exported))
    async with (
        LiveEmulator(WEATHER).in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await trio.sleep(1)
        sent_at = trio.current_time()
        await handle.send_text("what is the weather in Paris")
        seen = await until(events, LiveEvent.TurnComplete)
        took = trio.current_time() - sent_at
        await handle.disconnect()
    assert sum(isinstance(e, LiveEvent.ToolExecution) for e in seen) == 2

    session = exported.span("livehandle.session")
    turn = exported.span(f"chat {MODEL}")
    ok = exported.span("execute_tool lookup")
    failed = exported.span("execute_tool explode")
    # the tree: session > turn > each tool call
    assert session.parent is None
    assert turn.parent.span_id == session.context.span_id
    assert ok.parent.span_id == failed.parent.span_id == turn.context.span_id
    assert {s.context.trace_id for s in exported.spans()} == {session.context.trace_id}

    assert session.attributes["gen_ai.request.model"] == MODEL
    assert session.attributes["gen_ai.system"] == "gemini"
    assert session.attributes["gen_ai.conversation.id"] == handle.session_id
    assert session.attributes["livehandle.session.turns"] == 1
    assert session.attributes["livehandle.session.connections"] == 1
    assert session.attributes["livehandle.session.end"] == "client"
    assert session.status.is_ok

    assert turn.attributes["gen_ai.operation.name"] == "chat"
    assert turn.attributes["livehandle.turn.trigger"] == "text"
    assert turn.attributes["livehandle.turn.interrupted"] is False
    assert turn.attributes["gen_ai.usage.input_tokens"] > 0
    assert turn.attributes["gen_ai.usage.output_tokens"] > 0
    # span times follow Trio's clock: the turn lasted as long as the test saw it last
    assert (turn.end_time - turn.start_time) / 1e9 == pytest_approx(took)

    assert ok.attributes["gen_ai.operation.name"] == "execute_tool"
    assert ok.attributes["gen_ai.tool.name"] == "lookup"
    assert ok.attributes["gen_ai.tool.call.id"] == "c1"
    assert ok.status.is_unset and "error.type" not in ok.attributes
    assert (ok.end_time - ok.start_time) / 1e9 == pytest_approx(2.0)
    assert failed.attributes["gen_ai.tool.call.id"] == "c2"
    assert failed.attributes["error.type"] == "ValueError"
    assert not failed.status.is_ok and failed.status.description == "ValueError"

    durations = exported.points("livehandle.tool.duration")
    by_tool = {p.attributes["gen_ai.tool.name"]: p for p in durations}
    assert by_tool["lookup"].count == 1 and by_tool["lookup"].sum == pytest_approx(2.0)
    assert by_tool["explode"].attributes["error.type"] == "ValueError"
    assert exported.total("livehandle.tool.errors", gen_ai__tool__name="explode") == 1
    assert exported.total("livehandle.tool.errors", gen_ai__tool__name="lookup") == 0

    (turn_point,) = exported.points("livehandle.turn.duration")
    assert turn_point.count == 1 and turn_point.sum == pytest_approx(took)
    (latency,) = exported.points("livehandle.turn.response_latency")
    assert latency.count == 1 and latency.sum >= 2.0  # the answer came after the tools
    assert exported.points("livehandle.turn.time_to_first_audio") == []  # a TEXT session

    tokens = {
        (p.attributes["gen_ai.token.type"], p.attributes.get("livehandle.token.modality")): p.sum
        for p in exported.points("gen_ai.client.token.usage")
    }
    assert tokens[("output", "TEXT")] == turn.attributes["gen_ai.usage.output_tokens"]
    inputs = sum(v for (kind, _), v in tokens.items() if kind == "input")
    assert inputs == turn.attributes["gen_ai.usage.input_tokens"]


def pytest_approx(value: float) -> Any:
    import pytest

    return pytest.approx(value, abs=1e-6)


LONG = Scenario(rules=[Rule(When(text="story"), [Audio(8000, "Once upon a time")])])


async def test_a_barge_in_is_counted_and_marks_its_turn(
    autojump_clock: trio.testing.MockClock, exported: Exported
) -> None:
    config = LiveConfig(otel=otel(exported))
    async with (
        LiveEmulator(LONG, realtime=True).in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await handle.send_text("tell me a story")
        await until(events, LiveEvent.Audio)
        await trio.sleep(1)
        await handle.send_text("stop")
        await until(events, LiveEvent.Interrupted)
        await until(events, LiveEvent.TurnComplete)  # the interrupted turn ends
        await until(events, LiveEvent.TurnComplete)  # the answer to "stop"
        await handle.disconnect()

    assert exported.total("livehandle.interruptions") == 1
    turns = sorted(
        (s for s in exported.spans() if s.name == f"chat {MODEL}"),
        key=lambda s: s.attributes["livehandle.turn.number"],
    )
    assert [t.attributes["livehandle.turn.interrupted"] for t in turns] == [True, False]
    assert [e.name for e in turns[0].events] == ["interrupted"]
    assert [t.attributes["livehandle.turn.trigger"] for t in turns] == ["text", "text"]
    # the second turn runs from "stop" being sent, which came before the interrupted turn's
    # turnComplete (at the same mock-clock instant here)
    assert turns[1].start_time <= turns[0].end_time
    interrupted = exported.points("livehandle.turn.duration")
    assert {p.attributes["livehandle.turn.interrupted"]: p.count for p in interrupted} == {
        True: 1,
        False: 1,
    }
    (first_audio,) = exported.points("livehandle.turn.time_to_first_audio")
    assert first_audio.count == 2  # each reply's first audio, measured from its typed turn
    assert all("time_to_first_audio" in " ".join(t.attributes) for t in turns)
    tokens = exported.points("gen_ai.client.token.usage")
    assert {p.attributes.get("livehandle.token.modality") for p in tokens} >= {"AUDIO"}


async def test_a_dropped_connection_is_a_reconnect_with_its_gap(
    autojump_clock: trio.testing.MockClock, exported: Exported
) -> None:
    config = LiveConfig(response_modality="TEXT", auto_resume=True, otel=otel(exported))
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await handle.send_text("one")
        await until(events, LiveEvent.TurnComplete)
        await emu.connections[0].fault(Fault("drop"))
        resumed = (await until(events, LiveEvent.Resumed))[-1]
        await handle.send_text("two")
        await until(events, LiveEvent.TurnComplete)
        await handle.disconnect()

    assert (
        exported.total(
            "livehandle.reconnect.attempts", livehandle__reconnect__reason="connection_lost"
        )
        == 1
    )
    assert exported.total("livehandle.reconnects") == 1
    (gap,) = exported.points("livehandle.resume.gap")
    assert gap.count == 1 and gap.sum == pytest_approx(resumed.gap_ms / 1000)
    session = exported.span("livehandle.session")
    names = [e.name for e in session.events]
    assert names == ["connected", "reconnecting", "resumed"]
    assert session.events[1].attributes["livehandle.reconnect.reason"] == "connection_lost"
    assert session.events[2].attributes["livehandle.resume.gap_ms"] == resumed.gap_ms
    assert session.attributes["livehandle.session.connections"] == 2
    assert session.attributes["livehandle.session.turns"] == 2


async def test_no_text_arguments_or_secrets_reach_an_attribute(
    autojump_clock: trio.testing.MockClock, exported: Exported
) -> None:
    key = "AIzaSy-secret-key-for-the-otel-test"
    config = LiveConfig(response_modality="TEXT", tools=(lookup, explode), otel=otel(exported))
    async with (
        LiveEmulator(WEATHER).in_memory() as emu,
        open_live_session(
            config, endpoint=emu.url, api_key=key, transport=emu.memory_transport()
        ) as handle,
    ):
        events = handle.events()
        await handle.send_text("what is the weather in Paris")
        await until(events, LiveEvent.TurnComplete)
        await handle.disconnect()
    values: list[str] = []
    for span in exported.spans():
        values.extend(str(v) for v in span.attributes.values())
        for event in span.events:
            values.extend(str(v) for v in event.attributes.values())
    values.extend(
        str(v)
        for name in ("livehandle.tool.duration", "gen_ai.client.token.usage")
        for point in exported.points(name)
        for v in point.attributes.values()
    )
    assert values
    for secret in (key, "Paris", "weather", "sunny", "no forecast"):
        assert not any(secret in value for value in values), secret


async def test_traces_and_metrics_can_each_be_turned_off(
    autojump_clock: trio.testing.MockClock, exported: Exported
) -> None:
    for settings in ({"traces": False}, {"metrics": False}):
        config = LiveConfig(response_modality="TEXT", otel=otel(exported, **settings))
        async with (
            LiveEmulator().in_memory() as emu,
            open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
        ):
            events = handle.events()
            await handle.send_text("hello")
            await until(events, LiveEvent.TurnComplete)
            await handle.disconnect()
        if settings == {"traces": False}:
            assert exported.spans() == []
            assert exported.total("livehandle.turn.duration") == 1
    assert len([s for s in exported.spans() if s.name == "livehandle.session"]) == 1
    assert exported.total("livehandle.turn.duration") == 1  # the second session recorded none


async def test_the_global_providers_are_used_when_none_are_given(
    autojump_clock: trio.testing.MockClock, exported: Exported, monkeypatch: Any
) -> None:
    from opentelemetry import metrics, trace

    monkeypatch.setattr(trace, "get_tracer_provider", lambda: exported.tracer_provider)
    monkeypatch.setattr(metrics, "get_meter_provider", lambda: exported.meter_provider)
    config = attrs.evolve(LiveConfig(response_modality="TEXT"), otel=OtelConfig())
    async with (
        LiveEmulator().in_memory() as emu,
        open_live_session(config, endpoint=emu.url, transport=emu.memory_transport()) as handle,
    ):
        events = handle.events()
        await handle.send_text("hello")
        await until(events, LiveEvent.TurnComplete)
    assert exported.span("livehandle.session").attributes["livehandle.session.turns"] == 1
    assert exported.total("livehandle.turn.duration") == 1
