"""A watch over the WebSocket upgrade: it notices failures trio-websocket misses or misreports.

trio-websocket runs the upgrade (the HTTP request and its ``101 Switching Protocols`` answer),
but some answers leave it waiting for ever or failing in its internals' words:

- the server closes the connection without answering, or answers with a rejection whose body is
  delimited by the close (no ``Content-Length``, legal HTTP/1.1): trio-websocket never feeds the
  end of the stream to its HTTP parser, so it keeps waiting for the handshake;
- the server answers with something that is not HTTP (``ws://`` pointed at an SSH port, say) and
  stays connected: the parser keeps waiting for the end of a header block;
- the server answers ``101`` with a bad ``Sec-WebSocket-Accept`` (or without the upgrade headers):
  trio-websocket then fails inside h11 with "can't handle event type Response when role=CLIENT".

:class:`UpgradeWatch` wraps the byte stream while the upgrade runs, parses the same answer with
its own HTTP parser, and sets :attr:`UpgradeWatch.failed` as soon as the upgrade cannot succeed;
:meth:`UpgradeWatch.failure` then says what went wrong, in plain words, credentials scrubbed.
"""

from __future__ import annotations

import re
from collections import deque
from typing import TYPE_CHECKING

import h11
import trio
import trio_websocket
from wsproto.utilities import generate_accept_token

from livehandle._errors import ConnectFailed
from livehandle._transport.opening import describe

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from livehandle._transport.endpoints import ResolvedEndpoint

__all__ = ["UpgradeWatch", "connect_failed", "rejection_message", "shed_upgrade_state"]

#: How much of an HTTP rejection body goes into the ConnectFailed message.
BODY_EXCERPT = 300
#: How much of a rejection body is kept to build that excerpt (the rest is dropped unread).
_BODY_KEPT = 8 * BODY_EXCERPT
#: How much of the request is kept until its ``Sec-WebSocket-Key`` is found.
_REQUEST_KEPT = 64 * 1024
#: How many leading bytes of the answer are kept, for the message about a non-HTTP answer.
_ANSWER_KEPT = 256
#: How long a rejection's body may take to end, in seconds, before the rejection is reported with
#: the body received so far (a server may send a body without a length and keep the connection).
REJECTION_GRACE = 1.0
#: How many characters of a non-HTTP answer the message shows.
_ANSWER_SHOWN = 40
_CLOSED_EARLY = "the server closed the connection before the WebSocket handshake completed"
_KEY_HEADER = re.compile(rb"\r\nsec-websocket-key:[ \t]*([^\r\n]*?)[ \t]*\r\n", re.IGNORECASE)


class UpgradeWatch(trio.abc.Stream):
    """The client's byte stream during the WebSocket upgrade, with a second look at the answer.

    Everything passes through unchanged.  While :attr:`upgrading` is true the watch keeps the
    request's ``Sec-WebSocket-Key`` (the request itself is dropped once the key is found; it holds
    the credential) and feeds what the server sends to its own h11 parser.  It sets
    :attr:`failed` when the upgrade can no longer succeed: the stream ends or breaks, the answer
    is not HTTP, is malformed, or is a rejection that is complete (or whose body has not ended
    :data:`REJECTION_GRACE` seconds after its status line, see :meth:`wait_failed`).  Why a
    ``101`` does not accept the request (a wrong ``Sec-WebSocket-Accept``, say) is only noted:
    trio-websocket decides, and :meth:`failure` explains its failure.  Memory is bounded: at
    most 64 KiB of request, 256 bytes of raw answer and 2,400 bytes of a rejection body are
    kept; the rest of a body is dropped.

    Call :meth:`finish` once the upgrade succeeded; the watch then only passes data.
    """

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream
        self.upgrading = True
        self.failed = trio.Event()
        self._rejected = trio.Event()
        self._request = bytearray()
        self._key: bytes | None = None
        self._answer = bytearray()
        self._parser: h11.Connection | None = h11.Connection(h11.CLIENT)
        self._parser.send(
            h11.Request(
                method="GET",
                target="/",
                headers=[("Host", "upgrade"), ("Connection", "Upgrade"), ("Upgrade", "websocket")],
            )
        )
        self._status: int | None = None
        self._body = bytearray()
        self._problem: str | None = None
        self._switched = False
        self._not_http = False

    def finish(self) -> None:
        """The upgrade succeeded: from now on only pass data, and keep nothing of the upgrade."""
        self.upgrading = False
        self._parser = None
        self._request, self._answer, self._body = bytearray(), bytearray(), bytearray()

    # -- the stream -------------------------------------------------------------------------

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        if self.upgrading and self._key is None and len(self._request) < _REQUEST_KEPT:
            self._request += data
            found = _KEY_HEADER.search(self._request)
            if found is not None:
                self._key = bytes(found.group(1))
                self._request = bytearray()  # holds the credential: keep no more than needed
        await self._stream.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self._stream.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            data = await self._stream.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            self._see(b"")
            raise
        self._see(data)
        return data

    async def aclose(self) -> None:
        if self.upgrading:
            # trio-websocket closes the stream when its parser gives up on the answer.
            self._fail("the server's answer to the WebSocket upgrade is not valid HTTP")
        await self._stream.aclose()

    @property
    def answered(self) -> bool:
        """Whether the server's answer to the upgrade has been seen (its status line, at least)."""
        return self._status is not None or self._switched

    async def wait_failed(self) -> None:
        """Return once the upgrade cannot succeed: :attr:`failed` is set.

        It is also set when a rejection's body has not ended :data:`REJECTION_GRACE` seconds
        after the rejection's status line: its status and the body so far are reported then.
        """
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._end_rejection_after_grace)
            await self.failed.wait()
            nursery.cancel_scope.cancel()

    async def _end_rejection_after_grace(self) -> None:
        await self._rejected.wait()
        await trio.sleep(REJECTION_GRACE)
        self._fail(None)  # failure() reports the status and the body so far

    # -- the diagnosis ----------------------------------------------------------------------

    def failure(self, resolved: ResolvedEndpoint) -> ConnectFailed:
        """The error to report for a failed upgrade: status and body excerpt for a rejection."""
        url = resolved.redacted_url
        if self._status is not None and self._status != 101:
            message = rejection_message(url, self._status, bytes(self._body), resolved)
            return ConnectFailed(message, url=url, status_code=self._status)
        problem = self._problem or "the WebSocket handshake failed"
        if self._not_http:
            # Scrub before cutting, so that a cut cannot leave half a secret behind.
            text = resolved.scrub(bytes(self._answer).decode("ascii", "replace"))
            shown = "".join(c if c.isprintable() else "." for c in text)
            cut = shown[:_ANSWER_SHOWN] + ("..." if len(shown) > _ANSWER_SHOWN else "")
            problem += f" (it begins {cut!r})"
        return ConnectFailed(resolved.scrub(f"{url}: {problem}"), url=url)

    def _see(self, data: bytes | bytearray) -> None:
        parser = self._parser
        if parser is None or not self.upgrading or self.failed.is_set() or self._switched:
            return
        if data and len(self._answer) < _ANSWER_KEPT:
            self._answer += data[: _ANSWER_KEPT - len(self._answer)]
            if not _may_be_http(self._answer):
                self._not_http = True
                self._fail("the server's answer to the WebSocket upgrade is not HTTP")
                return
        try:
            parser.receive_data(bytes(data))
            self._read_events(parser, ended=not data)
        except h11.RemoteProtocolError:
            if self._status is not None:
                self._fail(None)  # a rejection cut short: report its status and the body so far
            elif not data:
                self._fail(_CLOSED_EARLY)
            else:
                self._fail("the server's answer to the WebSocket upgrade is not valid HTTP")

    def _read_events(self, parser: h11.Connection, *, ended: bool) -> None:
        while not self.failed.is_set():
            event = parser.next_event()
            if isinstance(event, h11.InformationalResponse) and event.status_code == 101:
                self._switched = True
                self._check_acceptance(event.headers)
                return
            if isinstance(event, h11.Response):
                self._status = event.status_code
                self._rejected.set()
            elif isinstance(event, h11.Data):
                self._body += event.data[: _BODY_KEPT - len(self._body)]
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                self._fail(None)  # a complete rejection: failure() reports status and body
            elif event is h11.NEED_DATA or event is h11.PAUSED:
                if ended:
                    self._fail(_CLOSED_EARLY)
                return
            # Other informational responses (100 Continue, 103 Early Hints) are skipped.

    def _check_acceptance(self, headers: Sequence[tuple[bytes, bytes]]) -> None:
        """Note why a ``101`` answer does not accept this request (RFC 6455 section 4.1), if so.

        Only noted, never acted on: trio-websocket decides whether the upgrade succeeded, and
        :meth:`failure` uses the note to explain its failure.  Like wsproto, the last value of a
        repeated header counts.
        """
        fields = {name.lower(): value for name, value in headers}
        tokens = {token.strip().lower() for token in fields.get(b"connection", b"").split(b",")}
        expected = None if self._key is None else generate_accept_token(self._key)
        what = "the server answered the upgrade with 101 Switching Protocols but"
        if b"upgrade" not in tokens:
            self._problem = f"{what} without the header 'Connection: Upgrade'"
        elif fields.get(b"upgrade", b"").lower() != b"websocket":
            self._problem = f"{what} without the header 'Upgrade: websocket'"
        elif expected is not None and fields.get(b"sec-websocket-accept") != expected:
            self._problem = (
                f"{what} its Sec-WebSocket-Accept does not match the request's key "
                "(is something other than a WebSocket server answering?)"
            )
        elif b"sec-websocket-protocol" in fields:
            self._problem = f"{what} it chose a subprotocol the client did not offer"
        elif b"sec-websocket-extensions" in fields:
            self._problem = f"{what} it accepted an extension the client did not offer"
        else:
            self._problem = f"{what} the client could not complete the handshake"

    def _fail(self, problem: str | None) -> None:
        if self._problem is None:  # the first explanation is the most precise one
            self._problem = problem
        self.failed.set()


def _may_be_http(answer: bytes | bytearray) -> bool:
    """Whether ``answer`` (the first bytes received) can still be the start of an HTTP answer."""
    start = bytes(answer).lstrip(b"\r\n")
    return start.startswith(b"HTTP/") or b"HTTP/".startswith(start)


def rejection_message(url: str, status: int, body: bytes | None, resolved: ResolvedEndpoint) -> str:
    """The ConnectFailed message for an HTTP rejection of the upgrade, credentials scrubbed."""
    message = f"{url} rejected the WebSocket upgrade with HTTP {status}"
    if body:
        # Scrub before cutting, so that a cut cannot leave half a secret behind.
        text = resolved.scrub(body[:_BODY_KEPT].decode("utf-8", "replace"))
        message += f": {text.strip()[:BODY_EXCERPT]}"
    return resolved.scrub(message)


class _SpentHandshake:
    """What a wsproto connection keeps of its opening handshake once the upgrade is done.

    After the upgrade, wsproto only asks its handshake for events still queued from the upgrade
    (none once trio-websocket has handled the ``AcceptConnection``); everything else goes to the
    WebSocket connection it made.
    """

    __slots__ = ()

    def events(self) -> Iterator[object]:
        return iter(())


_SPENT = _SpentHandshake()
_DONE = trio.Event()  # an event that is already set, and stays so: setting it again does nothing
_DONE.set()


async def _handshake_done() -> None:  # pragma: no cover - never called: the stand-in has started
    raise AssertionError("a TLS handshake that is done never runs again")


def _done_tls_handshake() -> object | None:
    """A stand-in for a finished TLS handshake of :class:`trio.SSLStream` (its ``_Once``).

    Started and done: waiting for it is a checkpoint (or nothing, where Trio asks for none),
    exactly as for a stream's own once its handshake has finished.  None on a Trio without it.
    """
    once_type = getattr(getattr(trio, "_ssl", None), "_Once", None)  # a Trio internal
    if once_type is None:
        return None
    try:  # a Trio whose _Once is built differently gets no stand-in (and loses only memory)
        once = once_type(_handshake_done)
        once.started = True
        once._done = _DONE
        if not once.done:
            return None
    except (AttributeError, TypeError):
        return None
    done: object = once
    return done


_TLS_DONE = _done_tls_handshake()


class _ShortQueue(list):  # type: ignore[type-arg]
    """A first-in first-out queue of a few items, where a deque (632 bytes empty) is too much.

    For queues that hold at most a handful of items (wsproto's extra events, a message queue of
    a few messages): ``append``, ``popleft``, ``len``, truth and ``clear`` as on a deque.
    """

    __slots__ = ()

    def popleft(self) -> object:
        return self.pop(0)


def _shorten(owner: object, name: str, limit: float) -> None:
    """Replace ``owner.<name>``, an empty unbounded deque, with a :class:`_ShortQueue`.

    Only when it can never hold more than ``limit`` items (a few), and only when it is a deque
    and empty now (nothing can be queued in between: this does not wait).
    """
    queue = getattr(owner, name, None)
    if isinstance(queue, deque) and queue.maxlen is None and not queue and limit <= _SHORT_QUEUE:
        setattr(owner, name, _ShortQueue())


_SHORT_QUEUE = 16  # the most items a queue may hold to be a _ShortQueue


def shed_upgrade_state(ws: trio_websocket.WebSocketConnection) -> None:
    """Drop what an open client ``ws`` keeps of its upgrade but never uses again (about 3 KiB).

    The HTTP parser of the handshake (wsproto's, with h11's state), the upgrade request (whose
    headers hold the credential), the server-side connection proposal, and two events that
    nothing waits for any more (the open handshake's, set already, and one set only for
    trio-websocket's own tests) are replaced with shared stand-ins that behave the same.  Each
    internal is checked first: on a trio-websocket or wsproto without one, it is left alone.
    """
    proto = getattr(ws, "_wsproto", None)
    handshake = getattr(proto, "handshake", None)
    if (
        getattr(proto, "connection", None) is not None  # the upgrade is done
        and not getattr(handshake, "_events", True)  # and every event of it was handled
    ):
        proto.handshake = _SPENT  # type: ignore[union-attr]
    if getattr(ws, "_initial_request", None) is not None:
        ws._initial_request = None
    if getattr(ws, "_connection_proposal", None) is not None:
        ws._connection_proposal = None
    opened = getattr(ws, "_open_handshake", None)
    if isinstance(opened, trio.Event) and opened.is_set():
        ws._open_handshake = _DONE
    if isinstance(getattr(ws, "_for_testing_peer_closed_connection", None), trio.Event):
        ws._for_testing_peer_closed_connection = _DONE
    # wsproto queues only an abnormal closure besides frames (one event), and trio-websocket's
    # queue of received messages holds ``message_queue_size`` of them.
    _shorten(getattr(proto, "connection", None), "_events", 1)
    received = getattr(ws, "_recv_channel", None)
    state = getattr(received, "_state", None)
    _shorten(state, "data", getattr(state, "max_buffer_size", _SHORT_QUEUE + 1))
    # Trio's TLS stream keeps its finished handshake (an event and the handshake's bound
    # method) for good; a shared finished one answers every later ask the same way.
    stream = getattr(ws, "_stream", None)
    once = getattr(stream, "_handshook", None)
    if (
        isinstance(stream, trio.SSLStream)
        and _TLS_DONE is not None
        and type(once) is type(_TLS_DONE)
        and once.done  # type: ignore[attr-defined]
    ):
        stream._handshook = _TLS_DONE  # type: ignore[assignment]


def connect_failed(
    error: BaseException, resolved: ResolvedEndpoint, watch: UpgradeWatch | None = None
) -> ConnectFailed:
    """Describe ``error`` as a ConnectFailed whose message holds no credential.

    Once the server has answered the upgrade, ``watch`` explains a failure better than
    trio-websocket's error (which may be h11's internal wording).
    """
    if isinstance(error, ConnectFailed):
        return error
    url = resolved.redacted_url
    if isinstance(error, trio_websocket.ConnectionRejected):
        message = rejection_message(url, error.status_code, error.body, resolved)
        return ConnectFailed(message, url=url, status_code=error.status_code)
    if watch is not None and (watch.failed.is_set() or watch.answered):
        return watch.failure(resolved)
    message = f"could not open {url}: {describe(error)}"
    return ConnectFailed(resolved.scrub(message), url=url)
