"""WebsocketsTransport (the optional transport on ``websockets``) on the default's test paths.

Each test mirrors one of tests/transport/test_websocket.py (the default transport), against the
same trio-websocket servers, so that both transports are held to the same behaviour.
"""

from __future__ import annotations

import functools
import logging
import sys

import pytest
import trio
import trio.testing
import trio_websocket

from tests.transport.websockets_required import require_websockets

require_websockets()

from livehandle._errors import (  # noqa: E402
    ConnectFailed,
    ConnectionClosed,
    ConnectionLost,
    InvalidArgument,
    NormalClosure,
    PolicyViolation,
    ServerError,
)
from livehandle._transport import Endpoint, WebsocketsConnection  # noqa: E402
from livehandle.lowlevel import WebsocketsTransport  # noqa: E402
from tests.transport.test_websocket import (  # noqa: E402
    KEY,
    TIMEOUT,
    CountingStream,
    chain,
    closing_with,
    echo,
    local,
    read_until_eof,
    serve_tcp_closing,
    start_server,
    unused_port,
)

CLOSE = 0x88  # first byte of a final close frame (RFC 6455 section 5.2)


async def open_memory_websocket(nursery, server_nursery, transport, *, server_queue_size=1):
    """A client WebsocketsConnection and a trio-websocket server over in-memory streams."""
    client_stream, server_stream = trio.testing.memory_stream_pair()
    accepted = []

    async def accept():
        request = await trio_websocket.wrap_server_stream(
            server_nursery, server_stream, message_queue_size=server_queue_size
        )
        accepted.append(await request.accept())

    resolved = Endpoint.from_url("ws://test.invalid/live").resolve()
    async with trio.open_nursery() as handshake:
        handshake.start_soon(accept)
        client = await transport.connect_stream(client_stream, resolved, nursery)
    return client, accepted[0], server_stream


# -- messages -----------------------------------------------------------------------------------


async def test_text_and_binary_frames_keep_their_type_both_ways(nursery):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        connection = await WebsocketsTransport().connect(local(port), nursery)

        await connection.send('{"setup": {}}')
        await connection.send(b"\x00\xff binary")

        assert await connection.receive() == '{"setup": {}}'
        assert await connection.receive() == b"\x00\xff binary"
        await connection.aclose()


async def test_api_key_header_path_and_no_extras_reach_server(nursery):
    seen = {}

    async def record(request):
        seen["headers"] = request.headers
        seen["path"] = request.path
        ws = await request.accept()
        await ws.send_message("recorded")

    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, record)
        endpoint = Endpoint.google_ai(KEY, base_url=f"ws://127.0.0.1:{port}")
        connection = await WebsocketsTransport().connect(endpoint, nursery)
        assert await connection.receive() == "recorded"

    assert (b"x-goog-api-key", KEY.encode()) in seen["headers"]
    assert seen["path"] == (
        "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    )
    names = {name.lower() for name, _ in seen["headers"]}
    assert b"sec-websocket-extensions" not in names  # no compression is offered
    assert b"user-agent" not in names


async def test_query_string_reaches_server(nursery):
    seen = {}

    async def record(request):
        seen["path"] = request.path
        ws = await request.accept()
        await ws.send_message("recorded")

    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, record)
        endpoint = Endpoint.ephemeral_token("auth_tokens/abc", base_url=f"ws://127.0.0.1:{port}")
        connection = await WebsocketsTransport().connect(endpoint, nursery)
        assert await connection.receive() == "recorded"

    assert seen["path"].endswith("BidiGenerateContentConstrained?access_token=auth_tokens%2Fabc")


async def test_five_mebibyte_message_arrives_intact(nursery):
    payload = bytes(range(256)) * (5 * 2**20 // 256)

    async def send_big(request):
        ws = await request.accept()
        await ws.send_message(payload)
        await ws.get_message()

    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, send_big)
        connection = await WebsocketsTransport().connect(local(port), nursery)

        assert await connection.receive() == payload


async def test_message_over_max_size_closes_with_1009(nursery):
    async def send_big(request):
        ws = await request.accept()
        await ws.send_message(b"x" * 2048)
        with pytest.raises(trio_websocket.ConnectionClosed):
            await ws.get_message()

    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, send_big)
        transport = WebsocketsTransport(max_message_size=1024)
        connection = await transport.connect(local(port), nursery)

        with pytest.raises(ConnectionClosed) as info:
            await connection.receive()
    assert info.value.code == 1009
    assert connection.close_code == 1009


async def test_send_rejects_other_types(nursery):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        connection = await WebsocketsTransport().connect(local(port), nursery)

        with pytest.raises(TypeError, match="str or bytes"):
            await connection.send(["not", "a", "message"])  # type: ignore[arg-type]


async def test_send_and_send_batch_write_once_each(nursery):
    client_stream, server_stream = trio.testing.memory_stream_pair()
    counting = CountingStream(client_stream)
    resolved = Endpoint.from_url("ws://test.invalid/live").resolve()
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as server_nursery:
            accepted = []

            async def accept():
                request = await trio_websocket.wrap_server_stream(server_nursery, server_stream)
                accepted.append(await request.accept())

            async with trio.open_nursery() as handshake:
                handshake.start_soon(accept)
                client = await WebsocketsTransport().connect_stream(counting, resolved, nursery)
            server = accepted[0]
            before = counting.writes

            messages = [f'{{"n": {i}}}' for i in range(50)]
            await client.send_batch(messages)
            assert counting.writes == before + 1
            await client.send("one")
            await client.send(b"two")
            assert counting.writes == before + 3

            assert [await server.get_message() for _ in messages] == messages
            assert await server.get_message() == "one"
            assert await server.get_message() == b"two"
            server_nursery.cancel_scope.cancel()


async def test_concurrent_senders_never_interleave_frames(nursery):
    with trio.fail_after(TIMEOUT):
        received = []
        done = trio.Event()

        async def collect(request):
            ws = await request.accept()
            while len(received) < 600:  # 200 from each of the 3 senders
                received.append(await ws.get_message())
            done.set()

        port = await start_server(nursery, collect)
        connection = await WebsocketsTransport().connect(local(port), nursery)

        async def sender(name):
            for i in range(100):
                await connection.send_batch([f"{name}{i}-a", f"{name}{i}-b"][: 1 + i % 2])
                if i % 2 == 0:
                    await connection.send(f"{name}{i}-c")

        async with trio.open_nursery() as senders:
            for name in "xyz":
                senders.start_soon(sender, name)
        await done.wait()

    for name in "xyz":  # each sender's messages arrive whole and in its order
        mine = [text for text in received if text.startswith(name)]
        expected = []
        for i in range(100):
            expected += [f"{name}{i}-a", f"{name}{i}-b"][: 1 + i % 2]
            expected += [f"{name}{i}-c"] if i % 2 == 0 else []
        assert mine == expected


async def test_send_batch_waits_for_the_send_lock_when_it_is_held(nursery):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        connection = await WebsocketsTransport().connect(local(port), nursery)
        lock = connection._ws.send_lock
        await lock.acquire()  # as websockets' reader does while it writes a pong
        sent = trio.Event()

        async def send():
            await connection.send_batch(["after the lock"])
            sent.set()

        nursery.start_soon(send)
        await trio.testing.wait_all_tasks_blocked()
        assert not sent.is_set()
        lock.release()
        await sent.wait()
        assert await connection.receive() == "after the lock"
        assert not lock.locked()
        await connection.aclose()


async def test_send_batch_after_close_raises_the_close_error(nursery):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, closing_with(1011, "Internal error occurred."))
        connection = await WebsocketsTransport().connect(local(port), nursery)
        with pytest.raises(ServerError):
            await connection.receive()

        with pytest.raises(ServerError):
            await connection.send_batch(["too", "late"])
        with pytest.raises(ServerError):
            await connection.send(b"too late")


async def test_send_batch_on_a_broken_stream_raises_connection_lost(nursery):
    client_stream, server_stream = trio.testing.memory_stream_pair()
    counting = CountingStream(client_stream)
    resolved = Endpoint.from_url("ws://test.invalid/live").resolve()
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as server_nursery:

            async def accept():
                request = await trio_websocket.wrap_server_stream(server_nursery, server_stream)
                await request.accept()

            async with trio.open_nursery() as handshake:
                handshake.start_soon(accept)
                client = await WebsocketsTransport().connect_stream(counting, resolved, nursery)

            async def broken(data):
                raise trio.BrokenResourceError("peer reset")

            counting.send_all = broken  # the socket fails on the next write
            with pytest.raises(ConnectionLost) as info:
                await client.send_batch(["a", "b"])
            assert client.close_code == 1006
            assert info.value.__context__ is None
            with pytest.raises(ConnectionLost):
                await client.receive()
            server_nursery.cancel_scope.cancel()


# -- closes from the server ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason", "error"),
    [
        (1000, "", NormalClosure),
        (1007, "Request contains an invalid argument.", InvalidArgument),
        (1008, "models/x is not found for API version v1beta", PolicyViolation),
        (1011, "Internal error occurred.", ServerError),
        (4000, "custom", ConnectionClosed),
    ],
)
async def test_server_close_raises_error_for_its_code(nursery, code, reason, error):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, closing_with(code, reason))
        connection = await WebsocketsTransport().connect(local(port), nursery)

        with pytest.raises(error) as info:
            await connection.receive()
        with pytest.raises(error):
            await connection.send("too late")

    assert type(info.value) is error
    assert (info.value.code, info.value.reason) == (code, reason)
    assert (connection.close_code, connection.close_reason) == (code, reason)
    assert info.value.__context__ is None


async def test_deadline_close_is_marked_deadline_expired(nursery):
    reason = "Deadline expired before operation could complete."
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, closing_with(1011, reason))
        connection = await WebsocketsTransport().connect(local(port), nursery)

        with pytest.raises(ServerError) as info:
            await connection.receive()

    assert info.value.deadline_expired
    assert info.value.resumable


async def test_messages_sent_before_server_close_are_received_first(nursery):
    handler = closing_with(1011, "Internal error occurred.", messages=["one", b"two"])
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, handler)
        connection = await WebsocketsTransport().connect(local(port), nursery)

        assert await connection.receive() == "one"
        assert await connection.receive() == b"two"
        with pytest.raises(ServerError):
            await connection.receive()


async def test_tcp_drop_without_close_frame_raises_connection_lost(nursery):
    async def accept_then_drop(stream):
        async with trio.open_nursery() as server_nursery:
            request = await trio_websocket.wrap_server_stream(server_nursery, stream)
            await request.accept()
            await stream.aclose()  # the socket goes away; no close frame is ever sent

    with trio.fail_after(TIMEOUT):
        serve = functools.partial(trio.serve_tcp, host="127.0.0.1")
        listeners = await nursery.start(serve, accept_then_drop, 0)
        port = listeners[0].socket.getsockname()[1]
        connection = await WebsocketsTransport().connect(local(port), nursery)

        with pytest.raises(ConnectionLost) as info:
            await connection.receive()
        with pytest.raises(ConnectionLost):
            await connection.send("x")

    assert info.value.code == 1006
    assert info.value.resumable
    assert connection.close_code == 1006


# -- connect failures ---------------------------------------------------------------------------


async def test_refused_connection_raises_connect_failed_without_key(nursery):
    port = unused_port()
    endpoint = Endpoint.google_ai(KEY, key_in_query=True, base_url=f"ws://127.0.0.1:{port}")

    with trio.fail_after(TIMEOUT), pytest.raises(ConnectFailed) as info:
        await WebsocketsTransport().connect(endpoint, nursery)

    assert KEY not in str(info.value)
    assert info.value.url.endswith("?key=***")
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "refused" in str(info.value).lower()
    assert info.value.status_code is None
    assert info.value.__cause__ is None


async def test_http_rejection_raises_connect_failed_with_status_code_and_chains_nothing():
    async def reject(request):
        await request.reject(
            403, extra_headers=[(b"x-echo", KEY.encode())], body=f"API key {KEY} not valid".encode()
        )

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            port = await start_server(nursery, reject)
            endpoint = Endpoint.google_ai(KEY, base_url=f"ws://127.0.0.1:{port}")

            with pytest.raises(ConnectFailed) as info:
                await WebsocketsTransport().connect(endpoint, nursery)
            nursery.cancel_scope.cancel()  # the failure did not crash this nursery

    assert info.value.status_code == 403
    assert "HTTP 403" in str(info.value)
    assert "API key *** not valid" in str(info.value)
    assert KEY not in str(info.value)
    assert chain(info.value) == [info.value]


async def test_close_reason_and_frames_echoing_the_key_arrive_scrubbed(nursery):
    handler = closing_with(
        1007, f"API key {KEY} not valid", messages=[f"text {KEY}", f"bytes {KEY}".encode()]
    )
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, handler)
        endpoint = Endpoint.google_ai(KEY, key_in_query=True, base_url=f"ws://127.0.0.1:{port}")
        connection = await WebsocketsTransport().connect(endpoint, nursery)

        assert await connection.receive() == "text ***"
        assert await connection.receive() == b"bytes ***"
        with pytest.raises(InvalidArgument) as info:
            await connection.receive()
        with pytest.raises(InvalidArgument) as on_send:
            await connection.send("too late")

    for error in (info.value, on_send.value):
        assert error.reason == "API key *** not valid"
        assert all(KEY not in f"{e} {e!r}" for e in chain(error))
        assert error.__context__ is None
    assert connection.close_reason == "API key *** not valid"


@pytest.mark.parametrize("reply", [b"", b"HTTP/1.1 101 Switching"], ids=["silent", "half"])
async def test_tcp_close_before_the_upgrade_fails_at_once(nursery, reply):
    port = await serve_tcp_closing(nursery, reply)
    endpoint = Endpoint.google_ai(KEY, key_in_query=True, base_url=f"ws://127.0.0.1:{port}")

    with trio.fail_after(2), pytest.raises(ConnectFailed) as info:
        await WebsocketsTransport().connect(endpoint, nursery)

    assert "closed the connection before the WebSocket handshake completed" in str(info.value)
    assert info.value.url.endswith("?key=***")
    assert info.value.status_code is None
    assert all(KEY not in f"{e} {e!r}" for e in chain(info.value))


async def test_the_upgrade_watch_leaves_the_stream_once_upgraded(nursery):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        connection = await WebsocketsTransport().connect(local(port), nursery)
        await connection.send("one")
        assert await connection.receive() == "one"

    assert isinstance(connection._ws.stream, trio.SocketStream)


async def test_a_cancelled_connect_closes_the_stream_and_leaves_no_task(autojump_clock):
    client_stream, _server_stream = trio.testing.memory_stream_pair()
    resolved = Endpoint.from_url("ws://test.invalid/live").resolve()
    async with trio.open_nursery() as nursery:
        with trio.move_on_after(5) as scope:  # the server never answers the upgrade
            await WebsocketsTransport().connect_stream(client_stream, resolved, nursery)
    # Leaving the nursery means websockets' reader task ended too.
    assert scope.cancelled_caught
    with pytest.raises(trio.ClosedResourceError):
        await client_stream.send_all(b"x")


async def test_a_missing_websockets_package_is_a_clear_import_error(nursery, monkeypatch):
    monkeypatch.setitem(sys.modules, "websockets.trio.client", None)

    with pytest.raises(ImportError, match=r"livehandle\[websockets\]") as info:
        await WebsocketsTransport().connect(Endpoint.from_url("ws://h/"), nursery)
    assert info.value.__cause__ is None


# -- local close --------------------------------------------------------------------------------


async def test_local_aclose_is_idempotent_and_later_calls_raise_normal_closure(nursery):
    seen = {}
    done = trio.Event()

    async def record_close(request):
        ws = await request.accept()
        try:
            await ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            seen["close"] = (exc.reason.code, exc.reason.reason)
        done.set()

    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, record_close)
        connection = await WebsocketsTransport().connect(local(port), nursery)

        await connection.aclose(1000, "bye")
        await connection.aclose(1011, "ignored")
        await done.wait()

        with pytest.raises(NormalClosure, match="bye"):
            await connection.send("x")
        with pytest.raises(NormalClosure):
            await connection.receive()

    assert seen["close"] == (1000, "bye")
    assert (connection.close_code, connection.close_reason) == (1000, "bye")


async def test_pending_receive_wakes_with_local_close_error(nursery):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        connection = await WebsocketsTransport().connect(local(port), nursery)

        errors = []

        async def receive():
            try:
                await connection.receive()
            except ConnectionClosed as exc:
                errors.append(exc)

        async with trio.open_nursery() as waiters:
            waiters.start_soon(receive)
            await trio.testing.wait_all_tasks_blocked()
            await connection.aclose(1011, "shutting down")

    assert [(type(e), e.code, e.reason) for e in errors] == [(ServerError, 1011, "shutting down")]


async def test_close_code_is_none_while_open(nursery):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        connection = await WebsocketsTransport().connect(local(port), nursery)

    assert connection.close_code is None
    assert connection.close_reason == ""


async def test_the_reader_task_ends_after_local_close():
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as server_nursery:
            port = await start_server(server_nursery, echo)
            async with trio.open_nursery() as client_nursery:
                connection = await WebsocketsTransport().connect(local(port), client_nursery)
                await connection.aclose()
            # Reaching this line means websockets' reader task has ended.
            server_nursery.cancel_scope.cancel()


async def test_the_reader_task_ends_after_server_close():
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as server_nursery:
            port = await start_server(server_nursery, closing_with(1000, "done"))
            async with trio.open_nursery() as client_nursery:
                connection = await WebsocketsTransport().connect(local(port), client_nursery)
                with pytest.raises(NormalClosure):
                    await connection.receive()
            server_nursery.cancel_scope.cancel()


@pytest.mark.parametrize("close_timeout", [0.25, 2.0])
async def test_aclose_gives_up_after_close_timeout_when_peer_never_reads(
    nursery, autojump_clock, close_timeout
):
    transport = WebsocketsTransport(close_timeout=close_timeout)
    connection, _, _ = await open_memory_websocket(nursery, nursery, transport, server_queue_size=0)
    # With no room in its queue, the server's reader blocks on this message and never gets
    # to the close frame that follows.
    await connection.send("never read")

    start = trio.current_time()
    with trio.fail_after(60):
        await connection.aclose()

    assert trio.current_time() - start == pytest.approx(close_timeout)
    with pytest.raises(NormalClosure):
        await connection.receive()


async def test_aclose_sends_close_frame_even_when_caller_is_cancelled(nursery):
    connection, server_ws, _ = await open_memory_websocket(nursery, nursery, WebsocketsTransport())

    with trio.CancelScope() as scope:
        scope.cancel()
        await connection.aclose(4000, "going away")

    with trio.fail_after(TIMEOUT), pytest.raises(trio_websocket.ConnectionClosed) as info:
        await server_ws.get_message()
    assert (info.value.reason.code, info.value.reason.reason) == (4000, "going away")


async def test_aclose_reads_past_a_full_queue_to_the_peers_close(nursery, autojump_clock):
    transport = WebsocketsTransport(message_queue_size=1, close_timeout=30)
    connection, server_ws, _ = await open_memory_websocket(nursery, nursery, transport)
    for i in range(10):  # more than the client buffers: its reader stops reading the socket
        await server_ws.send_message(f"unread {i}")
    await trio.testing.wait_all_tasks_blocked()

    start = trio.current_time()
    with trio.fail_after(60):
        await connection.aclose(1000, "bye")

    # The peer's close reply was read (not waited out): the close took no time.
    assert trio.current_time() == start
    assert (connection.close_code, connection.close_reason) == (1000, "bye")


# -- pings and logs -----------------------------------------------------------------------------


async def test_no_credential_reaches_the_log_even_at_debug(nursery, caplog):
    handler = closing_with(1007, f"API key {KEY} not valid", messages=[f"text {KEY}"])
    caplog.set_level(logging.DEBUG)
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, handler)
        endpoint = Endpoint.google_ai(KEY, key_in_query=True, base_url=f"ws://127.0.0.1:{port}")
        connection = await WebsocketsTransport().connect(endpoint, nursery)
        assert await connection.receive() == "text ***"
        with pytest.raises(InvalidArgument):
            await connection.receive()

    websockets_records = [r for r in caplog.records if "websockets" in r.name]
    assert websockets_records == []  # websockets' DEBUG log (headers, frames) stays off
    ours = [r for r in caplog.records if not r.name.startswith("trio-websocket")]  # the server's
    assert all(KEY not in record.getMessage() for record in ours)


def test_the_websockets_logger_scrubs_and_drops_exception_text(caplog):
    from livehandle._transport.websockets_trio import _QuietLogger

    quiet = _QuietLogger(Endpoint.google_ai(KEY).resolve())
    caplog.set_level(logging.DEBUG)
    quiet.debug("> x-goog-api-key: %s", KEY)
    try:
        raise ValueError(f"echo {KEY}")
    except ValueError:
        quiet.error("parser failed for %s", KEY, exc_info=True)

    assert [record.getMessage() for record in caplog.records] == [
        "websockets: parser failed for *** (ValueError)"
    ]
    assert caplog.records[0].exc_info is None
    assert not quiet.isEnabledFor(logging.DEBUG)


async def test_the_transport_is_public_and_makes_connections(nursery):
    assert WebsocketsTransport.__module__ == "livehandle.lowlevel"
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        connection = await WebsocketsTransport().connect(local(port), nursery)
    assert isinstance(connection, WebsocketsConnection)
    await connection.aclose()


async def test_no_keepalive_pings_an_idle_connection_writes_nothing(nursery, autojump_clock):
    async with trio.open_nursery() as server_nursery:
        connection, _, server_stream = await open_memory_websocket(
            nursery, server_nursery, WebsocketsTransport()
        )
        server_nursery.cancel_scope.cancel()
    with trio.move_on_after(600):
        await server_stream.receive_some()
    await connection.aclose()
    frames = await read_until_eof(server_stream)
    assert frames[0] == CLOSE  # the first frame written after the upgrade is the close


def test_without_websockets_these_tests_skip_but_fail_under_ci(monkeypatch):
    monkeypatch.setitem(sys.modules, "websockets.trio.client", None)
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        require_websockets()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must run in CI"):
        require_websockets()


async def test_a_send_that_waited_for_the_lock_of_a_connection_closed_meanwhile_raises(nursery):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        connection = await WebsocketsTransport().connect(local(port), nursery)
        lock = connection._ws.send_lock
        await lock.acquire()
        errors = []

        async def send():
            try:
                await connection.send("too late")
            except ConnectionClosed as exc:
                errors.append(exc)

        async with trio.open_nursery() as senders:
            senders.start_soon(send)
            await trio.testing.wait_all_tasks_blocked()
            await connection._ws.close_stream()  # the connection drops while the send waits
            lock.release()

    assert [type(error) for error in errors] == [ConnectionLost]
    assert connection.close_code == 1006


# -- upgrade errors raised by websockets itself -------------------------------------------------


async def test_a_rejection_raised_by_websockets_first_keeps_status_and_scrubbed_body(
    nursery, monkeypatch
):
    from websockets.datastructures import Headers
    from websockets.exceptions import InvalidStatus
    from websockets.http11 import Response
    from websockets.trio.client import ClientConnection

    async def rejected(self, *args, **kwargs):
        await trio.lowlevel.checkpoint()
        body = f"API key {KEY} not valid".encode()
        raise InvalidStatus(Response(401, "Unauthorized", Headers(), body))

    monkeypatch.setattr(ClientConnection, "handshake", rejected)
    client_stream, _server_stream = trio.testing.memory_stream_pair()
    resolved = Endpoint.google_ai(KEY, base_url="ws://h").resolve()

    with pytest.raises(ConnectFailed) as info:
        await WebsocketsTransport().connect_stream(client_stream, resolved, nursery)

    assert info.value.status_code == 401
    assert str(info.value).endswith("HTTP 401: API key *** not valid")
    assert chain(info.value) == [info.value]
    with pytest.raises(trio.ClosedResourceError):
        await client_stream.send_all(b"x")  # the stream was closed


async def test_an_error_before_any_answer_is_described_plainly(nursery, monkeypatch):
    from websockets.trio.client import ClientConnection

    async def broken(self, *args, **kwargs):
        await trio.lowlevel.checkpoint()
        raise OSError(f"network down near {KEY}")

    monkeypatch.setattr(ClientConnection, "handshake", broken)
    client_stream, _server_stream = trio.testing.memory_stream_pair()
    resolved = Endpoint.google_ai(KEY, key_in_query=True, base_url="ws://h").resolve()

    with pytest.raises(ConnectFailed) as info:
        await WebsocketsTransport().connect_stream(client_stream, resolved, nursery)

    assert "could not open ws://h/" in str(info.value)
    assert "network down near ***" in str(info.value)
    assert info.value.status_code is None
    assert chain(info.value) == [info.value]


def test_only_error_lets_cancellations_and_interrupts_propagate():
    from livehandle._transport.websockets_trio import _only_error

    cancelled = trio.Cancelled._create()
    assert _only_error(BaseExceptionGroup("g", [cancelled])) is None
    assert _only_error(BaseExceptionGroup("g", [KeyboardInterrupt(), ValueError()])) is None
    error = ValueError("x")
    assert _only_error(BaseExceptionGroup("g", [cancelled, error])) is error
    assert _only_error(error) is error


def test_connect_failed_passes_a_connect_failed_through():
    from livehandle._transport.handshake import UpgradeWatch
    from livehandle._transport.websockets_trio import _connect_failed

    failed = ConnectFailed("already described", url="ws://h/")
    watch = UpgradeWatch(trio.testing.memory_stream_pair()[0])
    assert _connect_failed(failed, Endpoint.from_url("ws://h/").resolve(), watch) is failed


def test_the_websockets_logger_logs_plain_records_and_exception_instances(caplog):
    from livehandle._transport.websockets_trio import _QuietLogger

    quiet = _QuietLogger(Endpoint.google_ai(KEY).resolve())
    caplog.set_level(logging.INFO)
    quiet.info("connection closed")
    quiet.error("failed", exc_info=RuntimeError(KEY))

    assert [record.getMessage() for record in caplog.records] == [
        "websockets: connection closed",
        "websockets: failed (RuntimeError)",
    ]


async def test_a_send_to_a_peer_that_stopped_reading_waits_and_a_cancel_frees_the_lock(
    nursery, autojump_clock
):
    client_stream, server_stream = trio.testing.lockstep_stream_pair()  # no buffer at all
    resolved = Endpoint.from_url("ws://test.invalid/live").resolve()
    async with trio.open_nursery() as server_nursery:

        async def accept():
            request = await trio_websocket.wrap_server_stream(server_nursery, server_stream)
            await request.accept()

        async with trio.open_nursery() as handshake:
            handshake.start_soon(accept)
            connection = await WebsocketsTransport().connect_stream(
                client_stream, resolved, nursery
            )
        server_nursery.cancel_scope.cancel()  # the server stops reading

    with trio.move_on_after(10) as scope:
        await connection.send("never read")
    assert scope.cancelled_caught  # backpressure: the send waited, nothing was dropped silently
    assert not connection._ws.send_lock.locked()

    start = trio.current_time()
    await connection.aclose()
    assert trio.current_time() - start <= 0.25  # bounded by close_timeout
    with pytest.raises(NormalClosure):
        await connection.send("after close")
