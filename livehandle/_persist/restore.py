"""What restoring a session from its snapshot does (the parts below the handle).

``open_live_session(config, session_id=..., store=...)`` takes the session's lease, loads its
snapshot and then:

1. refuses a snapshot taken with another model, tools or instruction
   (:func:`check_fingerprint`: :class:`~livehandle.SnapshotMismatch` saying which differs);
2. resumes the Gemini session with the saved handle (:func:`resumed_config`), or, when there is
   none or the server refuses it (expired: close 1007 on setup), opens a fresh one
   (:func:`fresh_config`) whose instruction ends with a bounded summary of the transcript
   (:func:`context_summary`);
3. puts the State and the transcript back (:func:`apply_snapshot`) before the body runs.

The summary is an instruction addendum, which both the emulator and the real API accept on a
fresh setup: the newest :data:`CONTEXT_TURNS` turns at most, oldest first, no more than
:data:`CONTEXT_CHARS` characters in all (older turns are left out first; a single turn longer
than the bound is cut, keeping its end).
"""

from __future__ import annotations

import os
import secrets
import socket
from typing import TYPE_CHECKING

import attrs

from livehandle._errors import InvalidArgument, ResumeFailed, SnapshotMismatch
from livehandle._persist.capture import fingerprint_difference

if TYPE_CHECKING:
    from livehandle._config.live import LiveConfig
    from livehandle._persist.capture import SnapshotSource
    from livehandle._persist.snapshot import SessionSnapshot
    from livehandle._runtime.transcript import TranscriptBuffer
    from livehandle._state import State

__all__ = [
    "CONTEXT_CHARS",
    "CONTEXT_TURNS",
    "apply_snapshot",
    "check_fingerprint",
    "check_session_id",
    "context_summary",
    "fresh_config",
    "refused_resume",
    "resumed_config",
    "worker_token",
]

#: The most turns a fresh session's context summary carries.
CONTEXT_TURNS = 20
#: The most characters a fresh session's context summary carries (its heading aside).
CONTEXT_CHARS = 4000

_HEADING = (
    "This conversation continues an earlier one that could not be resumed. "
    "What was said before, oldest first:"
)

_PROCESS = f"{socket.gethostname()}:{os.getpid()}"


def worker_token() -> str:
    """A lease owner token unique to one session opening (host, process, a random part)."""
    return f"{_PROCESS}:{secrets.token_hex(6)}"


def check_session_id(session_id: object) -> str:
    """``session_id`` as given, once checked.

    Raises:
        TypeError: not a str.
        ValueError: empty, longer than 256 characters, or with whitespace or control characters.
    """
    if not isinstance(session_id, str):
        raise TypeError(f"session_id must be a str, got {type(session_id).__name__}")
    if not session_id or len(session_id) > 256:
        raise ValueError("session_id must be 1 to 256 characters long")
    if any(ch.isspace() or not ch.isprintable() for ch in session_id):
        raise ValueError("session_id must not contain whitespace or control characters")
    return session_id


def check_fingerprint(snapshot: SessionSnapshot, fingerprint: str) -> None:
    """Refuse a snapshot taken with another model, tools or instruction.

    Raises:
        SnapshotMismatch: the fingerprints differ; the message names the settings that do.
    """
    if snapshot.config_fingerprint == fingerprint:
        return
    differ = fingerprint_difference(snapshot.config_fingerprint, fingerprint)
    what = " and ".join(differ) if differ else "the configuration"
    raise SnapshotMismatch(
        f"the snapshot of session {snapshot.session_id!r} was taken with another {what}; "
        "restore it with the configuration it was saved with, or delete it",
        session_id=snapshot.session_id,
    )


def refused_resume(error: BaseException) -> bool:
    """Whether ``error`` from opening with a saved handle means the handle was refused.

    A group (a nursery's, e.g. the resuming session's) counts when every member is a refusal.
    """
    if isinstance(error, BaseExceptionGroup):
        return all(refused_resume(member) for member in error.exceptions)
    return isinstance(error, InvalidArgument | ResumeFailed)


def resumed_config(config: LiveConfig, snapshot: SessionSnapshot) -> LiveConfig:
    """``config`` resuming the snapshot's Gemini session (its handle in the setup)."""
    return attrs.evolve(config, resume_handle=snapshot.resume_handle)


def context_summary(snapshot: SessionSnapshot) -> str | None:
    """The bounded transcript summary a fresh session is given (see the module docstring)."""
    lines: list[str] = []
    size = 0
    for turn in reversed(snapshot.transcript[-CONTEXT_TURNS:]):
        parts = []
        if turn.user:
            parts.append(f"User: {turn.user}")
        if turn.model:
            parts.append(f"Model: {turn.model}{' (interrupted)' if turn.interrupted else ''}")
        text = "\n".join(parts)
        if not text:
            continue
        joined = len(text) + (1 if lines else 0)  # the newline that joins it to the others
        if size + joined > CONTEXT_CHARS:
            if not lines:  # the newest turn alone is too long: keep its end
                lines.append("..." + text[-(CONTEXT_CHARS - 3) :])
            break
        lines.append(text)
        size += joined
    if not lines:
        return None
    return "\n".join([_HEADING, *reversed(lines)])


def fresh_config(config: LiveConfig, snapshot: SessionSnapshot) -> LiveConfig:
    """``config`` for a fresh Gemini session carrying the transcript summary in its instruction."""
    summary = context_summary(snapshot)
    fresh = attrs.evolve(config, resume_handle=None)
    if summary is None:
        return fresh
    instruction = summary if not config.instruction else f"{config.instruction}\n\n{summary}"
    return attrs.evolve(fresh, instruction=instruction)


def apply_snapshot(
    snapshot: SessionSnapshot,
    *,
    state: State,
    transcript: TranscriptBuffer,
    source: SnapshotSource,
    resumed: bool,
) -> None:
    """Put the snapshot's State and transcript back (and its handle, when it was resumed).

    The runtime's own ``session:`` keys describe the connection that saved them (it may have
    been disconnecting): they are not restored; the new session writes its own.
    """
    state.update({k: v for k, v in snapshot.state.items() if not k.startswith("session:")})
    transcript.restore(snapshot.transcript, snapshot.turn_count)
    if resumed:
        source.restore_handle(snapshot.resume_handle, snapshot.handle_issued_at)
