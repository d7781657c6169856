"""Every string a user can see, collected from a run and scanned for a canary secret.

:class:`Exposure` is the one place that knows what "user-visible" means: errors with their whole
chain (``__cause__``, ``__context__``, exception groups, attributes such as ``url`` and
``cause``, the formatted traceback text), events, reprs, log records and JSON snapshots.  Tests
add what a run produced and call :meth:`Exposure.assert_free_of`; later features add their own
snapshots with :meth:`Exposure.add_snapshot`.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from collections.abc import Iterable


def error_chain(error: BaseException | None) -> list[BaseException]:
    """``error`` and every exception reachable from it (cause, context, group members, attrs)."""
    seen: list[BaseException] = []
    todo: list[Any] = [error]
    while todo:
        current = todo.pop()
        if not isinstance(current, BaseException) or any(current is e for e in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
        if isinstance(current, BaseExceptionGroup):
            todo += list(current.exceptions)
        todo += [v for v in vars(current).values() if isinstance(v, BaseException)]
    return seen


@attrs.define
class Exposure:
    """The user-visible strings of one run, each with where it came from."""

    texts: list[tuple[str, str]] = attrs.field(factory=list)

    def add_text(self, where: str, text: str) -> None:
        self.texts.append((where, text))

    def add(self, where: str, value: object) -> None:
        """``str()`` and ``repr()`` of ``value`` (an event, an end, a handle, a config...)."""
        if isinstance(value, BaseException):
            self.add_error(where, value)
            return
        self.add_text(f"str({where})", str(value))
        self.add_text(f"repr({where})", repr(value))

    def add_all(self, where: str, values: Iterable[object]) -> None:
        for n, value in enumerate(values):
            self.add(f"{where}[{n}]", value)
            error = getattr(value, "error", None)
            if isinstance(error, BaseException):
                self.add_error(f"{where}[{n}].error", error)
            end = getattr(value, "end", None)
            if end is not None:
                self.add(f"{where}[{n}].end", end)

    def add_error(self, where: str, error: BaseException) -> None:
        """The error and its whole chain: str, repr, attributes, and the printed traceback."""
        for n, link in enumerate(error_chain(error)):
            self.add_text(f"str({where}#{n})", str(link))
            self.add_text(f"repr({where}#{n})", repr(link))
            for name, value in vars(link).items():
                self.add_text(f"{where}#{n}.{name}", repr(value))
        self.add_text(f"traceback({where})", "".join(traceback.format_exception(error)))

    def add_snapshot(self, where: str, snapshot: object) -> None:
        """A JSON-ready snapshot (telemetry, state), as the JSON a user would export."""
        self.add_text(where, json.dumps(snapshot, default=repr, sort_keys=True))

    def add_records(self, records: Iterable[logging.LogRecord]) -> None:
        """Log records as a handler would print them, exception text included."""
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        for record in records:
            self.add_text(f"log {record.name}:{record.lineno}", formatter.format(record))

    def leaks(self, marker: str) -> list[str]:
        """Where ``marker`` appears, with a short excerpt of each text that holds it."""
        found = []
        for where, text in self.texts:
            at = text.find(marker)
            if at >= 0:
                found.append(f"{where}: ...{text[max(0, at - 60) : at + 60]!r}...")
        return found

    def assert_free_of(self, marker: str) -> None:
        assert self.texts, "nothing was collected: the scan would pass vacuously"
        leaks = self.leaks(marker)
        assert not leaks, "secret shown in:\n" + "\n".join(leaks)
