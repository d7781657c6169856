"""Bugs the fuzz tests found in code owned elsewhere, each pinned by one concrete input.

The fuzz properties tolerate an outcome only when one of these entries recognises it, so they stay
green while the bug is open and still catch every other failure.  ``test_known_bugs.py`` runs each
entry's input as a strict xfail: when the bug is fixed that test XPASSes and fails the suite,
which is the signal to delete the entry here (and with it the tolerance).
"""

from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class KnownBug:
    """One open bug: where it is, one input that shows it, and how to recognise its failure."""

    name: str
    where: str
    example: str
    exception: type[BaseException]
    message: str  # a substring of the exception's message

    def matches(self, exc: BaseException) -> bool:
        return isinstance(exc, self.exception) and self.message in str(exc)


# The three bugs found so far (a huge duration, ``1e400``, a deeply nested scenario) are fixed;
# their inputs live on as regression tests in ``test_fuzz_findings.py``.
CODEC_BUGS: tuple[KnownBug, ...] = ()
SCENARIO_BUGS: tuple[KnownBug, ...] = ()


def known(exc: BaseException, bugs: tuple[KnownBug, ...]) -> KnownBug | None:
    """The entry that explains ``exc``, if any."""
    return next((bug for bug in bugs if bug.matches(exc)), None)


def describe(data: Any) -> str:
    text = data if isinstance(data, str) else repr(data)
    return text if len(text) < 400 else text[:400] + "..."
