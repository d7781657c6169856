"""An optional transport on the ``websockets`` package's Trio implementation.

:class:`WebsocketsTransport` is a drop-in alternative to the default
:class:`~livehandle.lowlevel.WebSocketTransport` (trio-websocket): same
:class:`~livehandle.lowlevel.Connection` contract, same errors, same scrubbing.  It needs the
``websockets`` extra (``pip install livehandle[websockets]``); the package is imported when a
transport is first used, so ``livehandle`` itself never requires it.

It opens TCP and TLS with the same helpers as the default transport, runs the upgrade with
``websockets``' own client over that stream, and watches the upgrade with the default's own
upgrade watch, so that every failure to connect reads alike whichever transport is used.
``websockets`` logs the request headers (the API key) and the server's frames at DEBUG: the
transport gives it a logger that is never enabled for DEBUG and that scrubs what it logs at
higher levels.
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import TYPE_CHECKING, Any

import attrs
import trio

from livehandle._errors import ConnectFailed, classify_close
from livehandle._logs import library_logger
from livehandle._transport.handshake import UpgradeWatch, rejection_message
from livehandle._transport.opening import (
    cancel_when_done,
    describe,
    leaves,
    open_stream,
    parse_url,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from websockets.trio.client import ClientConnection

    from livehandle._errors import ConnectionClosed
    from livehandle._transport.base import BatchConnection, Transport
    from livehandle._transport.endpoints import Endpoint, ResolvedEndpoint

__all__ = ["WebsocketsConnection", "WebsocketsTransport"]

logger = library_logger("livehandle.transport")

MISSING = (
    "WebsocketsTransport needs the 'websockets' package (>=17.4,<18): "
    "pip install 'livehandle[websockets]'"
)


class WebsocketsConnection:
    """One open WebSocket on ``websockets``; implements :class:`~livehandle.lowlevel.Connection`.

    Made by :meth:`WebsocketsTransport.connect`.  ``websockets`` runs one reader task per
    connection (in the nursery given to ``connect``); it ends when the connection closes.

    Args:
        ws: the open ``websockets.trio.client.ClientConnection``.
        stream: the byte stream under ``ws``; :meth:`aclose` closes it in every case.
        close_timeout: how long :meth:`aclose` waits for the peer's close frame, in seconds.
        endpoint: what was connected to; its credentials are scrubbed from frames and the close
            reason before anything else sees them.  None for a connection with no credential.
    """

    def __init__(
        self,
        ws: ClientConnection,
        *,
        stream: trio.abc.AsyncResource,
        close_timeout: float = 0.25,
        endpoint: ResolvedEndpoint | None = None,
    ) -> None:
        self._ws = ws
        self._protocol = ws.protocol
        self._endpoint = endpoint if endpoint is not None and endpoint.secrets else None
        self._stream = stream
        self._close_timeout = close_timeout
        self._close: tuple[int, str] | None = None
        self._closing = False
        self._receiving = False
        self._closed = trio.Event()
        from websockets.exceptions import ConnectionClosed as Closed
        from websockets.protocol import OPEN

        self._open_state = OPEN
        self._library_closed = Closed

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
        if isinstance(message, str):
            await self.send_batch((message,))
        elif isinstance(message, bytes):
            await self._write(lambda: self._protocol.send_binary(message))
        else:
            raise TypeError(f"message must be str or bytes, not {type(message).__name__}")

    async def send_batch(self, messages: Sequence[str]) -> None:
        """Send text ``messages`` in order, framed together and written with one ``send_all``.

        ``websockets`` frames each message in its sans-I/O protocol (masking in C) and would
        write each frame with its own ``send_all``; this joins them into one write, under the
        connection's send lock (shared with the reader's pongs and close frames).

        Raises:
            ConnectionClosed: the subclass for the close code, once the connection is closed.
        """
        send_text = self._protocol.send_text

        def frame() -> None:
            for message in messages:
                send_text(message.encode())

        await self._write(frame)

    async def _write(self, frame: Callable[[], None]) -> None:
        """Frame with ``frame()`` in the protocol, then write the frames in one ``send_all``."""
        OPEN = self._open_state
        ws = self._ws
        if self._protocol.state is not OPEN or ws.send_in_progress is not None:
            await trio.lowlevel.checkpoint()
            raise self._closed_error()
        lock = ws.send_lock  # shared with the reader task (pongs, close frames)
        try:
            lock.acquire_nowait()  # free almost always: no scheduler round trip for it
        except trio.WouldBlock:
            await lock.acquire()
        try:
            if self._protocol.state is not OPEN:  # closed while we waited for the lock
                broken: BaseException | None = None
                closed = True
            else:
                frame()
                data = b"".join(self._protocol.data_to_send())
                closed = False
                try:
                    await ws.stream.send_all(data)
                except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                    broken = exc
                else:
                    broken = None
        finally:
            lock.release()
        if broken is not None:
            # What websockets does when its own write fails: the connection is gone.
            ws.set_connection_exc(broken)
            del broken
            with trio.CancelScope(shield=True):
                await ws.close_stream()
            raise self._closed_error()
        if closed:
            raise self._closed_error()

    async def receive(self) -> bytes | str:
        """Receive the next message, text (``str``) or binary (``bytes``).

        After the peer closes, the messages it sent before its close frame are returned first.
        A credential of the endpoint echoed in a message arrives as ``***``.  Once :meth:`aclose`
        has begun, a pending call drops what still arrives and raises the close error.

        Raises:
            ConnectionClosed: the subclass for the close code, once the connection is closed.
        """
        if self._closing:
            await trio.lowlevel.checkpoint()
            raise self._closed_error()
        self._receiving = True
        try:
            while True:
                data = await self._ws.recv()
                if not self._closing:
                    break
        except self._library_closed:
            pass  # raised below, out of the handler: the error must not chain the close reason
        else:
            return data if self._endpoint is None else self._endpoint.scrub_frame(data)
        finally:
            self._receiving = False
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
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        try:
            with trio.move_on_after(self._close_timeout, shield=True):
                async with trio.open_nursery() as nursery:
                    # Keep reading (and dropping) what the peer still sends: websockets stops
                    # reading the socket while its frame queue is full, and would then never see
                    # the peer's close frame.  A pending receive() drops messages itself.
                    if not self._receiving:
                        nursery.start_soon(self._discard_incoming)
                    await self._ws.aclose(code, reason)
                    nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(self._stream)
                await self._ws.close_stream()  # ends the reader and wakes a pending receive
            self._closed.set()

    async def _discard_incoming(self) -> None:
        try:
            while True:
                await self._ws.recv()
        except self._library_closed:
            pass

    def _known_close(self) -> tuple[int, str] | None:
        if self._close is not None:
            return self._close
        protocol = self._protocol
        received, sent = protocol.close_rcvd, protocol.close_sent
        if received is not None and (sent is None or protocol.close_rcvd_then_sent):
            text = received.reason
            return (received.code, text if self._endpoint is None else self._endpoint.scrub(text))
        if sent is not None:  # the client failed the connection (a message too big, say)
            return (sent.code, sent.reason)
        if self._ws.stream_closed.is_set():
            return (1006, "")
        return None

    def _closed_error(self) -> ConnectionClosed:
        if self._close is None:
            known = self._known_close()
            self._close = known if known is not None else (1006, "")
        return classify_close(*self._close)


@attrs.frozen
class WebsocketsTransport:
    """Opens WebSocket connections with the ``websockets`` package's Trio client.

    An alternative to the default :class:`~livehandle.lowlevel.WebSocketTransport`, with the
    same behaviour on every path: connect errors are :class:`~livehandle.ConnectFailed`
    (credentials scrubbed, an HTTP rejection's status code and scrubbed body excerpt kept), every
    close is the :class:`~livehandle.ConnectionClosed` subclass for its code, and the endpoint's
    credentials are scrubbed from frames and close reasons.  Compression (permessage-deflate)
    is not offered, as with the default.  Needs ``pip install 'livehandle[websockets]'``;
    ``connect`` raises :class:`ImportError` saying so when ``websockets`` is missing.

    Attributes:
        max_message_size: the largest message accepted from the server, in bytes (a bigger one
            closes the connection with 1009).
        message_queue_size: how many received frames ``websockets`` buffers before it stops
            reading from the socket (it resumes below a quarter of that).
        close_timeout: how long ``aclose`` waits for the server's close frame.

    There are no keepalive pings: Gemini's pongs can take 8-30 s, so short ping timeouts kill
    healthy sessions.
    """

    max_message_size: int = 16 * 2**20
    message_queue_size: int = 16
    close_timeout: float = 0.25

    async def connect(self, endpoint: Endpoint, nursery: trio.Nursery) -> WebsocketsConnection:
        """Open a WebSocket to ``endpoint`` (credentials resolved once, here).

        ``websockets``' reader task runs in ``nursery`` and ends when the connection closes.
        There is no timeout here; the caller wraps this in ``trio.fail_after``.

        Raises:
            ConnectFailed: the connection, the TLS handshake or the upgrade failed.
            ValueError: the endpoint's URL has no host or an invalid port.
            ImportError: ``websockets`` is not installed.
        """
        _require_websockets()
        resolved = endpoint.resolve()
        stream = await open_stream(parse_url(resolved), resolved)
        return await self.connect_stream(stream, resolved, nursery)

    async def connect_stream(
        self, stream: trio.abc.Stream, resolved: ResolvedEndpoint, nursery: trio.Nursery
    ) -> WebsocketsConnection:
        """Run the WebSocket upgrade for ``resolved`` over an already open byte stream.

        For proxies and in-memory tests.  The connection takes ownership of ``stream`` and closes
        it when it ends, also when the upgrade fails.

        Raises:
            ConnectFailed: the upgrade failed (``status_code`` is set when the server rejected it).
        """
        _require_websockets()
        failure: ConnectFailed | None = None
        watch = UpgradeWatch(stream)
        ws: ClientConnection | None = None
        try:
            ws = _client(self, watch, resolved, nursery)
            with trio.CancelScope() as scope:
                async with trio.open_nursery() as watcher:
                    watcher.start_soon(cancel_when_done, watch.wait_failed, scope)
                    await ws.handshake(list(resolved.headers), user_agent_header=None)
                    watcher.cancel_scope.cancel()
            if scope.cancelled_caught:
                failure = watch.failure(resolved)
        except BaseException as exc:
            error = _only_error(exc)
            if error is None:
                with trio.CancelScope(shield=True):
                    await trio.aclose_forcefully(stream)
                raise
            # Described before the stream is closed: closing it makes the watch see an early end.
            failure = _connect_failed(error, resolved, watch)
            del error, exc
        if failure is not None:
            # Raised here, outside the handler, so that nothing chains the rejected response
            # (its headers and body may hold the credential): __context__ stays None.
            with trio.CancelScope(shield=True):
                await trio.aclose_forcefully(stream)
            raise failure
        assert ws is not None
        watch.finish()
        ws.stream = stream  # the watch's work is done: no extra call per read after it
        return WebsocketsConnection(
            ws, stream=stream, close_timeout=self.close_timeout, endpoint=resolved
        )


def _require_websockets() -> None:
    try:
        import websockets.trio.client  # noqa: F401
    except ImportError:
        raise ImportError(MISSING) from None


def _client(
    transport: WebsocketsTransport,
    watch: UpgradeWatch,
    resolved: ResolvedEndpoint,
    nursery: trio.Nursery,
) -> ClientConnection:
    """A ``websockets`` client connection over ``watch``, its reader started in ``nursery``."""
    from websockets.client import ClientProtocol
    from websockets.trio.client import ClientConnection
    from websockets.uri import WebSocketURI

    parts = urllib.parse.urlsplit(resolved.url)
    target = parse_url(resolved)
    # Built by hand, not parsed: user info in the URL must not become an Authorization header.
    uri = WebSocketURI(
        secure=target.secure,
        host=target.hostname,
        port=target.port,
        path=parts.path or "/",
        query=parts.query,
    )
    protocol = ClientProtocol(
        uri, max_size=transport.max_message_size, logger=_QuietLogger(resolved)
    )
    return ClientConnection(
        nursery,
        watch,
        protocol,
        ping_interval=None,
        ping_timeout=None,
        close_timeout=transport.close_timeout,
        max_queue=transport.message_queue_size,
    )


class _QuietLogger(logging.LoggerAdapter[logging.Logger]):
    """The logger given to ``websockets``: never DEBUG, and scrubbed above it.

    ``websockets`` logs the request's headers (the API key) and every frame at DEBUG, and decides
    once per connection whether DEBUG is on; this logger says it never is.  What it logs at INFO
    and above (a parser failure, say) goes to ``livehandle.transport`` as scrubbed text, with the
    exception's type but not its text.
    """

    def __init__(self, resolved: ResolvedEndpoint) -> None:
        super().__init__(library_logger("livehandle.transport.websockets"), {})
        self._resolved = resolved

    def isEnabledFor(self, level: int) -> bool:
        return level > logging.DEBUG and self.logger.isEnabledFor(level)

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        error = kwargs.get("exc_info")
        if error is True:
            import sys

            error = sys.exc_info()[1]
        if isinstance(error, BaseException):
            text += f" ({type(error).__name__})"
        self.logger.log(level, "websockets: %s", self._resolved.scrub(text))


def _only_error(exc: BaseException) -> Exception | None:
    """The error to report for ``exc`` (maybe a group), or None if it must propagate as is."""
    from websockets.exceptions import InvalidStatus

    found = leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    if not all(isinstance(leaf, Exception | trio.Cancelled) for leaf in found):
        return None
    errors = [leaf for leaf in found if isinstance(leaf, Exception)]
    for leaf in errors:
        if isinstance(leaf, InvalidStatus):
            return leaf
    return errors[0] if errors else None


def _connect_failed(
    error: BaseException, resolved: ResolvedEndpoint, watch: UpgradeWatch
) -> ConnectFailed:
    """Describe ``error`` as a ConnectFailed whose message holds no credential.

    Once the server has answered the upgrade, ``watch`` explains a failure in the same words as
    the default transport (``websockets``' own wording differs).
    """
    from websockets.exceptions import InvalidStatus

    if isinstance(error, ConnectFailed):
        return error
    url = resolved.redacted_url
    if isinstance(error, InvalidStatus):
        status = error.response.status_code
        message = rejection_message(url, status, bytes(error.response.body), resolved)
        return ConnectFailed(message, url=url, status_code=status)
    if watch.failed.is_set() or watch.answered:
        return watch.failure(resolved)
    message = f"could not open {url}: {describe(error)}"
    return ConnectFailed(resolved.scrub(message), url=url)


if TYPE_CHECKING:  # static proof that the classes implement the protocols
    _transport: Transport = WebsocketsTransport()

    def _batches(connection: WebsocketsConnection) -> BatchConnection:
        return connection
