"""A conversation flow (:class:`~livehandle.Flow`): steps, constraints and tool policy."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from livehandle._errors import FlowError
from livehandle._flow.checks import check_flow, check_tools, flow_tools
from livehandle._flow.constraints import Constraint
from livehandle._flow.step import Step, names_of

__all__ = ["Flow"]


def _steps(value: Any) -> tuple[Step, ...]:
    if isinstance(value, Step):
        return (value,)
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise FlowError(
            f"a flow's steps must be a list of Steps, got {type(value).__name__}", "invalid"
        )
    return tuple(value)


def _constraints(value: Any) -> tuple[Constraint, ...]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise FlowError(
            f"a flow's constraints must be a list, got {type(value).__name__}", "invalid"
        )
    return tuple(value)


def _confirm_tools(value: Any) -> tuple[str, ...]:
    return names_of(value, "confirm_tools", None)


def _ambient_tools(value: Any) -> tuple[str, ...]:
    return names_of(value, "ambient_tools", None)


def _check_name(instance: object, attribute: object, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise FlowError(f"a flow's name must be a non-empty str, got {value!r}", "invalid")


@attrs.frozen
class Flow:
    """A governed conversation: steps the model goes through, and which tools it may call.

    Validated when built: every problem is a :class:`~livehandle.FlowError` whose message
    names the step (kinds ``invalid``, ``unknown_step``, ``cycle``, ``unsatisfiable``,
    ``unreachable`` and ``unguarded_commit``, checked in that order).  The tools are checked
    against the session's when the session is configured (:meth:`check_tools`).

    Attributes:
        steps: the steps, in declaration order (which is the order of active steps).
        constraints: made by :func:`~livehandle.once`, :func:`~livehandle.never_until`,
            :func:`~livehandle.before` and :func:`~livehandle.require`.
        confirm_tools: tools that commit something (a booking, a payment): each must be
            guarded, by a ``never_until`` constraint, or else by a gate that can fail on every
            step allowing it, with every other step (terminal ones aside) either listing its
            own tools in ``allow`` or denying it; an ambient confirm tool needs ``never_until``.
        ambient_tools: tools exempt from the steps' ``allow`` lists (still subject to ``deny``
            and to the constraints), e.g. a clock or a help tool.
        name: the flow's name, shown in explanations and stack changes.
    """

    steps: tuple[Step, ...] = attrs.field(converter=_steps)
    constraints: tuple[Constraint, ...] = attrs.field(
        default=(), converter=_constraints, kw_only=True
    )
    confirm_tools: tuple[str, ...] = attrs.field(default=(), converter=_confirm_tools, kw_only=True)
    ambient_tools: tuple[str, ...] = attrs.field(default=(), converter=_ambient_tools, kw_only=True)
    name: str = attrs.field(default="main", kw_only=True, validator=_check_name)

    def __attrs_post_init__(self) -> None:
        check_flow(self.steps, self.constraints, self.confirm_tools, self.ambient_tools)

    def step(self, id: str) -> Step:
        """The step ``id``.

        Raises:
            ValueError: the flow has no step ``id``.
        """
        for step in self.steps:
            if step.id == id:
                return step
        raise ValueError(f"flow {self.name!r} has no step {id!r}")

    @property
    def tools(self) -> frozenset[str]:
        """Every tool the flow names: allowed, denied, constrained, confirm, ambient, called_ok."""
        return flow_tools(self.steps, self.constraints, self.confirm_tools, self.ambient_tools)

    def check_tools(self, names: Iterable[str]) -> None:
        """Check that every tool the flow names is one of ``names`` (the session's tools).

        Raises:
            FlowError: kind ``"unknown_tool"``, naming the step that names the tool (if one does).
        """
        check_tools(
            self.steps, self.constraints, self.confirm_tools, self.ambient_tools, list(names)
        )
