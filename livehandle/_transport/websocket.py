"""The default transport: the Live API over a real WebSocket, built on trio-websocket.

:class:`WebSocketTransport` opens the TCP (and TLS) connection itself and runs the WebSocket
upgrade over it with ``trio_websocket.wrap_client_stream``.  Owning the stream is what lets it
close the socket on every path, including a rejected upgrade and a server-initiated close, where
``trio_websocket.connect_websocket_url`` leaves the socket for the garbage collector.

Every failure to connect becomes :class:`~livehandle.ConnectFailed` (credentials scrubbed
from the message), and every way an open connection ends becomes the
:class:`~livehandle.ConnectionClosed` subclass for its close code; trio-websocket's and
Trio's own exceptions never reach the caller.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, cast

import attrs
import trio
import trio_websocket
from wsproto.events import TextMessage

from livehandle._errors import classify_close
from livehandle._logs import library_logger
from livehandle._transport.framing import MaskingKeys, masked_text_frame
from livehandle._transport.handshake import UpgradeWatch, connect_failed, shed_upgrade_state
from livehandle._transport.library_log import hide_server_text_in_library_log
from livehandle._transport.opening import Target, cancel_when_done, open_stream, parse_url
from livehandle._transport.receive_frames import FastFrames
from livehandle._transport.tls_direct import DirectTLS

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from livehandle._errors import ConnectionClosed
    from livehandle._transport.base import AtomicConnection, BatchConnection, Transport
    from livehandle._transport.endpoints import Endpoint, ResolvedEndpoint

__all__ = ["WebSocketConnection", "WebSocketTransport"]

logger = library_logger("livehandle.transport")


class WebSocketConnection:
    """One open WebSocket; implements :class:`~livehandle.lowlevel.Connection`.

    Usually made by :meth:`WebSocketTransport.connect`, but it can wrap any open client
    ``trio_websocket.WebSocketConnection`` (for example one over in-memory streams in a test).

    Args:
        ws: the open trio-websocket connection.
        stream: the byte stream under ``ws``; :meth:`aclose` closes it, which guarantees that
            trio-websocket's reader task ends even when the server closed first.
        close_timeout: how long :meth:`aclose` waits for the peer's close frame, in seconds.
        endpoint: what was connected to; its credentials are scrubbed from everything the
            server sends (frames and the close reason) before anything else sees it.  None for
            a connection that carries no credential.
    """

    def __init__(
        self,
        ws: trio_websocket.WebSocketConnection,
        *,
        stream: trio.abc.AsyncResource | None = None,
        close_timeout: float = 0.25,
        endpoint: ResolvedEndpoint | None = None,
    ) -> None:
        hide_server_text_in_library_log()
        self._ws = ws
        self._endpoint = endpoint if endpoint is not None and endpoint.secrets else None
        self._stream = stream
        self._close_timeout = close_timeout
        self._close: tuple[int, str] | None = None
        self._closing = False
        self._closed: trio.Event | None = None  # set once closed; made by the first aclose
        self._batch_ok = _supports_batches(ws)
        # How send_atomic writes a frame without a scheduler round trip: to the socket's
        # descriptor over plain TCP on a POSIX system, or with the TLS stream's direct writer;
        # both None elsewhere (every frame then goes through trio-websocket's stream).
        self._socket: trio.socket.SocketType | None = None
        self._tls: DirectTLS | None = None
        raw = getattr(ws, "_stream", None)
        if self._batch_ok and os.name == "posix" and isinstance(raw, trio.SocketStream):
            self._socket = raw.socket
        elif self._batch_ok:
            self._tls = DirectTLS.probe(raw)
        FastFrames.install(ws)  # the server's common frames are cut without wsproto's decoder
        self._keys = MaskingKeys()
        # trio-websocket's queue of received messages, read directly (what get_message does,
        # one coroutine frame less for a reader that waits there all the time); None on a
        # trio-websocket without it.
        received = getattr(ws, "_recv_channel", None)
        self._received: trio.MemoryReceiveChannel[str | bytes] | None = (
            received if isinstance(received, trio.MemoryReceiveChannel) else None
        )

    @property
    def close_code(self) -> int | None:
        """The close code once either side has closed the connection (1006: dropped), else None."""
        close = self._known_close()
        return None if close is None else close[0]

    @property
    def close_reason(self) -> str:
        """The close reason text once closed (empty when none was given or while open)."""
        close = self._known_close()
        return "" if close is None else close[1]

    async def send(self, message: str | bytes) -> None:
        """Send ``message``: ``str`` as a text frame, ``bytes`` as a binary frame.

        Raises:
            ConnectionClosed: the subclass for the close code, once the connection is closed.
            TypeError: ``message`` is neither ``str`` nor ``bytes``.
        """
        if not isinstance(message, str | bytes):
            raise TypeError(f"message must be str or bytes, not {type(message).__name__}")
        try:
            await self._ws.send_message(message)
        except trio_websocket.ConnectionClosed:
            pass  # raised below, out of the handler: the error must not chain the close reason
        else:
            return
        raise self._closed_error()

    async def send_batch(self, messages: Sequence[str]) -> None:
        """Send text ``messages`` in order, framed together and written with one ``send_all``.

        Per message this saves the lock, the TLS record and the system call that :meth:`send`
        pays, which is most of a small message's cost; even for one message it saves the
        scheduler round trip that trio-websocket's lock costs when nobody holds it.  It uses
        trio-websocket's frame encoder and send lock (internals, checked once when the
        connection is made); on a trio-websocket without them it falls back to one
        :meth:`send` per message.

        Raises:
            ConnectionClosed: the subclass for the close code, once the connection is closed.
        """
        if not self._batch_ok:
            for message in messages:
                await self.send(message)
            return
        ws = self._ws
        if ws.closed is not None:
            await trio.lowlevel.checkpoint()
            raise self._closed_error()
        encode = ws._wsproto.send
        data = b"".join([encode(TextMessage(data=message)) for message in messages])
        lock = ws._stream_lock  # shared with trio-websocket's reader (pongs, close frames)
        try:
            lock.acquire_nowait()  # free almost always: no scheduler round trip for it
        except trio.WouldBlock:
            await lock.acquire()
        try:
            await ws._stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            broken = True
        else:
            broken = False
        finally:
            lock.release()
        if broken:
            # What trio-websocket does when its own send fails: the connection is gone.
            await ws._abort_web_socket()
            raise self._closed_error()

    async def send_atomic(self, message: str, within: float) -> None:
        """Send one text message so that a cancel can never cut it in half.

        Either nothing is written (``Cancelled`` is raised before the first byte) or the whole
        frame is: a write that has started finishes, shielded from cancellation, within
        ``within`` seconds; after that the connection is aborted (a peer that stopped reading)
        and :class:`~livehandle.ConnectionClosed` is raised.

        The frame is masked here (RFC 6455 §5.3, one integer XOR instead of wsproto's four
        strided passes) and, over plain TCP on a POSIX system, written with one non-blocking
        ``os.write`` in the calling task: no scheduler round trip at all when the socket takes
        it whole, which it does unless the peer has stopped reading.  Over TLS it is encrypted
        and written the same way whenever nothing else is inside the TLS stream's send side.
        Only the rest of a partial write is awaited.  trio-websocket offers no extension, so
        none can be in use, and while the rest of a partial write is awaited its send lock is
        held, so no frame of its own (a pong, a close) can come in between.

        Raises:
            ConnectionClosed: the subclass for the close code, once the connection is closed.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        tls = self._tls
        ws = self._ws
        sock = self._socket
        # A closed socket's descriptor is -1: once the socket was closed under the connection
        # (trio-websocket's reader cancelled), its old number may belong to another file.
        fd = -1 if sock is None else sock.fileno()
        if (tls is None and fd < 0) or self._closing or ws.closed is not None:
            await self._send_shielded([message], within)
            return
        if ws._stream_lock.locked():  # trio-websocket is writing a frame of its own: wait
            await self._send_shielded([message], within)
            return
        # Nothing from here yields until a write turns out partial, so no other task can start
        # a write in between: trio-websocket's send lock is taken only to await such a rest.
        data = masked_text_frame(message.encode(), self._keys.take())
        if tls is not None:
            whole = await self._write_tls(tls, data, within)
        else:
            try:
                written = os.write(fd, data)
            except BlockingIOError:
                written = 0
            except OSError:
                written = -1
            whole = written == len(data) or (
                written >= 0
                and await self._finish(ws._stream.send_all, memoryview(data)[written:], within)
            )
        if not whole:
            # What trio-websocket does when its own send fails: the connection is gone.
            await ws._abort_web_socket()
            raise self._closed_error()

    async def _write_tls(self, tls: DirectTLS, frame: bytes, within: float) -> bool:
        """Encrypt and write ``frame`` (see :meth:`send_atomic`); False when the stream broke."""
        if not tls.ready():  # another task is in the TLS stream's send side: queue up behind it
            return await self._finish(self._ws._stream.send_all, frame, within)
        try:
            records = tls.encrypt(frame)
        except trio.BrokenResourceError:
            return False
        if records is None:  # a renegotiation: SSLStream retries the write once it can
            return await self._finish(self._ws._stream.send_all, frame, within)
        written = tls.write(records)
        if written == len(records):
            return True
        if written >= 0:
            tls.hold()  # no other record may come between the parts of this one
            try:
                rest = memoryview(records)[written:]
                if await self._finish(tls.socket_stream.send_all, rest, within):
                    return True
            except BaseException:
                tls.mark_broken()  # part of a record may be on the wire
                raise
            finally:
                tls.end()
        tls.mark_broken()  # part of a record may be on the wire
        return False

    async def _finish(
        self,
        send_all: Callable[[bytes | memoryview], Awaitable[None]],
        data: bytes | memoryview,
        within: float,
    ) -> bool:
        """Await ``send_all(data)`` holding the send lock, shielded, for at most ``within`` s.

        False when the stream failed or the time ran out (the caller then aborts the
        connection).
        """
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + within
            async with self._ws._stream_lock:
                try:
                    await send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    return False
        if scope.cancelled_caught:
            logger.warning("a write could not finish within %g s; aborting", within)
            return False
        return True

    async def _send_shielded(self, messages: Sequence[str], within: float) -> None:
        """:meth:`send_batch`, shielded from cancellation once it starts, bounded by ``within``."""
        await trio.lowlevel.checkpoint_if_cancelled()
        with trio.CancelScope(shield=True) as scope:
            scope.deadline = trio.current_time() + within
            await self.send_batch(messages)
        if scope.cancelled_caught:
            logger.warning("a write could not finish within %g s; aborting", within)
            await self.aclose(1011, "write timeout")
            raise self._closed_error()

    async def receive(self) -> bytes | str:
        """Receive the next message, text (``str``) or binary (``bytes``).

        After the peer closes, the messages it sent before its close frame are returned first.
        A credential of the endpoint echoed in a message arrives as ``***``.

        Raises:
            ConnectionClosed: the subclass for the close code, once the connection is closed.
        """
        if self._closing:
            await trio.lowlevel.checkpoint()
            raise self._closed_error()
        received = self._received
        try:
            data = await (self._ws.get_message() if received is None else received.receive())
        except (trio_websocket.ConnectionClosed, trio.ClosedResourceError, trio.EndOfChannel):
            pass  # raised below, out of the handler: the error must not chain the close reason
        else:
            return data if self._endpoint is None else self._endpoint.scrub_frame(data)
        raise self._closed_error()

    async def aclose(self, code: int = 1000, reason: str = "") -> None:
        """Send a close frame with ``code`` and ``reason`` and wait briefly for the peer's reply.

        The wait is bounded by ``close_timeout`` and shielded: a peer that never answers cannot
        hang shutdown, and a cancelled caller still sends the close frame.  The socket is closed
        afterwards in every case.  Idempotent.  The first close wins: if the peer had already
        closed (or the connection dropped), ``close_code`` and later errors keep describing that.
        """
        if self._close is None:
            known = self._known_close()
            self._close = known if known is not None else (code, reason)
        if self._closed is not None:
            await self._closed.wait()
            return
        self._closing = True
        self._closed = closed = trio.Event()
        try:
            with trio.move_on_after(self._close_timeout, shield=True):
                async with trio.open_nursery() as nursery:
                    # Keep reading (and dropping) what the peer still sends: trio-websocket
                    # stops reading the socket while its message queue is full, and then never
                    # sees the peer's close frame; closing a socket with unread data resets
                    # the connection, and the peer may lose our last messages.
                    nursery.start_soon(self._discard_incoming)
                    await self._ws.aclose(code, reason or None)
                    nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                if self._stream is not None:
                    await trio.aclose_forcefully(self._stream)
            closed.set()

    async def _discard_incoming(self) -> None:
        try:
            while True:
                await self._ws.get_message()
        except trio_websocket.ConnectionClosed:
            pass

    def _known_close(self) -> tuple[int, str] | None:
        if self._close is not None:
            return self._close
        reason = self._ws.closed
        if reason is None:
            return None
        text = reason.reason or ""
        return (reason.code, text if self._endpoint is None else self._endpoint.scrub(text))

    def _closed_error(self) -> ConnectionClosed:
        if self._close is None:
            known = self._known_close()
            self._close = known if known is not None else (1006, "")
        return classify_close(*self._close)

    async def _keepalive(self, interval: float, pong_timeout: float) -> None:
        """Ping every ``interval`` s; close with 1011 when a pong takes over ``pong_timeout`` s."""
        while True:
            await trio.sleep(interval)
            with trio.move_on_after(pong_timeout) as scope:
                try:
                    await self._ws.ping()
                except trio_websocket.ConnectionClosed:
                    return
            if scope.cancelled_caught:
                logger.warning("no pong within %g s; closing the WebSocket", pong_timeout)
                await self.aclose(1011, "keepalive ping timeout")
                return


@attrs.frozen
class WebSocketTransport:
    """Opens WebSocket connections with trio-websocket; implements ``Transport``.

    Attributes:
        max_message_size: the largest message accepted from the server, in bytes (a bigger one
            closes the connection with 1009).
        message_queue_size: how many received messages trio-websocket buffers before it stops
            reading from the socket.
        keepalive_interval: seconds between client pings, or None (the default) for no pings:
            Gemini's pongs can take 8-30 s, so short ping timeouts kill healthy sessions.
        keepalive_timeout: how long a ping may wait for its pong before the connection is closed
            with 1011 ``keepalive ping timeout``.  Pongs are only read while the application keeps
            receiving (trio-websocket stops reading when its message queue is full).
        close_timeout: how long ``aclose`` waits for the server's close frame.

    ``connect`` fails at once with :class:`~livehandle.ConnectFailed`, saying plainly what went
    wrong, when the server closes the connection before answering the upgrade request, answers
    with something that is not HTTP or is malformed, or answers ``101`` without accepting this
    request (a wrong ``Sec-WebSocket-Accept``, say).  An HTTP rejection keeps its status code and
    a scrubbed excerpt of its body, also when the body ends with the connection; a rejection
    whose body has not ended a second after its status line is reported with the body so far.
    A server that keeps the connection open and never answers makes ``connect`` wait until the
    caller's timeout; wrap ``connect`` in ``trio.fail_after`` as the protocol requires.
    """

    max_message_size: int = 16 * 2**20
    message_queue_size: int = 4
    keepalive_interval: float | None = None
    keepalive_timeout: float = 60.0
    close_timeout: float = 0.25

    async def connect(self, endpoint: Endpoint, nursery: trio.Nursery) -> WebSocketConnection:
        """Open a WebSocket to ``endpoint`` (credentials resolved once, here).

        The reader task (and the keepalive task, if enabled) run in ``nursery`` and end when the
        connection closes.  There is no timeout here; the caller wraps this in ``trio.fail_after``.

        Raises:
            ConnectFailed: the connection, the TLS handshake or the upgrade failed.
            ValueError: the endpoint's URL has no host or an invalid port.
        """
        resolved = endpoint.resolve()
        target = parse_url(resolved)
        stream = await open_stream(target, resolved)
        return await self.connect_stream(stream, resolved, nursery)

    async def connect_stream(
        self, stream: trio.abc.Stream, resolved: ResolvedEndpoint, nursery: trio.Nursery
    ) -> WebSocketConnection:
        """Run the WebSocket upgrade for ``resolved`` over an already open byte stream.

        For proxies and in-memory tests.  The connection takes ownership of ``stream`` and closes
        it when it ends, also when the upgrade fails.

        Raises:
            ConnectFailed: the upgrade failed (``status_code`` is set when the server rejected it).
        """
        hide_server_text_in_library_log()
        host = _ReaderHost(nursery, stream, resolved, keepalive=self.keepalive_interval is not None)
        watch = UpgradeWatch(stream)
        try:
            target = parse_url(resolved)
            ws = await self._upgrade(host, watch, stream, target, resolved)
        except BaseException as exc:
            host.abandon()  # the reader (if it started) ends, and the stream is closed
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)
            error = host.failure or (exc if isinstance(exc, Exception) else None)
            if error is None:
                raise  # cancelled, or KeyboardInterrupt and the like
            failure = connect_failed(error, resolved, watch)
            del error, exc
        else:
            host.upgraded = True
            host.upgrade_scope = None  # done with: the reader keeps no more than it needs
            shed_upgrade_state(ws)
            connection = WebSocketConnection(
                ws, stream=stream, close_timeout=self.close_timeout, endpoint=resolved
            )
            if self.keepalive_interval is not None:
                host.start_keepalive(connection, self.keepalive_interval, self.keepalive_timeout)
            return connection
        # Raised here, outside the handler, so that nothing chains the rejected response (its
        # headers and body may hold the credential): __context__ stays None.
        raise failure

    async def _upgrade(
        self,
        host: _ReaderHost,
        watch: UpgradeWatch,
        stream: trio.abc.Stream,
        target: Target,
        resolved: ResolvedEndpoint,
    ) -> trio_websocket.WebSocketConnection:
        """Run the upgrade over ``watch``; fail at once when the watch sees it cannot succeed."""
        headers = [(name.encode(), value.encode()) for name, value in resolved.headers]
        with trio.CancelScope() as scope:
            host.upgrade_scope = scope  # a reader that fails before the upgrade ends it
            async with trio.open_nursery() as watcher:
                watcher.start_soon(cancel_when_done, watch.wait_failed, scope)
                ws = await trio_websocket.wrap_client_stream(
                    cast("trio.Nursery", host),
                    # Annotated as SocketStream | SSLStream; any Trio stream works.
                    cast("trio.SocketStream", watch),
                    target.host_header,
                    target.resource,
                    extra_headers=headers,
                    message_queue_size=self.message_queue_size,
                    max_message_size=self.max_message_size,
                    receive_buffer_size=None,  # let Trio choose; 4 KiB slows big messages
                )
                watcher.cancel_scope.cancel()
            watch.finish()  # its work is done: it keeps nothing more (no parser, no bytes)
            if getattr(ws, "_stream", None) is watch:
                ws._stream = stream  # the watch's work is done: no extra call per read after it
            return ws
        raise watch.failure(resolved)


class _ReaderHost:
    """Where trio-websocket starts its reader task: the caller's nursery, no task of our own.

    ``wrap_client_stream`` only calls ``start_soon`` on its nursery, once, for the reader.  The
    reader runs in ``nursery`` (the session's) inside a cancel scope of its own, and owns the
    connection's end: when it ends, for any reason, the keepalive (if any) stops and the stream
    is closed.  An error of the reader before the upgrade completed is kept in ``failure`` for
    the caller and ends the upgrade; after it, the error is logged (the connection is closed, so
    the session sees its end as usual).
    """

    __slots__ = (
        "_keepalive",
        "_nursery",
        "_resolved",
        "_scope",
        "_stream",
        "failure",
        "upgrade_scope",
        "upgraded",
    )

    def __init__(
        self,
        nursery: trio.Nursery,
        stream: trio.abc.Stream,
        resolved: ResolvedEndpoint,
        *,
        keepalive: bool,
    ) -> None:
        self._nursery = nursery
        self._stream = stream
        self._resolved = resolved
        self._scope = trio.CancelScope()
        self._keepalive = trio.CancelScope() if keepalive else None
        self.failure: Exception | None = None
        self.upgrade_scope: trio.CancelScope | None = None
        self.upgraded = False

    def start_soon(
        self, async_fn: Callable[..., Awaitable[object]], *args: object, name: object = None
    ) -> None:
        self._nursery.start_soon(self._read, async_fn, *args, name=name or async_fn)

    def abandon(self) -> None:
        """The upgrade failed or was cancelled: stop the reader (also if it has not started)."""
        self._scope.cancel()

    def start_keepalive(
        self, connection: WebSocketConnection, interval: float, pong_timeout: float
    ) -> None:
        assert self._keepalive is not None
        self._nursery.start_soon(self._keep_alive, connection, interval, pong_timeout)

    async def _keep_alive(
        self, connection: WebSocketConnection, interval: float, pong_timeout: float
    ) -> None:
        assert self._keepalive is not None
        with self._keepalive:  # cancelled when the reader ends (also before this starts)
            await connection._keepalive(interval, pong_timeout)

    async def _read(self, async_fn: Callable[..., Awaitable[object]], *args: object) -> None:
        try:
            with self._scope:
                await async_fn(*args)
        except Exception as error:
            if not self.upgraded:
                if self.failure is None or isinstance(error, trio_websocket.ConnectionRejected):
                    self.failure = error
                if self.upgrade_scope is not None:
                    self.upgrade_scope.cancel()
            else:
                resolved = self._resolved
                logger.warning(
                    "WebSocket reader for %s failed: %s",
                    resolved.redacted_url,
                    resolved.scrub(repr(error)),
                )
            del error
        finally:
            if self._keepalive is not None:
                self._keepalive.cancel()
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self._stream)


def _supports_batches(ws: trio_websocket.WebSocketConnection) -> bool:
    """Whether ``ws`` has the internals :meth:`WebSocketConnection.send_batch` relies on."""
    names = ("_wsproto", "_stream_lock", "_stream", "_abort_web_socket")
    return all(hasattr(ws, name) for name in names)


if TYPE_CHECKING:  # static proof that the classes implement the protocols
    _transport: Transport = WebSocketTransport()

    def _batches(connection: WebSocketConnection) -> BatchConnection:
        return connection

    def _atomic(connection: WebSocketConnection) -> AtomicConnection:
        return connection
