"""Every livehandle log record says which session and which connection it belongs to."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import attrs
import trio
import trio.testing

from livehandle import InvalidArgument, LiveConfig, LiveEvent, open_live_session, tool
from livehandle._logs import LogScope, library_logger, scoped
from livehandle.testing import (
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
    import pytest

    from livehandle._tools import FunctionTool

TEXT = LiveConfig(response_modality="TEXT", auto_resume=True)
SCENARIO = Scenario(rules=[Rule(When(text="boom"), [CallTools([ToolCallSpec("boom")]), Say("ok")])])


def failing_tool(label: str) -> FunctionTool:
    @tool
    async def boom() -> str:
        """Always fails."""
        raise RuntimeError(f"failed in {label}")

    return boom


def client_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """Records of the client side (the emulator's own connections have their own ids)."""
    return [
        r
        for r in caplog.records
        if r.name.startswith("livehandle.")
        and not r.name.startswith(("livehandle.emulator", "livehandle.testing"))
    ]


def tool_failures(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in client_records(caplog) if r.msg == "tool %s failed"]


async def test_two_concurrent_sessions_log_with_their_own_ids(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="livehandle")

    async def converse(emu: LiveEmulator, sid: str) -> None:
        config = attrs.evolve(TEXT, tools=(failing_tool(sid),))
        transport = emu.memory_transport()
        async with open_live_session(
            config, endpoint=emu.url, transport=transport, session_id=sid
        ) as handle:
            events = handle.events()
            await handle.send_text("boom")
            await until(events, LiveEvent.TurnComplete)
            library_logger("livehandle.tools").info("in the body of %s", sid)
            await handle.disconnect()

    async with LiveEmulator(SCENARIO).in_memory() as emu, trio.open_nursery() as nursery:
        nursery.start_soon(converse, emu, "alpha")
        nursery.start_soon(converse, emu, "beta")

    # Logged in the sessions' tool tasks (the runtime's), each with its session's id.
    failures = tool_failures(caplog)
    assert sorted((r.session_id, str(r.exc_info[1]) if r.exc_info else "") for r in failures) == [
        ("alpha", "failed in alpha"),
        ("beta", "failed in beta"),
    ]
    assert all(r.connection_id == 1 for r in failures)
    # Logged by each connection's own task.
    connected = [r for r in client_records(caplog) if r.msg == "connected to %s"]
    assert sorted((r.session_id, r.connection_id) for r in connected) == [
        ("alpha", 1),
        ("beta", 1),
    ]
    # Logged from the application's task, inside the async with.
    body = [r for r in client_records(caplog) if r.msg == "in the body of %s"]
    assert sorted((r.session_id, r.args) for r in body) == [
        ("alpha", ("alpha",)),
        ("beta", ("beta",)),
    ]
    # The emulator's records name its connections and conversations, never the client's.
    emulator = [r for r in caplog.records if r.name == "livehandle.emulator"]
    assert emulator
    assert {r.session_id for r in emulator} <= {"conversation-1", "conversation-2"}
    assert {r.connection_id for r in emulator} == {0, 1}


async def test_a_reconnect_changes_the_connection_id(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="livehandle")
    config = attrs.evolve(TEXT, tools=(failing_tool("s"),))
    async with (
        LiveEmulator(SCENARIO).in_memory() as emu,
        open_live_session(
            config, endpoint=emu.url, transport=emu.memory_transport(), session_id="s1"
        ) as handle,
    ):
        events = handle.events()
        await handle.send_text("boom")
        await until(events, LiveEvent.TurnComplete)
        await emu.connections[0].fault(Fault("drop"))
        await until(events, LiveEvent.Resumed)
        await handle.send_text("boom")
        await until(events, LiveEvent.TurnComplete)
        await handle.disconnect()

    records = client_records(caplog)
    assert {r.session_id for r in records} == {"s1"}
    # The runtime's tool tasks were spawned on the first connection; they report the current.
    assert [r.connection_id for r in tool_failures(caplog)] == [1, 2]
    connected = [r.connection_id for r in records if r.msg == "connected to %s"]
    assert connected == [1, 2]
    reconnecting = [r for r in records if r.msg.startswith("reconnecting")]
    assert [r.connection_id for r in reconnecting] == [1]  # said of the lost connection
    resumed = [r for r in records if r.msg.startswith("resumed after")]
    assert [r.connection_id for r in resumed] == [2]
    # The old connection's end is told with its own number, even after the switch.
    ended = [r for r in records if r.msg.startswith("session ended")]
    assert [r.connection_id for r in ended] == [1, 2]


def test_records_outside_a_session_carry_the_attributes_as_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="livehandle")
    logging.getLogger("livehandle.session").info("outside")  # the module's own logger object
    logging.getLogger("livehandle").info("on the package logger")
    (outside, package) = caplog.records
    assert (outside.session_id, outside.connection_id) == (None, None)
    assert (package.session_id, package.connection_id) == (None, None)


def test_a_scope_sets_the_ids_and_explicit_ids_are_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="livehandle")
    log = library_logger("livehandle.session")
    with scoped(LogScope("s", 3)):
        log.info("scoped")
        log.info("explicit", extra={"session_id": "other", "connection_id": 9})
    log.info("after")
    assert [(r.session_id, r.connection_id) for r in caplog.records] == [
        ("s", 3),
        ("other", 9),
        (None, None),
    ]


def test_nothing_is_formatted_or_looked_up_when_the_level_is_off(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.WARNING, logger="livehandle")
    looked_up: list[str] = []

    class Loud:
        def __str__(self) -> str:
            looked_up.append("formatted")
            return "loud"

    from livehandle import _logs

    real = _logs._AddIds.filter

    def counting(self: logging.Filter, record: logging.LogRecord) -> bool:
        looked_up.append("filtered")
        return real(self, record)  # type: ignore[arg-type]

    monkeypatch.setattr(_logs._AddIds, "filter", counting)
    library_logger("livehandle.session").debug("never %s", Loud())
    assert looked_up == []
    library_logger("livehandle.session").warning("shown %s", Loud())
    assert caplog.records[-1].getMessage() == "shown loud"
    assert looked_up[0] == "filtered"  # once the level lets the record through
    assert "formatted" in looked_up


async def test_no_record_holds_a_key_from_the_url_or_the_headers(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # everything, every library's loggers included
    in_url, in_header = "AIzaSy-url-canary-0123456789", "AIzaSy-header-canary-9876543210"
    async with LiveEmulator(SCENARIO, api_key=in_header).in_memory() as emu:
        refused = False
        try:  # the key in the URL is refused (raised in a group by the in-memory transport)
            async with open_live_session(
                TEXT, endpoint=f"{emu.url}?key={in_url}", transport=emu.memory_transport()
            ):
                pass
        except* InvalidArgument:
            refused = True
        assert refused
        async with open_live_session(
            TEXT, api_key=in_header, endpoint=emu.url, transport=emu.memory_transport()
        ) as handle:
            events = handle.events()
            await handle.send_text("hello")
            await until(events, LiveEvent.TurnComplete)
            await emu.connections[-1].fault(Fault("drop"))
            await until(events, LiveEvent.Resumed)
            await handle.disconnect()
    assert len(caplog.records) > 5
    for record in caplog.records:
        shown = f"{record.getMessage()} {record.__dict__!r} {record.exc_text or ''}"
        assert in_url not in shown and in_header not in shown, record.getMessage()
        assert in_url[8:20] not in shown and in_header[8:20] not in shown  # nor a part of it
