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


#: ``_structure_duration`` divides a decimal of any length by 1e9: ``OverflowError`` escapes.
HUGE_DURATION = KnownBug(
    name="huge-duration",
    where="livehandle/_wire/codec.py _structure_duration",
    example='{"goAway":{"timeLeft":"' + "9" * 400 + 's"}}',
    exception=OverflowError,
    message="int too large to convert to float",
)
#: ``json.loads`` reads ``1e400`` as ``inf``; the decode succeeds, the re-encode refuses it.
INFINITE_NUMBER = KnownBug(
    name="infinite-number",
    where="livehandle/_wire/codec.py _load_object (no parse_float check)",
    example='{"toolCall":{"functionCalls":[{"name":"f","args":{"x":1e400}}]}}',
    exception=Exception,  # ProtocolError from encode_*, see message
    message="Out of range float values are not JSON compliant",
)
#: ``Scenario.from_json`` catches ValueError only; deep nesting raises ``RecursionError``.
SCENARIO_DEEP_NESTING = KnownBug(
    name="scenario-deep-nesting",
    where="livehandle/testing/_scenario.py Scenario.from_json / Scenario.load",
    example="[" * 100_000,
    exception=RecursionError,
    message="maximum recursion depth",
)

CODEC_BUGS = (HUGE_DURATION, INFINITE_NUMBER)
SCENARIO_BUGS = (SCENARIO_DEEP_NESTING,)


def known(exc: BaseException, bugs: tuple[KnownBug, ...]) -> KnownBug | None:
    """The entry that explains ``exc``, if any."""
    return next((bug for bug in bugs if bug.matches(exc)), None)


def describe(data: Any) -> str:
    text = data if isinstance(data, str) else repr(data)
    return text if len(text) < 400 else text[:400] + "..."
