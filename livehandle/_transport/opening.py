"""Opening the byte stream under a WebSocket, shared by the WebSocket transports.

Both WebSocket transports (the default on trio-websocket, the optional one on ``websockets``)
parse the endpoint's URL the same way, open TCP and TLS themselves (so that they own the stream
and close it on every path), and describe a failure to connect in the same words.
"""

from __future__ import annotations

import functools
import ssl
import urllib.parse
from typing import TYPE_CHECKING, NamedTuple

import trio

from livehandle._errors import ConnectFailed

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from livehandle._transport.endpoints import ResolvedEndpoint

__all__ = [
    "Target",
    "cancel_when_done",
    "describe",
    "leaves",
    "only_error",
    "open_stream",
    "parse_url",
]


class Target(NamedTuple):
    """Where a WebSocket URL points: what TCP, TLS and the upgrade request need."""

    secure: bool
    hostname: str
    port: int
    host_header: str
    resource: str


def parse_url(resolved: ResolvedEndpoint) -> Target:
    """Split ``resolved.url``; ValueError (credentials hidden) when it is no usable ws/wss URL."""
    parts = urllib.parse.urlsplit(resolved.url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("ws", "wss") or not parts.hostname or port == -1:
        raise ValueError(f"not a usable WebSocket URL: {resolved.redacted_url}")
    secure = parts.scheme == "wss"
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = parts.netloc.rpartition("@")[2]
    return Target(secure, parts.hostname, port or (443 if secure else 80), host_header, resource)


async def open_stream(target: Target, resolved: ResolvedEndpoint) -> trio.abc.Stream:
    """Open TCP, plus TLS with its handshake done, so that TLS errors surface here.

    TLS uses the endpoint's ``ssl_context`` (the system's default trust when it has none).
    Failures are :class:`~livehandle.ConnectFailed`, raised outside the ``except`` blocks so that
    no low-level error is chained.
    """
    failure: ConnectFailed | None = None
    tls: trio.SSLStream[trio.SocketStream] | None = None
    try:
        if not target.secure:
            return await trio.open_tcp_stream(target.hostname, target.port)
        tls = await trio.open_ssl_over_tcp_stream(
            target.hostname,
            target.port,
            ssl_context=resolved.ssl_context or _default_ssl_context(),
            https_compatible=True,
        )
    except OSError as exc:
        failure = ConnectFailed(
            resolved.scrub(f"could not open {resolved.redacted_url}: {describe(exc)}"),
            url=resolved.redacted_url,
        )
    if failure is not None:
        raise failure
    assert tls is not None
    try:
        await tls.do_handshake()
    except BaseException as exc:
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(tls)
        if not isinstance(exc, trio.BrokenResourceError):
            raise
        detail = str(exc.__cause__ or exc) or "connection closed"
        message = f"TLS handshake with {target.hostname} failed: {detail}"
        failure = ConnectFailed(resolved.scrub(message), url=resolved.redacted_url)
    if failure is not None:
        raise failure
    return tls


@functools.cache
def _default_ssl_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions in ``group`` and its nested groups, in order."""
    found: list[BaseException] = []
    for exc in group.exceptions:
        found.extend(leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


def only_error(
    group: BaseExceptionGroup[BaseException], preferred: tuple[type[Exception], ...] = ()
) -> Exception | None:
    """The error to report from ``group``, or None if it must propagate as is.

    Groups holding only cancellations, or a ``KeyboardInterrupt`` and the like, propagate.  An
    error of a ``preferred`` type (the library's "the server rejected the upgrade") wins.
    """
    found = leaves(group)
    if not all(isinstance(exc, Exception | trio.Cancelled) for exc in found):
        return None
    errors = [exc for exc in found if isinstance(exc, Exception)]
    for exc in errors:
        if isinstance(exc, preferred):
            return exc
    return errors[0] if errors else None


def describe(error: BaseException) -> str:
    """``error``'s text, plus the OS errors of a multi-address connect attempt that caused it."""
    text = str(error) or type(error).__name__
    if isinstance(error.__cause__, BaseExceptionGroup):
        details = {
            exc.strerror or str(exc) for exc in leaves(error.__cause__) if isinstance(exc, OSError)
        }
        if details:
            text += f" ({'; '.join(sorted(details))})"
    return text


async def cancel_when_done(wait: Callable[[], Awaitable[None]], scope: trio.CancelScope) -> None:
    """Cancel ``scope`` once ``wait()`` returns (the upgrade watch saw the upgrade fail)."""
    await wait()
    scope.cancel()
