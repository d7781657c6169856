from __future__ import annotations

import functools
import socket
import ssl

import pytest
import trio
import trio.testing
import trio_websocket
import trustme

from livehandle._errors import (
    ConnectFailed,
    ConnectionClosed,
    ConnectionLost,
    InvalidArgument,
    NormalClosure,
    PolicyViolation,
    ServerError,
)
from livehandle._transport import Endpoint, WebSocketConnection, WebSocketTransport

KEY = "AIzaSy-websocket-test-key"
TIMEOUT = 10  # seconds; bounds every test that uses real sockets
PING, CLOSE = 0x89, 0x88  # first byte of a final ping / close frame (RFC 6455 section 5.2)


# -- helpers ------------------------------------------------------------------------------------


async def start_server(nursery, handler, ssl_context=None) -> int:
    server = await nursery.start(
        trio_websocket.serve_websocket, handler, "127.0.0.1", 0, ssl_context
    )
    return server.port


def local(port: int, path: str = "/live") -> Endpoint:
    return Endpoint.from_url(f"ws://127.0.0.1:{port}{path}")


async def echo(request):
    ws = await request.accept()
    while True:
        try:
            message = await ws.get_message()
        except trio_websocket.ConnectionClosed:
            return
        await ws.send_message(message)


async def open_memory_websocket(nursery, server_nursery, transport, *, server_queue_size=1):
    """A client WebSocketConnection and a trio-websocket server over in-memory streams."""
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


async def open_frozen_server_websocket(nursery, transport):
    """Like open_memory_websocket, but the server stops reading after the handshake.

    Returns the client and the server's raw stream, on which the client's frames can be read.
    """
    async with trio.open_nursery() as server_nursery:
        client, _, server_stream = await open_memory_websocket(nursery, server_nursery, transport)
        server_nursery.cancel_scope.cancel()
    return client, server_stream


async def read_until_eof(stream) -> bytes:
    data = b""
    while chunk := await stream.receive_some():
        data += chunk
    return data


# -- messages -----------------------------------------------------------------------------------


async def test_text_and_binary_frames_keep_their_type_both_ways(nursery):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        connection = await WebSocketTransport().connect(local(port), nursery)

        await connection.send('{"setup": {}}')
        await connection.send(b"\x00\xff binary")

        assert await connection.receive() == '{"setup": {}}'
        assert await connection.receive() == b"\x00\xff binary"
        await connection.aclose()


async def test_api_key_header_and_path_reach_server(nursery):
    seen = {}

    async def record(request):
        seen["headers"] = request.headers
        seen["path"] = request.path
        ws = await request.accept()
        await ws.send_message("recorded")

    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, record)
        endpoint = Endpoint.google_ai(KEY, base_url=f"ws://127.0.0.1:{port}")
        connection = await WebSocketTransport().connect(endpoint, nursery)
        assert await connection.receive() == "recorded"

    assert (b"x-goog-api-key", KEY.encode()) in seen["headers"]
    assert seen["path"] == (
        "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    )


async def test_query_string_reaches_server(nursery):
    seen = {}

    async def record(request):
        seen["path"] = request.path
        ws = await request.accept()
        await ws.send_message("recorded")

    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, record)
        endpoint = Endpoint.ephemeral_token("auth_tokens/abc", base_url=f"ws://127.0.0.1:{port}")
        connection = await WebSocketTransport().connect(endpoint, nursery)
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
        connection = await WebSocketTransport().connect(local(port), nursery)

        assert await connection.receive() == payload


async def test_message_over_max_size_closes_with_1009(nursery):
    async def send_big(request):
        ws = await request.accept()
        await ws.send_message(b"x" * 2048)
        await ws.get_message()

    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, send_big)
        connection = await WebSocketTransport(max_message_size=1024).connect(local(port), nursery)

        with pytest.raises(ConnectionClosed) as info:
            await connection.receive()
    assert info.value.code == 1009


async def test_send_rejects_other_types(nursery):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        connection = await WebSocketTransport().connect(local(port), nursery)

        with pytest.raises(TypeError, match="str or bytes"):
            await connection.send(["not", "a", "message"])  # type: ignore[arg-type]


class CountingStream(trio.abc.Stream):
    """Wraps a stream and counts the ``send_all`` calls made on it."""

    def __init__(self, inner):
        self.inner = inner
        self.writes = 0

    async def send_all(self, data):
        self.writes += 1
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self):
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes=None):
        return await self.inner.receive_some(max_bytes)

    async def aclose(self):
        await self.inner.aclose()


async def test_send_batch_frames_each_message_and_writes_once(nursery):
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
                client = await WebSocketTransport().connect_stream(counting, resolved, nursery)
            server = accepted[0]
            before = counting.writes

            messages = [f'{{"n": {i}}}' for i in range(50)]
            await client.send_batch(messages)

            assert counting.writes == before + 1
            assert [await server.get_message() for _ in messages] == messages
            server_nursery.cancel_scope.cancel()


async def test_send_batch_waits_for_the_send_lock_when_it_is_held(nursery):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        connection = await WebSocketTransport().connect(local(port), nursery)
        lock = connection._ws._stream_lock
        await lock.acquire()  # as trio-websocket's reader does while it writes a pong
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


async def test_send_batch_falls_back_to_one_send_per_message(nursery, monkeypatch):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        connection = await WebSocketTransport().connect(local(port), nursery)
        connection._batch_ok = False  # as on a trio-websocket without the internals
        sent = []
        send = connection.send

        async def counting_send(message):
            sent.append(message)
            await send(message)

        monkeypatch.setattr(connection, "send", counting_send)
        await connection.send_batch(["a", "b", "c"])

        assert sent == ["a", "b", "c"]
        assert [await connection.receive() for _ in range(3)] == ["a", "b", "c"]
        await connection.aclose()


@pytest.mark.parametrize("batching", [True, False])
async def test_send_batch_after_close_raises_the_close_error(nursery, batching):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, closing_with(1011, "Internal error occurred."))
        connection = await WebSocketTransport().connect(local(port), nursery)
        connection._batch_ok = batching
        with pytest.raises(ServerError):
            await connection.receive()

        with pytest.raises(ServerError):
            await connection.send_batch(["too", "late"])


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
                client = await WebSocketTransport().connect_stream(counting, resolved, nursery)

            async def broken(data):
                raise trio.BrokenResourceError("peer reset")

            counting.send_all = broken  # the socket fails on the next write
            with pytest.raises(ConnectionLost):
                await client.send_batch(["a", "b"])
            assert client.close_code == 1006
            server_nursery.cancel_scope.cancel()


# -- closes from the server ---------------------------------------------------------------------


def closing_with(code, reason, *, messages=()):
    async def handler(request):
        ws = await request.accept()
        for message in messages:
            await ws.send_message(message)
        await ws.aclose(code, reason)

    return handler


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
        connection = await WebSocketTransport().connect(local(port), nursery)

        with pytest.raises(error) as info:
            await connection.receive()
        with pytest.raises(error):
            await connection.send("too late")

    assert type(info.value) is error
    assert (info.value.code, info.value.reason) == (code, reason)
    assert (connection.close_code, connection.close_reason) == (code, reason)


async def test_deadline_close_is_marked_deadline_expired(nursery):
    reason = "Deadline expired before operation could complete."
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, closing_with(1011, reason))
        connection = await WebSocketTransport().connect(local(port), nursery)

        with pytest.raises(ServerError) as info:
            await connection.receive()

    assert info.value.deadline_expired
    assert info.value.resumable


async def test_messages_sent_before_server_close_are_received_first(nursery):
    handler = closing_with(1011, "Internal error occurred.", messages=["one", b"two"])
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, handler)
        connection = await WebSocketTransport().connect(local(port), nursery)

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
        connection = await WebSocketTransport().connect(local(port), nursery)

        with pytest.raises(ConnectionLost) as info:
            await connection.receive()
        with pytest.raises(ConnectionLost):
            await connection.send("x")

    assert info.value.code == 1006
    assert info.value.resumable
    assert connection.close_code == 1006


# -- connect failures ---------------------------------------------------------------------------


def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_refused_connection_raises_connect_failed_without_key(nursery):
    port = unused_port()
    endpoint = Endpoint.google_ai(KEY, key_in_query=True, base_url=f"ws://127.0.0.1:{port}")

    with trio.fail_after(TIMEOUT), pytest.raises(ConnectFailed) as info:
        await WebSocketTransport().connect(endpoint, nursery)

    assert KEY not in str(info.value)
    assert KEY not in info.value.url
    assert info.value.url.endswith("?key=***")
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "refused" in str(info.value).lower()
    assert info.value.status_code is None
    assert info.value.__cause__ is None


async def test_http_rejection_raises_connect_failed_with_status_code():
    async def reject(request):
        await request.reject(403, body=f"API key {KEY} not valid".encode())

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            port = await start_server(nursery, reject)
            endpoint = Endpoint.google_ai(KEY, base_url=f"ws://127.0.0.1:{port}")

            with pytest.raises(ConnectFailed) as info:
                await WebSocketTransport().connect(endpoint, nursery)
            nursery.cancel_scope.cancel()  # the failure did not crash this nursery

    assert info.value.status_code == 403
    assert "HTTP 403" in str(info.value)
    assert "API key *** not valid" in str(info.value)
    assert KEY not in str(info.value)


def chain(error: BaseException | None) -> list[BaseException]:
    """``error`` and everything chained to it, by ``__cause__`` and ``__context__``."""
    seen: list[BaseException] = []
    todo = [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is known for known in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
    return seen


async def test_http_rejection_chains_nothing_that_holds_the_response():
    async def reject(request):
        await request.reject(
            403, extra_headers=[(b"x-echo", KEY.encode())], body=f"key {KEY}".encode()
        )

    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as nursery:
            port = await start_server(nursery, reject)
            endpoint = Endpoint.google_ai(KEY, base_url=f"ws://127.0.0.1:{port}")
            with pytest.raises(ConnectFailed) as info:
                await WebSocketTransport().connect(endpoint, nursery)
            nursery.cancel_scope.cancel()

    assert info.value.__context__ is None
    assert info.value.__cause__ is None
    assert chain(info.value) == [info.value]


async def test_close_reason_and_frames_echoing_the_key_arrive_scrubbed(nursery):
    handler = closing_with(
        1007, f"API key {KEY} not valid", messages=[f"text {KEY}", f"bytes {KEY}".encode()]
    )
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, handler)
        endpoint = Endpoint.google_ai(KEY, key_in_query=True, base_url=f"ws://127.0.0.1:{port}")
        connection = await WebSocketTransport().connect(endpoint, nursery)

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


async def serve_tcp_closing(nursery, reply: bytes = b"") -> int:
    """A loopback TCP server that reads the request, writes ``reply`` and closes at once."""

    async def close_at_once(stream):
        if reply:
            await stream.receive_some()
            await stream.send_all(reply)
        await stream.aclose()

    serve = functools.partial(trio.serve_tcp, host="127.0.0.1")
    listeners = await nursery.start(serve, close_at_once, 0)
    return listeners[0].socket.getsockname()[1]


@pytest.mark.parametrize("reply", [b"", b"HTTP/1.1 101 Switching"], ids=["silent", "half"])
async def test_tcp_close_before_the_upgrade_fails_at_once(nursery, reply):
    port = await serve_tcp_closing(nursery, reply)
    endpoint = Endpoint.google_ai(KEY, key_in_query=True, base_url=f"ws://127.0.0.1:{port}")

    # Real time, bounded well below any connect timeout: before the fix this waited forever.
    with trio.fail_after(2), pytest.raises(ConnectFailed) as info:
        await WebSocketTransport().connect(endpoint, nursery)

    assert "closed the connection before the WebSocket handshake completed" in str(info.value)
    assert info.value.url.endswith("?key=***")
    assert info.value.status_code is None
    assert all(KEY not in f"{e} {e!r}" for e in chain(info.value))


async def test_the_upgrade_watch_leaves_the_stream_once_upgraded(nursery):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        connection = await WebSocketTransport().connect(local(port), nursery)
        await connection.send("one")
        assert await connection.receive() == "one"

    assert isinstance(connection._ws._stream, trio.SocketStream)


async def test_an_open_connection_keeps_nothing_of_its_upgrade(nursery):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        connection = await WebSocketTransport().connect(local(port), nursery)
        ws = connection._ws

        # No HTTP parser, no upgrade request (its headers held the key), no server-side proposal.
        assert type(ws._wsproto.handshake).__name__ == "_SpentHandshake"
        assert list(ws._wsproto.handshake.events()) == []
        assert ws._initial_request is None
        assert ws._connection_proposal is None
        assert ws._open_handshake.is_set()
        # ... and everything still works: messages both ways, pings, the close handshake.
        await connection.send("one")
        assert await connection.receive() == "one"
        await ws.ping(b"p1")
        await connection.aclose()
    assert connection.close_code == 1000
    assert ws._wsproto.state.name == "CLOSED"


async def test_the_stand_in_events_stay_set_for_every_connection(nursery):
    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo)
        first = await WebSocketTransport().connect(local(port), nursery)
        second = await WebSocketTransport().connect(local(port), nursery)
        # One shared, already set stand-in; setting it again (the peer's close) changes nothing.
        assert first._ws._for_testing_peer_closed_connection is second._ws._open_handshake
        second._ws._for_testing_peer_closed_connection.set()
        assert first._ws._open_handshake.is_set()
        await first.aclose()
        await second.aclose()


async def test_short_queues_keep_a_burst_in_order_and_report_their_use(nursery, autojump_clock):
    connection, server_ws, _ = await open_memory_websocket(nursery, nursery, WebSocketTransport())
    ws = connection._ws
    # A few items at most: lists with popleft instead of deques (632 bytes each, empty).
    assert type(ws._wsproto.connection._events).__name__ == "_ShortQueue"
    assert type(ws._recv_channel._state.data).__name__ == "_ShortQueue"

    for number in range(4):  # as many as the queue holds (message_queue_size=4), unread
        await server_ws.send_message(f"m{number}")
    await trio.testing.wait_all_tasks_blocked()
    assert ws._recv_channel.statistics().current_buffer_used == 4
    assert [await connection.receive() for _ in range(4)] == ["m0", "m1", "m2", "m3"]
    assert ws._recv_channel.statistics().current_buffer_used == 0


def test_shedding_leaves_a_connection_without_those_internals_alone():
    from livehandle._transport.handshake import shed_upgrade_state

    class Bare:
        pass

    bare = Bare()
    shed_upgrade_state(bare)  # nothing to shed: no error, nothing added

    assert vars(bare) == {}


async def test_untrusted_certificate_raises_connect_failed(nursery):
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("127.0.0.1").configure_cert(server_context)

    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo, server_context)
        endpoint = Endpoint.google_ai(KEY, key_in_query=True, base_url=f"wss://127.0.0.1:{port}")

        with pytest.raises(ConnectFailed, match="TLS handshake") as info:
            await WebSocketTransport().connect(endpoint, nursery)

    assert "certificate" in str(info.value)
    assert KEY not in str(info.value)


async def test_wss_with_trusted_certificate_round_trips(nursery):
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.create_default_context()
    ca.configure_trust(client_context)

    with trio.fail_after(TIMEOUT):
        port = await start_server(nursery, echo, server_context)
        endpoint = Endpoint.from_url(f"wss://127.0.0.1:{port}/live", ssl_context=client_context)
        connection = await WebSocketTransport().connect(endpoint, nursery)

        # The finished TLS handshake is a shared stand-in: nothing of it is kept per connection.
        tls = connection._ws._stream
        assert isinstance(tls, trio.SSLStream)
        assert tls._handshook.done
        second = await WebSocketTransport().connect(endpoint, nursery)
        assert second._ws._stream._handshook is tls._handshook

        await connection.send("over tls")
        assert await connection.receive() == "over tls"
        await second.send_batch(["one", "two"])
        assert [await second.receive(), await second.receive()] == ["one", "two"]
        await connection.aclose()
        await second.aclose()
    assert (connection.close_code, second.close_code) == (1000, 1000)


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
        connection = await WebSocketTransport().connect(local(port), nursery)

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
        connection = await WebSocketTransport().connect(local(port), nursery)

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
        connection = await WebSocketTransport().connect(local(port), nursery)

    assert connection.close_code is None
    assert connection.close_reason == ""


async def test_background_tasks_end_after_local_close():
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as server_nursery:
            port = await start_server(server_nursery, echo)
            transport = WebSocketTransport(keepalive_interval=3600)
            async with trio.open_nursery() as client_nursery:
                connection = await transport.connect(local(port), client_nursery)
                await connection.aclose()
            # Reaching this line means the reader and keepalive tasks have ended.
            server_nursery.cancel_scope.cancel()


async def test_background_tasks_end_after_server_close():
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as server_nursery:
            port = await start_server(server_nursery, closing_with(1000, "done"))
            transport = WebSocketTransport(keepalive_interval=3600)
            async with trio.open_nursery() as client_nursery:
                connection = await transport.connect(local(port), client_nursery)
                with pytest.raises(NormalClosure):
                    await connection.receive()
            server_nursery.cancel_scope.cancel()


@pytest.mark.parametrize("direct", [True, False])
async def test_receive_reads_the_queue_directly_or_through_get_message_alike(
    nursery, autojump_clock, direct
):
    connection, server_ws, _ = await open_memory_websocket(nursery, nursery, WebSocketTransport())
    assert connection._received is connection._ws._recv_channel
    if not direct:  # a trio-websocket without the queue attribute: its public get_message
        connection._received = None
    await server_ws.send_message("one")
    await server_ws.send_message(b"two")
    assert await connection.receive() == "one"
    assert await connection.receive() == b"two"
    await server_ws.aclose(1001, "bye")

    with pytest.raises(ConnectionClosed) as info:
        await connection.receive()
    assert (info.value.code, info.value.reason) == (1001, "bye")
    assert info.value.__context__ is None


@pytest.mark.parametrize("close_timeout", [0.25, 2.0])
async def test_aclose_gives_up_after_close_timeout_when_peer_never_reads(
    nursery, autojump_clock, close_timeout
):
    transport = WebSocketTransport(close_timeout=close_timeout)
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
    connection, server_ws, _ = await open_memory_websocket(nursery, nursery, WebSocketTransport())

    with trio.CancelScope() as scope:
        scope.cancel()
        await connection.aclose(4000, "going away")

    with trio.fail_after(TIMEOUT), pytest.raises(trio_websocket.ConnectionClosed) as info:
        await server_ws.get_message()
    assert (info.value.reason.code, info.value.reason.reason) == (4000, "going away")


async def test_wraps_an_existing_trio_websocket_connection(nursery):
    client_stream, server_stream = trio.testing.memory_stream_pair()

    async def serve():
        request = await trio_websocket.wrap_server_stream(nursery, server_stream)
        ws = await request.accept()
        await ws.send_message("hello")
        await ws.aclose(1008, "denied")

    nursery.start_soon(serve)
    with trio.fail_after(TIMEOUT):
        ws = await trio_websocket.wrap_client_stream(nursery, client_stream, "test", "/")
        connection = WebSocketConnection(ws, stream=client_stream)

        assert await connection.receive() == "hello"
        with pytest.raises(PolicyViolation, match="denied"):
            await connection.receive()


# -- tasks --------------------------------------------------------------------------------------


async def test_a_connection_runs_no_task_of_its_own_and_its_tasks_end_with_it(autojump_clock):
    start = trio.current_time()
    transport = WebSocketTransport(keepalive_interval=20, keepalive_timeout=5)
    async with trio.open_nursery() as server_nursery:
        async with trio.open_nursery() as client_nursery:
            connection, server_ws, _ = await open_memory_websocket(
                client_nursery, server_nursery, transport
            )
            # trio-websocket's reader (which owns the connection's end) and the keepalive
            assert len(client_nursery.child_tasks) == 2
            await server_ws.aclose()
            with pytest.raises(ConnectionClosed):
                await connection.receive()
        # The nursery was left without a cancel: the reader ended with the close and stopped
        # the keepalive at once (not at its next ping, 20 s later).
        assert trio.current_time() - start < 20
        server_nursery.cancel_scope.cancel()
    with pytest.raises(trio.ClosedResourceError):
        await connection._stream.send_all(b"x")  # the reader closed the stream on its way out


async def test_a_cancelled_connect_closes_the_stream_and_leaves_no_task(autojump_clock):
    client_stream, _server_stream = trio.testing.memory_stream_pair()
    resolved = Endpoint.from_url("ws://test.invalid/live").resolve()
    async with trio.open_nursery() as nursery:
        with trio.move_on_after(5) as scope:  # the server never answers the upgrade
            await WebSocketTransport().connect_stream(client_stream, resolved, nursery)
    # Leaving the nursery means trio-websocket's reader task ended too.
    assert scope.cancelled_caught
    with pytest.raises(trio.ClosedResourceError):
        await client_stream.send_all(b"x")


# -- keepalive ----------------------------------------------------------------------------------


async def test_no_keepalive_pings_by_default(nursery, autojump_clock):
    _, server_stream = await open_frozen_server_websocket(nursery, WebSocketTransport())

    with trio.move_on_after(3600) as scope:
        await server_stream.receive_some()

    assert scope.cancelled_caught


async def test_keepalive_sends_ping_every_interval(nursery, autojump_clock):
    start = trio.current_time()
    transport = WebSocketTransport(keepalive_interval=20)
    _, server_stream = await open_frozen_server_websocket(nursery, transport)

    with trio.fail_after(21):
        frame = await server_stream.receive_some()

    assert frame[0] == PING
    assert trio.current_time() - start == pytest.approx(20)


async def test_keepalive_pong_keeps_connection_open(nursery, autojump_clock):
    transport = WebSocketTransport(keepalive_interval=20, keepalive_timeout=5)
    connection, server_ws, _ = await open_memory_websocket(nursery, nursery, transport)

    with trio.move_on_after(100):
        await connection.receive()

    assert connection.close_code is None
    await server_ws.send_message("still here")
    assert await connection.receive() == "still here"


async def test_keepalive_timeout_closes_with_1011(nursery, autojump_clock):
    start = trio.current_time()
    transport = WebSocketTransport(keepalive_interval=20, keepalive_timeout=5)
    connection, server_stream = await open_frozen_server_websocket(nursery, transport)

    with trio.fail_after(60), pytest.raises(ServerError) as info:
        await connection.receive()

    assert (info.value.code, info.value.reason) == (1011, "keepalive ping timeout")
    assert trio.current_time() - start == pytest.approx(25)
    frames = await read_until_eof(server_stream)
    # A masked ping with a 4-byte payload is 10 bytes long; the close frame follows it.
    assert frames[0] == PING
    assert frames[10] == CLOSE
