"""Writing a frame through a :class:`trio.SSLStream` without a scheduler round trip.

``SSLStream.send_all`` encrypts into its TLS session, then awaits its inner send lock and the
socket's ``send_all``, each of which ends in a checkpoint that yields to the scheduler: two
round trips per microphone frame, more than the frame's encryption costs.  When nothing else is
inside the stream's send side, the same work can be done synchronously: encrypt the frame with
the stream's ``ssl.SSLObject``, take the records from its outgoing buffer and hand them to the
non-blocking socket with one ``os.write``.  The socket takes them whole unless the peer has
stopped reading; only then is the rest awaited, still holding the stream's inner send lock so
that no other record (a key-update answer written by the receive side, a close) can come in
between.

This relies on ``SSLStream`` internals (its ``SSLObject``, outgoing buffer, inner send lock,
handshake marker and state), checked once by :meth:`DirectTLS.probe`; a stream without them gets
no :class:`DirectTLS` and is written the ordinary way.  Any state the synchronous path cannot
handle (a handshake or renegotiation in progress, another task inside the send side) makes
:meth:`DirectTLS.ready` decline, and the caller writes that frame the ordinary way too.
"""

from __future__ import annotations

import os
import ssl
from typing import Any

import trio

__all__ = ["DirectTLS"]

_NEEDS = (
    "_ssl_object",
    "_outgoing",
    "_inner_send_lock",
    "_outer_send_conflict_detector",
    "_handshook",
    "_state",
    "_delayed_outgoing",
)


class DirectTLS:
    """Synchronous writes into one client :class:`trio.SSLStream` over a socket (see module).

    A write is :meth:`ready`, then :meth:`encrypt`, then :meth:`write`, with no yield in
    between (so no other task can use the stream meanwhile); only a partial write then awaits
    the rest on :attr:`socket_stream`, between :meth:`hold` and :meth:`end`, which keep every
    other task out of the stream's send side.
    """

    __slots__ = ("_broken", "_detector", "_fd", "_lock", "_ok", "_stream", "socket_stream")

    def __init__(self, stream: Any, socket_stream: trio.SocketStream, fd: int) -> None:
        self._stream = stream
        self.socket_stream = socket_stream
        self._fd = fd
        self._lock: trio.StrictFIFOLock = stream._inner_send_lock
        self._detector = stream._outer_send_conflict_detector
        state = stream._state
        self._ok = state
        self._broken = type(state).BROKEN

    @classmethod
    def probe(cls, stream: object) -> DirectTLS | None:
        """A :class:`DirectTLS` for ``stream``, or None when it cannot be written directly.

        ``stream`` must be an open :class:`trio.SSLStream` (client side) over a
        :class:`trio.SocketStream`, on a POSIX system, with the internals this module uses.
        """
        if os.name != "posix" or not isinstance(stream, trio.SSLStream):
            return None
        if not all(hasattr(stream, name) for name in _NEEDS):
            return None
        if not hasattr(stream._outer_send_conflict_detector, "_held"):
            return None
        inner = stream.transport_stream
        if not isinstance(inner, trio.SocketStream) or stream._ssl_object.server_side:
            return None
        state = stream._state
        if getattr(type(state), "BROKEN", None) is None or state.name != "OK":
            return None
        return cls(stream, inner, inner.socket.fileno())

    def ready(self) -> bool:
        """Whether a frame can be written directly now.

        Not while the handshake has not finished, once the stream is broken or closed, or
        while another task is inside the stream's send side.  The answer holds until the
        calling task next yields.
        """
        stream = self._stream
        return (
            stream._state is self._ok
            and self.socket_stream.socket.fileno() == self._fd  # closed: -1 (and maybe reused)
            and stream._handshook.done
            and stream._delayed_outgoing is None
            and not self._detector._held
            and not self._lock.locked()
        )

    def hold(self) -> None:
        """Hold the stream's send side while the rest of a partial write is awaited.

        Only right after :meth:`ready` said yes, without a yield since; :meth:`end` releases.
        """
        self._detector.__enter__()
        self._lock.acquire_nowait()

    def encrypt(self, data: bytes) -> bytes | None:
        """Encrypt ``data`` into TLS records; None when the session wants to read first.

        Raises:
            trio.BrokenResourceError: the TLS session failed; the stream is marked broken.
        """
        stream = self._stream
        try:
            stream._ssl_object.write(data)
        except ssl.SSLWantReadError:
            # Only a renegotiation does this: the write must be retried with the same data once
            # the peer has answered, which SSLStream.send_all does.  Records the attempt made
            # stay in the outgoing buffer, ahead of everything later.
            return None
        except (ssl.SSLError, ssl.CertificateError) as error:
            stream._state = self._broken
            raise trio.BrokenResourceError from error
        records: bytes = stream._outgoing.read()
        return records

    def write(self, records: bytes) -> int:
        """Write as much of ``records`` as the socket takes now; the bytes written, or -1.

        -1 means the socket failed; the stream is then marked broken.
        """
        try:
            return os.write(self._fd, records)
        except BlockingIOError:
            return 0
        except OSError:
            self.mark_broken()
            return -1

    def mark_broken(self) -> None:
        """Record that part of a record may be lost: the stream can't be used any more.

        A stream already closed stays closed.
        """
        if self._stream._state is self._ok:
            self._stream._state = self._broken

    def end(self) -> None:
        """Release what :meth:`hold` held."""
        self._lock.release()
        self._detector.__exit__(None, None, None)
