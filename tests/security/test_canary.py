"""A canary secret through every failure path: it must appear in no string a user can see.

Each credential form (API key header, ``?key=``, ``?apiKey=``, ``?access_token=``,
``Authorization: Token``, a Vertex bearer token, URL userinfo) holds the canary; the fake servers
in :mod:`tests.security.servers` echo it back in close reasons, HTTP 403/401 bodies and headers,
and error frames.  Every error (with its chain), event, end, repr, telemetry snapshot and
DEBUG log record is then scanned by :class:`tests.security.exposure.Exposure`.
"""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING

import pytest
import trio
import trio.testing

from livehandle import (
    ConnectFailed,
    Endpoint,
    InvalidArgument,
    LiveConfig,
    ResumeFailed,
    ResumePolicy,
    SessionError,
    open_live_session,
)
from livehandle.lowlevel import Transport, WebSocketTransport
from tests.security.exposure import Exposure, error_chain
from tests.security.servers import AFTER_UPGRADE, CANARY, REJECTED, MemoryServer, socket_server

if TYPE_CHECKING:
    from collections.abc import Callable

KEY = f"{CANARY}-api-key-0d4e7a"
TOKEN = f"auth_tokens/{CANARY}-token-51c2"

CREDENTIALS: dict[str, Callable[[str], Endpoint]] = {
    "header": lambda base: Endpoint.google_ai(KEY, base_url=base),
    "key=": lambda base: Endpoint.google_ai(KEY, key_in_query=True, base_url=base),
    "apiKey=": lambda base: Endpoint.from_url(f"{base}/live?alt=1&apiKey={KEY}"),
    "access_token=": lambda base: Endpoint.ephemeral_token(TOKEN, base_url=base),
    "Authorization: Token": lambda base: Endpoint.ephemeral_token(
        TOKEN, in_header=True, base_url=base
    ),
    "vertex bearer": lambda base: Endpoint.vertex(
        project="p", location="l", token=lambda: f"ya29.{CANARY}-bearer", base_url=base
    ),
    "userinfo": lambda base: Endpoint.from_url(
        base.replace("://", f"://{CANARY}-user:{CANARY}-password@") + "/live"
    ),
}

POLICY = ResumePolicy(max_attempts=2, backoff_initial=0.01, backoff_max=0.01, jitter=0.0)
TEXT = LiveConfig(response_modality="TEXT", connect_timeout=30.0, setup_timeout=30.0)
RESUMING = LiveConfig(
    response_modality="TEXT", connect_timeout=30.0, auto_resume=True, resume_policy=POLICY
)

MEMORY_PATHS = ("refused", *REJECTED, *AFTER_UPGRADE, "resume_refused")
SOCKET_PATHS = (*MEMORY_PATHS, "tcp_close")


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def run(
    path: str, endpoint: Endpoint, transport: Transport, exposure: Exposure
) -> BaseException | None:
    """Open a session on ``endpoint`` and collect everything it shows until it ends."""
    config = RESUMING if path.startswith("resume") else TEXT
    exposure.add("config", config)
    exposure.add("endpoint", endpoint)
    exposure.add("resolved", endpoint.resolve())
    failure: BaseException | None = None
    try:
        async with open_live_session(config, endpoint=endpoint, transport=transport) as handle:
            exposure.add("handle", handle)
            events, raw = handle.events(), handle.subscribe()
            try:
                exposure.add("done()", await handle.done())
            except SessionError as exc:
                failure = exc
                exposure.add_error("done()", exc)
            exposure.add_all("LiveEvent", [e async for e in events])
            exposure.add_all("SessionEvent", [e async for e in raw])
            exposure.add("handle after", handle)
            exposure.add("telemetry", handle.telemetry)
            exposure.add_snapshot("telemetry.snapshot()", handle.telemetry.snapshot())
            exposure.add("transcript", handle.transcript)
    except BaseException as exc:  # a failed open, or the end re-raised on exit
        failure = failure or exc
        exposure.add_error("open_live_session", exc)
    return failure


def check(
    path: str, failure: BaseException | None, exposure: Exposure, caplog: pytest.LogCaptureFixture
) -> None:
    exposure.add_records(caplog.records)
    exposure.assert_free_of(CANARY)
    if path == "go_away":  # the announced end after a goAway is not a failure (1011 deadline)
        assert any("go_away" in text for _, text in exposure.texts)
        return
    assert failure is not None, f"{path} did not fail"
    if path in REJECTED:
        assert isinstance(failure, ConnectFailed) and failure.status_code == REJECTED[path]
    if path.startswith("resume"):
        assert isinstance(failure, ResumeFailed)
    if path.startswith("close_10") or path == "close_during_setup":
        code = 1007 if path == "close_during_setup" else int(path.removeprefix("close_"))
        closes = [e for e in error_chain(failure) if getattr(e, "code", None) == code]
        assert closes, f"no close {code} in the chain of {failure!r}"
        assert "API key not valid" in closes[0].reason  # the reason survives, scrubbed
        assert "***" in closes[0].reason


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("path", MEMORY_PATHS)
async def test_canary_never_shows_in_memory(
    path: str,
    credential: str,
    caplog: pytest.LogCaptureFixture,
    autojump_clock: trio.testing.MockClock,
) -> None:
    caplog.set_level(logging.DEBUG, logger="livehandle")
    exposure = Exposure()
    server = MemoryServer(path)
    transport = server.transport()
    failure = await run(path, CREDENTIALS[credential]("ws://canary.invalid"), transport, exposure)
    exposure.add("transport", transport)
    check(path, failure, exposure, caplog)


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("path", SOCKET_PATHS)
async def test_canary_never_shows_over_a_real_socket(
    path: str, credential: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="livehandle")
    exposure = Exposure()
    with trio.fail_after(10):
        if path == "refused":
            endpoint = CREDENTIALS[credential](f"ws://127.0.0.1:{unused_port()}")
            failure = await run(path, endpoint, WebSocketTransport(), exposure)
        else:
            secrets = CREDENTIALS[credential]("ws://127.0.0.1:1").resolve().secrets
            async with socket_server(path, secrets) as port:
                endpoint = CREDENTIALS[credential](f"ws://127.0.0.1:{port}")
                failure = await run(path, endpoint, WebSocketTransport(), exposure)
    check(path, failure, exposure, caplog)


async def test_tcp_close_before_the_upgrade_is_reported_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    exposure = Exposure()
    # Real time, far below connect_timeout (30 s): the close is detected, not waited out.
    with trio.fail_after(3):
        async with socket_server("tcp_close", []) as port:
            endpoint = CREDENTIALS["key="](f"ws://127.0.0.1:{port}")
            failure = await run("tcp_close", endpoint, WebSocketTransport(), exposure)
    assert isinstance(failure, ConnectFailed)
    assert "server closed the connection before the WebSocket handshake completed" in str(failure)
    assert "timed out" not in str(failure)
    check("tcp_close", failure, exposure, caplog)


async def test_the_scan_finds_a_planted_canary() -> None:
    """The helper itself: a secret in a chained error's attribute is found."""
    exposure = Exposure()
    inner = InvalidArgument(1007, "fine")
    inner.extra = f"leaked {KEY}"  # type: ignore[attr-defined]
    outer = ConnectFailed("no secret here", url="ws://h")
    outer.__context__ = inner
    exposure.add_error("planted", outer)
    assert exposure.leaks(CANARY)
    with pytest.raises(AssertionError, match="secret shown in"):
        exposure.assert_free_of(CANARY)
