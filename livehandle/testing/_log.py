"""What the emulator says about its traffic: a line per connection and per turn.

Everything here goes to the ``livehandle.emulator`` logger at INFO (the ``emulator`` command
shows INFO by default: these lines are its output).  A connection's records carry its index in
:attr:`~livehandle.testing.LiveEmulator.connections` as ``connection_id`` and, once its setup is
accepted, ``conversation-<id>`` as ``session_id`` (a resumed connection goes on with the
conversation it resumes).  No line holds a credential, a header, a query string or a resumption
handle; what the user and the model said is clipped.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from livehandle._logs import current_scope, library_logger

if TYPE_CHECKING:
    from livehandle.testing._record import EmulatorConnection
    from livehandle.testing._scenario import UserTurn

__all__ = ["CLIP", "clip", "connection_closed", "connection_opened", "peer_of", "turn_ended"]

log = library_logger("livehandle.emulator")

#: Characters of a user's or the model's words kept in a line.
CLIP = 80


def clip(text: str) -> str:
    """``text`` quoted, on one line, cut to ``CLIP`` characters."""
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= CLIP else flat[: CLIP - 3] + "...")


def peer_of(stream: object) -> str:
    """``host:port`` of the client at the other end of a Trio stream (a TLS one too), or "?"."""
    while not hasattr(stream, "socket") and hasattr(stream, "transport_stream"):
        stream = stream.transport_stream  # under a trio.SSLStream
    sock = getattr(stream, "socket", None)
    try:
        address = sock.getpeername() if sock is not None else None
    except OSError:  # already disconnected
        address = None
    if not isinstance(address, tuple) or len(address) < 2:
        return "?" if address is None else str(address)
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def connection_opened(record: EmulatorConnection, peer: str) -> None:
    """The setup of ``record`` was accepted: name its conversation in the scope, log it."""
    conversation = record.conversation
    scope = current_scope()
    if scope is not None and conversation is not None:
        scope.session_id = f"conversation-{conversation.id}"
    if not log.isEnabledFor(logging.INFO):
        return
    setup = record.setup
    model = setup.model if setup is not None else "?"
    what = "resumes" if record.resumed_from is not None else "starts"
    number = conversation.id if conversation is not None else "?"
    log.info(
        "connection %d opened from %s: model %s, %s conversation %s",
        record.index,
        peer,
        model,
        what,
        number,
    )


def connection_closed(record: EmulatorConnection, seconds: float, turns: int) -> None:
    """``record`` ended after ``seconds`` with ``turns`` replies finished on it."""
    code = record.close_code
    log.info(
        "connection %d closed: code %s, %.1f s, %d %s",
        record.index,
        "none" if code is None else code,
        seconds,
        turns,
        "turn" if turns == 1 else "turns",
    )


def turn_ended(
    record: EmulatorConnection,
    number: int,
    turn: UserTurn,
    said: list[str],
    tools: list[str],
    *,
    interrupted: bool,
) -> None:
    """A reply finished: what the user sent, what the model answered, the tools it called."""
    if not log.isEnabledFor(logging.INFO):
        return
    if turn.kind == "tool_result":
        heard = f"tool result of {turn.tool_name or '?'}: {clip(turn.tool_result or '')}"
    elif turn.kind == "speech" and turn.duration_ms is not None:
        heard = f"speech ({turn.duration_ms:.0f} ms) {clip(turn.text)}"
    else:
        heard = f"{turn.kind} {clip(turn.text)}"
    answer = clip(" ".join(said)) if said else "nothing"
    called = f"; tools called: {', '.join(tools)}" if tools else ""
    ending = " (interrupted)" if interrupted else ""
    log.info(
        "connection %d turn %d: user sent %s; model answered %s%s%s",
        record.index,
        number,
        heard,
        answer,
        called,
        ending,
    )
