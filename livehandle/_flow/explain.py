"""The answer to "why is that tool blocked?": :class:`~livehandle.FlowExplanation`."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from livehandle._flow.guards import GuardTrace

__all__ = ["FlowExplanation", "Violation"]


@attrs.frozen
class Violation:
    """A tool call the flow did not admit.

    Attributes:
        tool: the tool's name.
        reason: why it was not admitted (the same text the model got, when enforced).
        id: the call's id, if known.
        enforced: True when the call was refused; False when it ran (observe mode).
    """

    tool: str
    reason: str
    id: str | None = None
    enforced: bool = True


@attrs.frozen
class FlowExplanation:
    """A snapshot of a governed session's flow: what is active, admitted, blocked and missing.

    What ``LiveHandle.explain()`` and ``LiveHandle.why_blocked()`` return.  Taking it never
    changes the flow and never waits.  ``str()`` gives a readable multi-line answer for a log.

    Attributes:
        flow: the governing flow's name (the top of the stack when a digression runs).
        active: the active steps' ids, in declaration order.
        allowed_tools: the tools the flow admits now, sorted (over the session's tools and
            those the flow names).
        blocked_tools: each tool the flow refuses now, with the reason (the text a refused
            call is answered with).
        missing_requirements: the required steps (``require()``) not done yet.
        progress: for each active step with a done guard, the trace of that guard.
        done: the steps done, in declaration order.
        stack: the names of the flows on the stack, bottom to top.
        terminated: True when a digression terminated the flow: every tool is refused.
        mode: ``"enforce"`` or ``"observe"``.
        violations: recent refused (or, observing, recorded) calls, oldest first.
    """

    flow: str
    active: tuple[str, ...]
    allowed_tools: tuple[str, ...]
    blocked_tools: Mapping[str, str]
    missing_requirements: tuple[str, ...]
    progress: Mapping[str, GuardTrace]
    done: tuple[str, ...] = ()
    stack: tuple[str, ...] = ()
    terminated: bool = False
    mode: str = "enforce"
    violations: tuple[Violation, ...] = ()

    def __str__(self) -> str:
        """The explanation as indented lines, e.g. ``flow 'main' (enforce): active collect``."""
        head = f"flow {self.flow!r} ({self.mode})"
        if self.terminated:
            head += ": terminated"
        else:
            head += f": active {', '.join(self.active) or '(none)'}"
        if self.done:
            head += f"; done {', '.join(self.done)}"
        lines = [head]
        if len(self.stack) > 1:
            lines.append(f"  stack: {' > '.join(self.stack)}")
        lines.append(f"  allowed: {', '.join(self.allowed_tools) or '(none)'}")
        if self.blocked_tools:
            lines.append("  blocked:")
            lines.extend(f"    {tool}: {why}" for tool, why in sorted(self.blocked_tools.items()))
        if self.missing_requirements:
            lines.append(f"  missing: {', '.join(self.missing_requirements)}")
        for step, trace in self.progress.items():
            lines.append(f"  progress of {step}:")
            lines.extend(f"    {line}" for line in str(trace).splitlines())
        if self.violations:
            lines.append("  violations:")
            for v in self.violations:
                what = "refused" if v.enforced else "observed"
                lines.append(f"    {v.tool} ({what}): {v.reason}")
        return "\n".join(lines)
