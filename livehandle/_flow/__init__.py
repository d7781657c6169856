"""Governed conversation flows (see :class:`~livehandle.Flow`).

Modules: ``guards`` (predicates over State and the marking), ``factories`` (the public
guard factories), ``sat`` (whether a guard can hold),
``ground`` (ground templates), ``step`` (a step and its on-enter action), ``constraints``,
``checks`` (validation), ``model`` (the flow), ``machine`` (a flow and its marking), ``stack``
(a main flow with digressions), ``explain`` (the explanation snapshot).  Pure and synchronous:
nothing here waits or does I/O; the runtime drives it.
"""

from __future__ import annotations

from livehandle._flow.constraints import (
    Before as Before,
    Constraint as Constraint,
    NeverUntil as NeverUntil,
    Once as Once,
    Require as Require,
    before as before,
    never_until as never_until,
    once as once,
    require as require,
)
from livehandle._flow.explain import FlowExplanation as FlowExplanation, Violation as Violation
from livehandle._flow.factories import (
    all_of as all_of,
    always as always,
    any_of as any_of,
    called_ok as called_ok,
    captured as captured,
    custom as custom,
    done as done,
    eq as eq,
    is_set as is_set,
    is_true as is_true,
    not_ as not_,
    resolved as resolved,
)
from livehandle._flow.ground import render_ground as render_ground
from livehandle._flow.guards import (
    Guard as Guard,
    GuardContext as GuardContext,
    GuardTrace as GuardTrace,
    StateReader as StateReader,
)
from livehandle._flow.machine import (
    FlowMachine as FlowMachine,
    Marking as Marking,
    Verdict as Verdict,
)
from livehandle._flow.model import Flow as Flow
from livehandle._flow.stack import (
    TERMINATED_GUIDANCE as TERMINATED_GUIDANCE,
    FlowStack as FlowStack,
    Resume as Resume,
    StackChange as StackChange,
)
from livehandle._flow.step import Step as Step, StepAction as StepAction, StepEntry as StepEntry

__all__ = [
    "TERMINATED_GUIDANCE",
    "Before",
    "Constraint",
    "Flow",
    "FlowExplanation",
    "FlowMachine",
    "FlowStack",
    "Guard",
    "GuardContext",
    "GuardTrace",
    "Marking",
    "NeverUntil",
    "Once",
    "Require",
    "Resume",
    "StackChange",
    "StateReader",
    "Step",
    "StepAction",
    "StepEntry",
    "Verdict",
    "Violation",
    "all_of",
    "always",
    "any_of",
    "before",
    "called_ok",
    "captured",
    "custom",
    "done",
    "eq",
    "is_set",
    "is_true",
    "never_until",
    "not_",
    "once",
    "render_ground",
    "require",
    "resolved",
]
