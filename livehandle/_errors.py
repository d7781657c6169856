"""Errors raised by livehandle: every public exception class is defined here.

Every error a caller can see is a :class:`SessionError` subclass, or a documented
:class:`TypeError` (a value of the wrong type: a string where a number is needed, an object with
no JSON form) or :class:`ValueError` (a value of the right type that is not allowed: an unknown
enum value, a non-finite number, an empty key), never a bare Trio, WebSocket, JSON or cattrs
exception.  Some classes are both: :class:`ToolArgumentError` is a :class:`SessionError` and a
:class:`ValueError`, :class:`ToolTimeout` a :class:`SessionError` and a :class:`TimeoutError`, so
either way of catching them works.

Close codes from the server are classified into one subclass of :class:`ConnectionClosed` per
meaning, each carrying the code and the server's reason text, so applications can decide whether
to resume, retry or give up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "CLOSE_CODE_NAMES",
    "ConnectFailed",
    "ConnectionClosed",
    "ConnectionLost",
    "ExtractionFailed",
    "ExtractorRequestFailed",
    "FlowActionFailed",
    "FlowError",
    "FlowGuardFailed",
    "InvalidArgument",
    "Lagged",
    "LeaseLost",
    "NormalClosure",
    "PersistenceError",
    "PolicyViolation",
    "ProtocolError",
    "ReactionFailed",
    "ServerError",
    "SessionClosed",
    "SessionError",
    "SessionOwned",
    "SessionTaskFailed",
    "SessionTimeout",
    "SnapshotMismatch",
    "StaleToolResponse",
    "StateFailed",
    "ToolArgumentError",
    "ToolHookFailed",
    "ToolTimeout",
    "TurnStepTimeout",
    "classify_close",
]

#: Human names for the close codes the Live API uses (RFC 6455 §7.4.1).
CLOSE_CODE_NAMES: dict[int, str] = {
    1000: "normal closure",
    1001: "going away",
    1005: "no status received",
    1006: "connection lost",
    1007: "invalid argument",
    1008: "policy violation",
    1009: "message too big",
    1011: "server error",
}


#: How many problems a :class:`ToolArgumentError` message lists before "(and N more)".
_MAX_SHOWN_PROBLEMS = 5


# -- the base ---------------------------------------------------------------------------------


def _rebuild(cls: type[SessionError], args: tuple[Any, ...]) -> SessionError:
    """Recreate an error from its ``args`` without calling its ``__init__`` (see ``__reduce__``)."""
    error = cls.__new__(cls, *args)
    error.args = args  # OSError.__new__ (ToolTimeout) leaves args to its __init__
    return error


class SessionError(Exception):
    """Base class of every error livehandle raises on purpose.

    Every subclass pickles and unpickles intact (type, message and attributes), e.g. across a
    process boundary, whatever its ``__init__`` takes: the copy is rebuilt from the original's
    ``args`` (its message) and attributes, not by calling ``__init__`` again.  As for Python's
    own exceptions, the chained ``__cause__``/``__context__`` and the traceback are not
    pickled; the message already names the cause where one is chained.
    """

    def __reduce__(self) -> tuple[Any, ...]:
        # The default (``type(self)(*self.args)`` then ``__dict__``) would call ``__init__`` with
        # the finished message: a TypeError for keyword-only or several parameters, a message
        # built twice for the close errors.  _rebuild sets ``args``; the default __setstate__
        # restores the attributes.
        return (_rebuild, (type(self), self.args), self.__dict__ or None)


# -- connecting and the wire ------------------------------------------------------------------


class ProtocolError(SessionError):
    """A message could not be decoded or encoded as Gemini Live JSON.

    The message says what was wrong and shows a short excerpt of the offending input.
    """


class ConnectFailed(SessionError):
    """The WebSocket connection could not be opened (refused, unreachable, handshake rejected).

    Attributes:
        url: the endpoint URL with any credentials redacted.
        status_code: the HTTP status when the server rejected the upgrade, else None.
    """

    def __init__(self, message: str, *, url: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status_code = status_code


class SessionTimeout(SessionError):
    """A bounded wait ran out: connecting, waiting for ``setupComplete``, or a blocking reaction.

    The message says in words what was awaited ("timed out after 10 s waiting for the
    connection"); :attr:`stage` names it for code.

    Attributes:
        stage: what was being waited for: ``"connect"`` (opening the connection),
            ``"setup"`` (the server's ``setupComplete``), or ``"reaction <source>"`` (a blocking
            reaction of a :class:`~livehandle.LiveHandle` that ran past its timeout).
        seconds: the limit that was exceeded.
    """

    def __init__(self, stage: str, seconds: float) -> None:
        awaited = _AWAITED.get(stage, stage)
        super().__init__(f"timed out after {seconds:g} s waiting for {awaited}")
        self.stage = stage
        self.seconds = seconds


#: How a SessionTimeout message names the stages whose code is not already words.
_AWAITED = {"connect": "the connection", "setup": "setupComplete"}


# -- closes -----------------------------------------------------------------------------------


class ConnectionClosed(SessionError):
    """The WebSocket closed; base class of the per-code errors.

    Attributes:
        code: the WebSocket close code (1006 when the connection dropped without a close frame).
        reason: the reason text the peer sent (may be empty).
        resumable: True when resuming with a session-resumption handle is the sensible reaction.
    """

    resumable: bool = False

    def __init__(self, code: int, reason: str = "") -> None:
        name = CLOSE_CODE_NAMES.get(code, "closed")
        text = f"connection closed with code {code} ({name})"
        if reason:
            text += f": {reason}"
        super().__init__(text)
        self.code = code
        self.reason = reason


class NormalClosure(ConnectionClosed):
    """Code 1000: the session ended normally."""


class ConnectionLost(ConnectionClosed):
    """Code 1006: the connection dropped without a close frame; resume with the latest handle."""

    resumable = True


class InvalidArgument(ConnectionClosed):
    """Code 1007: the server rejected a message or the setup (bad field, bad key); don't retry."""


class PolicyViolation(ConnectionClosed):
    """Code 1008: model not found for this API version, API disabled, or access denied."""


class ServerError(ConnectionClosed):
    """Code 1011: internal error, quota, or the connection deadline after ``goAway``; resumable."""

    resumable = True

    @property
    def deadline_expired(self) -> bool:
        """True when this is the end of a connection's lifetime (after a ``goAway``)."""
        return "deadline" in self.reason.lower()


_CLOSE_CLASSES: dict[int, type[ConnectionClosed]] = {
    1000: NormalClosure,
    1006: ConnectionLost,
    1007: InvalidArgument,
    1008: PolicyViolation,
    1011: ServerError,
}


def classify_close(code: int | None, reason: str | None = None) -> ConnectionClosed:
    """Build the error that describes a close with ``code`` and ``reason``.

    A missing code (no close frame) counts as 1006, connection lost.
    """
    effective = 1006 if code is None else int(code)  # wsproto hands out an IntEnum
    cls = _CLOSE_CLASSES.get(effective, ConnectionClosed)
    return cls(effective, reason or "")


# -- the session and its runtime --------------------------------------------------------------


class SessionClosed(SessionError):
    """The session has ended; nothing more can be sent on it.

    Attributes:
        cause: the error that ended the session, or None when it ended normally.
    """

    def __init__(
        self, message: str = "the session is closed", *, cause: SessionError | None = None
    ) -> None:
        if cause is not None:
            message = f"{message} ({cause})"
        super().__init__(message)
        self.cause = cause


class ResumeFailed(SessionError):
    """A session with ``auto_resume`` could not continue on a new connection, and has ended.

    The server refused or no longer knows the resumption handle (an expired handle is refused
    with close code 1007), or every attempt allowed by the ``ResumePolicy`` failed.

    Attributes:
        cause: the last error: the refusal, or the last failed attempt's error.
        attempts: the connection attempts made since the last connection was lost.
    """

    def __init__(self, message: str, *, cause: SessionError | None, attempts: int) -> None:
        if cause is not None:
            message = f"{message}: {cause}"
        super().__init__(message)
        self.cause = cause
        self.attempts = attempts


class PersistenceError(SessionError):
    """A session store failed: a snapshot could not be saved or loaded, or a lease was refused.

    A failed save never breaks the session: it is retried, counted, and reported as a
    ``LiveEvent.Error`` carrying this error.

    Attributes:
        session_id: the session the operation was for (never a secret).
    """

    def __init__(self, message: str, *, session_id: str | None = None) -> None:
        super().__init__(message)
        self.session_id = session_id


class SessionOwned(PersistenceError):
    """Another live worker holds the session id's lease: open it elsewhere, or wait for it."""


class LeaseLost(PersistenceError):
    """This worker no longer holds the session's lease (it expired, or another worker took it).

    A worker that loses its lease stops writing snapshots at once and ends the session with
    this error: the new owner's snapshots are never overwritten (the store checks a fencing
    version on every write).
    """


class SnapshotMismatch(PersistenceError, ValueError):
    """A saved snapshot does not fit this session.

    It was taken with another configuration (model, tools, instruction), or it is of a schema
    version this release cannot read; the message says which.
    """


class SessionTaskFailed(SessionError):
    """One of the session's own tasks failed unexpectedly (a bug); the cause is chained."""


class TurnStepTimeout(SessionError, TimeoutError):
    """A step of the turn pipeline did not finish in time; it was cancelled and the rest ran.

    Reported as a ``LiveEvent.Error``; the session goes on.  A :class:`TimeoutError` too.

    Attributes:
        step: the step's name (``"extractors"``, ``"watchers"``, ...).
        seconds: the time the step was given.
    """

    def __init__(self, step: str, seconds: float) -> None:
        self.step = step
        self.seconds = seconds
        super().__init__(f"the turn pipeline's {step} step did not finish within {seconds:g} s")


class StateFailed(SessionError):
    """The session's State met a problem it reported instead of raising.

    A watcher's action raised or ran past its timeout, a watcher's predicate raised, a change
    found the watcher queue full, or the journal sink failed.  Reported as a
    ``LiveEvent.Error``; the write that caused it went through.  The message names keys and
    types, never a value; the original exception, if any, is chained as ``__cause__``.

    Attributes:
        kind: what went wrong (a :class:`~livehandle.StateProblemKind` value, as a str).
        key: the state key concerned, if any.
    """

    def __init__(self, detail: str, kind: str, key: str | None = None) -> None:
        self.kind = kind
        self.key = key
        super().__init__(detail)


class Lagged(SessionError):
    """A subscriber fell behind and missed events; the next ``receive()`` continues after them.

    Attributes:
        missed: how many events this subscriber did not see.
    """

    def __init__(self, missed: int) -> None:
        super().__init__(f"subscriber fell behind and missed {missed} event(s)")
        self.missed = missed


class ReactionFailed(SessionError):
    """A voice-runtime effect that ran concurrently failed; reported as a ``LiveEvent.Error``.

    Attributes:
        source: the name of the reactor rule whose effect failed.
        effect: the effect's class name (e.g. ``"PromptModel"``).
    The original error is chained as ``__cause__``.
    """

    def __init__(self, source: str, effect: str, cause: BaseException) -> None:
        detail = str(cause) or type(cause).__name__
        super().__init__(f"reaction {source!r} ({effect}) failed: {detail}")
        self.source = source
        self.effect = effect
        self.__cause__ = cause


# -- extractors -------------------------------------------------------------------------------


class ExtractionFailed(SessionError):
    """A turn extractor produced no value this time; reported as ``LiveEvent.ExtractionError``.

    The session goes on and the extractor's previous value stays in the state.  Why it failed is
    in :attr:`reason`: its function raised (the original error is chained as ``__cause__``), it
    ran out of time, or its result does not fit its declared type.

    Attributes:
        extractor: the extractor's name.
        reason: what went wrong, in words.
        timed_out: True when the extractor was cancelled because it ran out of time.
    """

    def __init__(
        self,
        extractor: str,
        reason: str,
        cause: BaseException | None = None,
        *,
        timed_out: bool = False,
    ) -> None:
        super().__init__(f"extractor {extractor!r} failed: {reason}")
        self.extractor = extractor
        self.reason = reason
        self.timed_out = timed_out
        if cause is not None:
            self.__cause__ = cause


# -- tools ------------------------------------------------------------------------------------


class StaleToolResponse(SessionError):
    """Tool answers were not sent: the calls came from a connection that has since been replaced.

    Sending them on the new connection would answer calls it never made (the model would stay
    silent for ever), so they are dropped, counted and reported as a ``LiveEvent.Error``.

    Attributes:
        ids: the call ids whose answers were dropped.
        issued_on: the connection the calls came from (``Session.connection_id``).
        current: the connection the session is on now.
    """

    def __init__(self, ids: tuple[str, ...], issued_on: int, current: int) -> None:
        super().__init__(
            f"dropped the answers to {len(ids)} tool call(s) {list(ids)} from connection "
            f"{issued_on}: the session is on connection {current} now"
        )
        self.ids = ids
        self.issued_on = issued_on
        self.current = current


class ToolHookFailed(SessionError):
    """A tool hook raised, or produced an answer that cannot be sent.

    The hooks are ``on_tool_call``, ``before_tool_response`` and a tool's result formatter.  The
    session goes on: the affected calls are answered with ``{"error": ...}`` (or, for
    ``before_tool_response``, with the answers as they were), and this is reported as a
    ``LiveEvent.Error``.  The original error is chained as ``__cause__``.

    Attributes:
        hook: which hook failed.
    """

    def __init__(self, hook: str, cause: BaseException) -> None:
        detail = str(cause) or type(cause).__name__
        super().__init__(f"tool hook {hook} failed: {type(cause).__name__}: {detail}")
        self.hook = hook
        self.__cause__ = cause


class ToolArgumentError(SessionError, ValueError):
    """The model's arguments for a tool do not fit its parameters; the function is not called.

    A :class:`ValueError` too (whatever is wrong with the arguments, they are a bad value for
    the call).  The message names each wrong argument, with its path inside nested objects and
    lists (``items[2].name``), and the reason; it is short enough to send back to the model,
    which is what the dispatcher does (``{"error": message}``).

    Attributes:
        tool: the tool's name.
        problems: one ``"argument '<path>': <reason>"`` string per problem found.
        wrong_type: True when some argument is of the wrong kind (a string for a number, an
            array for an object): what :class:`~livehandle.State` would raise as a
            :class:`TypeError`.  False when every problem is a bad value of the right kind or a
            missing or unknown argument.
    """

    def __init__(self, tool: str, problems: Iterable[str], *, wrong_type: bool = False) -> None:
        self.tool = tool
        self.problems = tuple(problems)
        self.wrong_type = wrong_type
        shown = "; ".join(self.problems[:_MAX_SHOWN_PROBLEMS])
        hidden = len(self.problems) - _MAX_SHOWN_PROBLEMS
        more = f" (and {hidden} more)" if hidden > 0 else ""
        super().__init__(f"invalid arguments for tool {tool!r}: {shown}{more}")


class ToolTimeout(SessionError, TimeoutError):
    """A tool did not finish within its timeout; a :class:`TimeoutError` too.

    Attributes:
        tool: the tool's name.
        seconds: the timeout that expired.
    """

    def __init__(self, tool: str, seconds: float) -> None:
        self.tool = tool
        self.seconds = seconds
        super().__init__(f"tool {tool!r} did not finish within {seconds:g} s")


# -- flows ------------------------------------------------------------------------------------


class FlowActionFailed(SessionError):
    """A flow step's ``on_enter`` action failed; reported as a ``LiveEvent.Error``.

    It raised, ran past its timeout, or returned a value that is not JSON (and so cannot be
    written to the state at ``"<step>:result"``).  The flow and the session go on.  The original
    error is chained as ``__cause__``.

    Attributes:
        step: the id of the step whose action failed.
    """

    def __init__(self, step: str, cause: BaseException) -> None:
        detail = str(cause) or type(cause).__name__
        super().__init__(
            f"the on_enter action of step {step!r} failed: {type(cause).__name__}: {detail}"
        )
        self.step = step
        self.__cause__ = cause


class FlowGuardFailed(SessionError):
    """A custom flow guard raised; reported as a ``LiveEvent.Error``.

    A guard that raises does not hold (the step stays ineligible, the tool blocked...); the
    flow and the session go on.  The original error is chained as ``__cause__``.

    Attributes:
        guard: the guard's description (its ``description``, or the function's name).
    """

    def __init__(self, guard: str, cause: BaseException) -> None:
        detail = str(cause) or type(cause).__name__
        super().__init__(f"the custom guard {guard!r} raised {type(cause).__name__}: {detail}")
        self.guard = guard
        self.__cause__ = cause


# -- turn extractors ----------------------------------------------------------------------------


class ExtractorRequestFailed(SessionError):
    """An :class:`~livehandle.LlmExtractor`'s ``generateContent`` request gave no usable value.

    The message says what went wrong; the credential never appears in it (text the server
    echoed is scrubbed).

    Attributes:
        extractor: the extractor's name.
        kind: what went wrong: ``"status"`` (an HTTP error, after any retries), ``"timeout"``,
            ``"transport"`` (no HTTP answer: connection refused, reset...), ``"refused"`` (the
            prompt was blocked or the model stopped for safety, recitation... or gave no text),
            ``"invalid_response"`` (a body that is not a ``generateContent`` response),
            ``"unparsable"`` (the model's text is not JSON), ``"mismatch"`` (the JSON does not
            fit the schema) or ``"config"`` (the extractor has no endpoint).
        status_code: the HTTP status for ``"status"``, else None.
    """

    def __init__(
        self, extractor: str, kind: str, detail: str, *, status_code: int | None = None
    ) -> None:
        self.extractor = extractor
        self.kind = kind
        self.status_code = status_code
        super().__init__(f"extractor {extractor!r}: generateContent {kind}: {detail}")


# -- flows ------------------------------------------------------------------------------------


class FlowError(SessionError, ValueError):
    """A conversation flow is invalid; raised when the :class:`~livehandle.Flow` is built.

    A :class:`ValueError` too.  The message names the step concerned, when there is one.

    Attributes:
        kind: what is wrong: ``"invalid"`` (an empty flow, duplicate or empty step ids, a tool
            both allowed and denied, a value of the wrong type), ``"unknown_step"`` (a
            reference to no step), ``"cycle"`` (an ordering cycle, listed in the message),
            ``"unreachable"`` (a step that can never become eligible), ``"unsatisfiable"`` (a
            guard that can never hold), ``"unguarded_commit"`` (a confirm tool nothing guards)
            or ``"unknown_tool"`` (a tool the session does not have).
        step: the step concerned, or None.
    """

    def __init__(self, message: str, kind: str = "invalid", step: str | None = None) -> None:
        self.kind = kind
        self.step = step
        super().__init__(message)
