"""``WebSocketConnection.send_atomic``'s direct writes: plain TCP and TLS.

A frame is written in the calling task without a scheduler round trip when the socket takes it
whole.  These tests pin what must hold on every path the write can take: frames arrive whole
and in order (also while trio-websocket's reader answers pings through the same TLS stream), a
partial write finishes even when its caller is cancelled, a write that cannot finish aborts the
connection after ``within``, and a TLS stream that another task is writing to is queued behind
instead of written into.  Real sockets, each test bounded by ``TIMEOUT``.
"""

from __future__ import annotations

import socket
import ssl
from typing import TYPE_CHECKING, Any

import pytest
import trio
import trio_websocket
import trustme

from livehandle._errors import ConnectionClosed
from livehandle._transport import Endpoint, WebSocketTransport, websocket as websocket_module
from livehandle._transport.tls_direct import DirectTLS

if TYPE_CHECKING:
    from livehandle._transport import WebSocketConnection

TIMEOUT = 10  # seconds
WITHIN = 5.0  # the write bound given to send_atomic where it must not run out


class Server:
    """A trio-websocket server that keeps what it receives, over ws:// or wss://."""

    def __init__(self, *, tls: bool) -> None:
        self.received: list[str] = []
        self.connection: trio_websocket.WebSocketConnection | None = None
        self.got = trio.Event()  # set at each message
        self.client_context: ssl.SSLContext | None = None
        self.server_context: ssl.SSLContext | None = None
        if tls:
            ca = trustme.CA()
            self.server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ca.issue_cert("127.0.0.1").configure_cert(self.server_context)
            self.client_context = ssl.create_default_context()
            ca.configure_trust(self.client_context)

    async def handler(self, request: trio_websocket.WebSocketRequest) -> None:
        self.connection = ws = await request.accept()
        while True:
            try:
                message = await ws.get_message()
            except trio_websocket.ConnectionClosed:
                return
            assert isinstance(message, str)
            self.received.append(message)
            self.got.set()

    async def connect(self, nursery: trio.Nursery) -> WebSocketConnection:
        server = await nursery.start(
            trio_websocket.serve_websocket, self.handler, "127.0.0.1", 0, self.server_context
        )
        scheme = "ws" if self.client_context is None else "wss"
        endpoint = Endpoint.from_url(
            f"{scheme}://127.0.0.1:{server.port}/live", ssl_context=self.client_context
        )
        return await WebSocketTransport().connect(endpoint, nursery)

    async def wait_for(self, count: int) -> list[str]:
        while len(self.received) < count:
            self.got = trio.Event()
            await self.got.wait()
        return self.received


def payload(i: int) -> str:
    return f'{{"n": {i}, "pad": "{"x" * (i * 37 % 3000)}"}}'


@pytest.fixture(params=["ws", "wss"])
def server(request: pytest.FixtureRequest) -> Server:
    return Server(tls=request.param == "wss")


async def test_the_connection_writes_directly_over_tls_and_plain_tcp(nursery, server):
    with trio.fail_after(TIMEOUT):
        connection = await server.connect(nursery)
        if server.client_context is None:
            assert connection._socket is not None and connection._tls is None
        else:
            assert connection._socket is None and connection._tls is not None
        await connection.aclose()


async def test_frames_from_concurrent_senders_arrive_whole_and_in_each_senders_order(
    nursery, server
):
    with trio.fail_after(TIMEOUT):
        connection = await server.connect(nursery)

        async def sender(name: str) -> None:
            for i in range(60):
                await connection.send_atomic(f"{name}:{payload(i)}", WITHIN)
                if i % 3 == 0:
                    await trio.lowlevel.checkpoint()

        async def pinger() -> None:  # the client's reader writes pongs through the same stream
            assert server.connection is not None
            for _ in range(20):
                await server.connection.ping()

        async with trio.open_nursery() as senders:
            senders.start_soon(pinger)
            for name in "abc":
                senders.start_soon(sender, name)
        received = await server.wait_for(180)
        for name in "abc":
            mine = [text.split(":", 1)[1] for text in received if text.startswith(f"{name}:")]
            assert mine == [payload(i) for i in range(60)]
        await connection.aclose()


def _write_half_then(connection: WebSocketConnection, monkeypatch, then) -> list[int]:
    """Make the next direct write take only half the bytes, calling ``then()`` after it."""
    sizes: list[int] = []
    if connection._tls is not None:
        real = DirectTLS.write

        def half_tls(self: DirectTLS, records: bytes) -> int:
            monkeypatch.setattr(DirectTLS, "write", real)
            sizes.append(len(records))
            written = real(self, records[: len(records) // 2])
            then()
            return written

        monkeypatch.setattr(DirectTLS, "write", half_tls)
    else:
        real_write = websocket_module.os.write

        def half_os(fd: int, data: Any) -> int:
            monkeypatch.setattr(websocket_module.os, "write", real_write)
            sizes.append(len(data))
            written = real_write(fd, data[: len(data) // 2])
            then()
            return written

        monkeypatch.setattr(websocket_module.os, "write", half_os)
    return sizes


async def test_a_partial_write_finishes_whole_even_when_its_caller_is_cancelled(
    nursery, server, monkeypatch
):
    with trio.fail_after(TIMEOUT):
        connection = await server.connect(nursery)
        await connection.send_atomic("before", WITHIN)
        reached: list[str] = []
        with trio.CancelScope() as scope:
            sizes = _write_half_then(connection, monkeypatch, scope.cancel)
            await connection.send_atomic(payload(80), WITHIN)
            reached.append("returned")  # the rest was awaited shielded: the call returns
            await trio.lowlevel.checkpoint()
            reached.append("not reached")
        assert scope.cancelled_caught and reached == ["returned"] and sizes
        await connection.send_atomic("after", WITHIN)
        assert await server.wait_for(3) == ["before", payload(80), "after"]
        await connection.aclose()


async def test_a_write_that_cannot_finish_within_its_bound_aborts_the_connection(
    nursery, server, monkeypatch
):
    with trio.fail_after(TIMEOUT):
        connection = await server.connect(nursery)
        await connection.send_atomic("before", WITHIN)
        stream: Any = connection._tls.socket_stream if connection._tls else connection._ws._stream

        async def never(data: Any) -> None:
            await trio.sleep_forever()

        _write_half_then(connection, monkeypatch, lambda: None)
        monkeypatch.setattr(stream, "send_all", never)  # the peer never takes the rest
        with pytest.raises(ConnectionClosed):
            await connection.send_atomic(payload(80), 0.05)
        with pytest.raises(ConnectionClosed):
            await connection.send_atomic("later", WITHIN)
        assert await server.wait_for(1) == ["before"]
        await connection.aclose()


async def test_a_tls_stream_another_task_writes_to_is_queued_behind(nursery):
    server = Server(tls=True)
    with trio.fail_after(TIMEOUT):
        connection = await server.connect(nursery)
        tls = connection._tls
        assert tls is not None
        inner = connection._ws._stream._inner_send_lock
        holding, release = trio.Event(), trio.Event()

        async def hold() -> None:  # as the receive side does while it writes a record of its own
            async with inner:
                holding.set()
                await release.wait()

        async with trio.open_nursery() as senders:
            senders.start_soon(hold)
            await holding.wait()
            assert not tls.ready()
            senders.start_soon(connection.send_atomic, "queued", WITHIN)
            await trio.testing.wait_all_tasks_blocked()
            assert server.received == []  # it waits for the stream instead of writing into it
            release.set()
        assert await server.wait_for(1) == ["queued"]
        assert tls.ready()  # nothing is left held after the write
        await connection.aclose()


class _SSLObjectProxy:
    """Stands in for an SSLStream's SSLObject; its next ``write`` raises ``error`` once."""

    def __init__(self, real: ssl.SSLObject, error: Exception) -> None:
        self._real = real
        self._error: Exception | None = error

    def write(self, data: bytes) -> int:
        error, self._error = self._error, None
        if error is not None:
            raise error
        return self._real.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


async def test_a_write_tls_wants_to_read_for_is_retried_by_the_tls_stream(nursery):
    server = Server(tls=True)
    with trio.fail_after(TIMEOUT):
        connection = await server.connect(nursery)
        stream = connection._ws._stream
        stream._ssl_object = _SSLObjectProxy(stream._ssl_object, ssl.SSLWantReadError())
        await connection.send_atomic("retried", WITHIN)
        await connection.send_atomic("direct", WITHIN)
        assert await server.wait_for(2) == ["retried", "direct"]
        await connection.aclose()


async def test_a_tls_failure_while_encrypting_closes_the_connection(nursery):
    server = Server(tls=True)
    with trio.fail_after(TIMEOUT):
        connection = await server.connect(nursery)
        stream = connection._ws._stream
        stream._ssl_object = _SSLObjectProxy(stream._ssl_object, ssl.SSLError("bad record"))
        with pytest.raises(ConnectionClosed):
            await connection.send_atomic("lost", WITHIN)
        with pytest.raises(ConnectionClosed):
            await connection.send_atomic("later", WITHIN)
        await connection.aclose()


async def test_probe_accepts_only_an_open_client_tls_stream_over_a_socket():
    assert DirectTLS.probe(object()) is None
    left, _right = trio.testing.memory_stream_pair()
    context = ssl.create_default_context()
    over_memory = trio.SSLStream(left, context, server_hostname="example.invalid")
    assert DirectTLS.probe(over_memory) is None  # not over a socket
    a, b = trio.socket.socketpair()
    with a, b:
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_side = trio.SSLStream(trio.SocketStream(a), server_context, server_side=True)
        assert DirectTLS.probe(server_side) is None
        client_side = trio.SSLStream(trio.SocketStream(b), context, server_hostname="x.invalid")
        assert isinstance(DirectTLS.probe(client_side), DirectTLS)
        # before its handshake, a stream is written the ordinary way
        assert not DirectTLS(client_side, client_side.transport_stream, b.fileno()).ready()


async def test_a_socket_closed_under_the_connection_is_never_written_by_its_old_number(server):
    # trio-websocket's reader ends (its nursery is cancelled) and closes the socket, while the
    # connection object is still used from elsewhere: the descriptor number may already be
    # another file's, so the frame must not be written to it.
    with trio.fail_after(TIMEOUT):
        async with trio.open_nursery() as outer:
            async with trio.open_nursery() as reader_nursery:
                connection = await server.connect(reader_nursery)
                await connection.send_atomic("one", WITHIN)
                assert await server.wait_for(1) == ["one"]
                reader_nursery.cancel_scope.cancel()
            assert connection._ws.closed is None  # trio-websocket did not notice a close
            a, b = socket.socketpair()  # likely to take the number just freed
            with a, b:
                a.setblocking(False)
                b.setblocking(False)
                with pytest.raises(ConnectionClosed):
                    await connection.send_atomic("two", WITHIN)
                for end in (a, b):
                    with pytest.raises(BlockingIOError):
                        end.recv(100)  # nothing reached the unrelated sockets
            outer.cancel_scope.cancel()


async def test_a_cancelled_caller_writes_nothing(nursery, server):
    with trio.fail_after(TIMEOUT):
        connection = await server.connect(nursery)
        with trio.CancelScope() as scope:
            scope.cancel()
            await connection.send_atomic("never", WITHIN)
        assert scope.cancelled_caught
        await connection.send_atomic("sent", WITHIN)
        assert await server.wait_for(1) == ["sent"]
        await connection.aclose()
