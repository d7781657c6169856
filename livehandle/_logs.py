"""Which session and which connection a library log record belongs to.

Every record from a ``livehandle`` logger carries two attributes:

* ``session_id``: the :class:`~livehandle.LiveHandle`'s session id (``handle.session_id``), or
  None outside a session (and for a bare :class:`~livehandle.lowlevel.Session` that no handle
  runs);
* ``connection_id``: the number of the Gemini connection within that session (1, then 2 after
  a reconnect with ``auto_resume``), or None outside a session.

How it works, and why this way:

* **A context variable holds a mutable** ``LogScope``.  Trio gives each new task a copy of
  the context of the task that spawned it, so every task a session starts (its reader, the
  runtime's lanes, the tool tasks) sees the scope of the session that started it, and two
  concurrent sessions never see each other's.  The scope is one shared object rather than two
  values: the runtime's long-lived tasks were spawned on the first connection, and they must
  report the current one after a reconnect.  Each connection's own tasks get a scope of their
  own, pinned to their connection number, so what an old connection says while it closes is
  never attributed to the next one (a session that never reconnects has one connection, and
  its tasks share the session's scope).
* **A** ``logging.Filter`` **on every livehandle logger** copies the ids onto the record.
  Filters on a logger see only the records logged on that very logger (not its children's),
  so each module asks ``library_logger`` for its logger, which attaches the filter.  A
  filter runs only for a record that passed the level check: with logging off nothing is
  formatted and nothing is looked up.  Not a ``logging.LoggerAdapter`` (the call sites
  stay plain logger calls and handlers, ``caplog`` and ``dictConfig`` see ordinary loggers), and
  not a LogRecord factory (that is process-wide state which belongs to the application: the
  library changes nothing in the application's logging setup).
* An id passed explicitly (``extra={"session_id": ...}``) is kept.

What is logged never includes a credential: call sites log scrubbed text only (see the logging
reference page).
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext, suppress
from contextvars import ContextVar, Token

__all__ = [
    "LogScope",
    "connection_scope",
    "current_scope",
    "library_logger",
    "scoped",
]


class LogScope:
    """The ids the records of one session (or one of its connections) carry."""

    __slots__ = ("connection_id", "session_id")

    def __init__(self, session_id: str | None = None, connection_id: int | None = None) -> None:
        self.session_id = session_id
        self.connection_id = connection_id

    def __repr__(self) -> str:
        return f"<LogScope session={self.session_id!r} connection={self.connection_id!r}>"


_SCOPE: ContextVar[LogScope | None] = ContextVar("livehandle_log_scope", default=None)


def current_scope() -> LogScope | None:
    """The scope of the running task, or None outside any session."""
    return _SCOPE.get()


class scoped:
    """Make ``scope`` the current one in this task (and the tasks it spawns) for the block.

    A small slotted object rather than a generator-based context manager: a session holds one
    for as long as it runs.
    """

    __slots__ = ("_scope", "_token")

    def __init__(self, scope: LogScope) -> None:
        self._scope = scope
        self._token: Token[LogScope | None] | None = None

    def __enter__(self) -> LogScope:
        self._token = _SCOPE.set(self._scope)
        return self._scope

    def __exit__(self, *exc_info: object) -> None:
        token, self._token = self._token, None
        if token is not None:
            # Exited in another context (an abandoned task): there is nothing to restore.
            with suppress(ValueError):
                _SCOPE.reset(token)


def connection_scope() -> AbstractContextManager[LogScope]:
    """A scope pinned to the connection that the current task runs, for the block.

    Under a session's scope, the connection's number is the one the session gave it (a session
    that has not numbered its connections has just one: number 1, which the session's other
    tasks report from now on too).  Outside any session: no session id, connection 1.

    A session that does not number its connections never renumbers them, so its scope (now
    saying connection 1) is used as it is: no second scope, and no context change, per session.
    """
    parent = _SCOPE.get()
    if parent is None:
        return scoped(LogScope(None, 1))
    if parent.connection_id is None:
        parent.connection_id = 1
        return nullcontext(parent)
    return scoped(LogScope(parent.session_id, parent.connection_id))


class _AddIds(logging.Filter):
    """Copies the current scope's ids onto each record (explicit ``extra`` ids are kept)."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = _SCOPE.get()
        fields = record.__dict__
        if "session_id" not in fields:
            fields["session_id"] = None if scope is None else scope.session_id
        if "connection_id" not in fields:
            fields["connection_id"] = None if scope is None else scope.connection_id
        return True


_FILTER = _AddIds()


def library_logger(name: str) -> logging.Logger:
    """The logger ``name`` (a ``livehandle`` one), with the ids filter attached."""
    logger = logging.getLogger(name)
    logger.addFilter(_FILTER)  # a no-op when attached already
    return logger


library_logger("livehandle")  # records logged on the package's own logger carry the ids too
