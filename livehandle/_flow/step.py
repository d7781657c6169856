"""A flow's step (:class:`~livehandle.Step`) and the action it runs when it becomes active."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import attrs

from livehandle._errors import FlowError
from livehandle._flow.ground import check_template
from livehandle._flow.guards import Guard, GuardLike, guard_of

if TYPE_CHECKING:
    from livehandle._state import State
    from livehandle._wire.common import Content

__all__ = ["Step", "StepAction", "StepEntry", "names_of"]

_MODES = ("inline", "spawn", "background")


class StepEntry(Protocol):
    """What a step's ``on_enter`` action receives when the step becomes active."""

    @property
    def step(self) -> str:
        """The step's id."""
        ...  # pragma: no cover

    @property
    def flow(self) -> str:
        """The name of the flow the step belongs to."""
        ...  # pragma: no cover

    @property
    def state(self) -> State:
        """The session's state."""
        ...  # pragma: no cover

    def add_context(
        self, context: str | Content | Sequence[Content], *, prompt: bool = False
    ) -> None:
        """Give the model context, as :meth:`LiveHandle.add_context` does."""
        ...  # pragma: no cover


def _check_mode(instance: object, attribute: object, value: Any) -> None:
    if value not in _MODES:
        raise ValueError(f"StepAction mode must be one of {', '.join(_MODES)}, got {value!r}")


def _check_timeout(instance: object, attribute: object, value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"StepAction timeout must be a number or None, got {value!r}")
    if not value > 0 or value == float("inf"):
        raise ValueError(f"StepAction timeout must be positive and finite, got {value!r}")


@attrs.frozen
class StepAction:
    """What a step does when it becomes active (its ``on_enter``).

    The function gets a :class:`~livehandle.StepEntry`; it may be sync or async.  Its return
    value, when not None, is written to State at ``"{step}:result"`` (so ``resolved(step)``
    holds); it must have a JSON form.

    Attributes:
        fn: the action.
        mode: ``"inline"`` (awaited in the turn pipeline, under the step's time bound),
            ``"spawn"`` (run beside the turn, cancelled by barge-in) or ``"background"`` (run
            independently of turns).
        timeout: seconds the action may take; None means the session's ``turn_step_timeout``.
    """

    fn: Callable[[StepEntry], object | Awaitable[object]] = attrs.field(
        validator=attrs.validators.is_callable()
    )
    mode: Literal["inline", "spawn", "background"] = attrs.field(
        default="inline", validator=_check_mode
    )
    timeout: float | None = attrs.field(default=None, validator=_check_timeout)


def names_of(value: object, what: str, step: str | None) -> tuple[str, ...]:
    """A str or an iterable of str as a tuple; FlowError("invalid") naming ``step`` otherwise."""
    where = f" of step {step!r}" if step is not None else ""
    if isinstance(value, str):
        items: tuple[object, ...] = (value,)
    elif isinstance(value, Iterable):
        items = tuple(value)
    else:
        raise FlowError(
            f"{what}{where} must be a str or a list of str, got {type(value).__name__}",
            "invalid",
            step,
        )
    for item in items:
        if not isinstance(item, str) or not item:
            raise FlowError(
                f"{what}{where} must hold non-empty strings, got {item!r}", "invalid", step
            )
    return items  # type: ignore[return-value]


@attrs.frozen(init=False)
class Step:
    """One step of a conversation :class:`~livehandle.Flow`.

    A step is *eligible* when every step in ``after`` is done, every ``before(a, this)``
    constraint has ``a`` done, and its ``gate`` holds.  An eligible step that is not done is
    *active*: its posture and ground guide the model, its ``allow``/``deny`` lists govern the
    tools.  It becomes done when its ``done`` guard holds (a ``terminal`` step as soon as it is
    eligible); a step without a ``done`` guard that is not terminal stays active.

    Args:
        id: the step's id, unique in its flow.
        after: the steps that must be done first (a str or a list).
        gate: a further condition for eligibility (a guard or a callable ``fn(state)``).
        done: when the step is done.
        posture: text for the model while the step is active ("Ask for the city.").
        ground: a template (see :func:`~livehandle.render_ground`) or a callable
            ``fn(state) -> str``, rendered for the model while the step is active.
        allow: when non-empty, the only tools the step admits (besides ambient tools).
        deny: tools the step refuses.
        terminal: the step is done as soon as it is eligible, and completes the flow.
        on_enter: an action run once when the step becomes active (a
            :class:`~livehandle.StepAction`, or a callable run inline).

    Raises:
        FlowError: an empty id, a value of the wrong type, a tool both allowed and denied, or
            a malformed ground template (kind ``"invalid"``, naming the step).
    """

    id: str
    after: tuple[str, ...]
    gate: Guard | None
    done: Guard | None
    posture: str
    ground: str | Callable[[Any], str]
    allow: tuple[str, ...]
    deny: tuple[str, ...]
    terminal: bool
    on_enter: StepAction | None

    def __init__(
        self,
        id: str,
        *,
        after: str | Iterable[str] = (),
        gate: GuardLike | None = None,
        done: GuardLike | None = None,
        posture: str = "",
        ground: str | Callable[[Any], str] = "",
        allow: str | Iterable[str] = (),
        deny: str | Iterable[str] = (),
        terminal: bool = False,
        on_enter: StepAction | Callable[[StepEntry], object] | None = None,
    ) -> None:
        if not isinstance(cast("object", id), str) or not id:
            raise FlowError(f"a step id must be a non-empty str, got {id!r}", "invalid", None)
        allowed = names_of(allow, "allow", id)
        denied = names_of(deny, "deny", id)
        both = sorted(set(allowed) & set(denied))
        if both:
            raise FlowError(
                f"step {id!r} both allows and denies {', '.join(map(repr, both))}", "invalid", id
            )
        if not isinstance(posture, str):
            raise FlowError(f"posture of step {id!r} must be a str", "invalid", id)
        if isinstance(ground, str):
            try:
                check_template(ground)
            except ValueError as error:
                raise FlowError(f"ground of step {id!r}: {error}", "invalid", id) from None
        elif not callable(ground):
            raise FlowError(f"ground of step {id!r} must be a str or a callable", "invalid", id)
        if not isinstance(terminal, bool):
            raise FlowError(f"terminal of step {id!r} must be a bool", "invalid", id)
        if on_enter is not None and not isinstance(on_enter, StepAction):
            if not callable(on_enter):
                raise FlowError(
                    f"on_enter of step {id!r} must be a StepAction or a callable", "invalid", id
                )
            on_enter = StepAction(on_enter)
        self.__attrs_init__(
            id,
            names_of(after, "after", id),
            _guard(gate, "gate", id),
            _guard(done, "done", id),
            posture,
            ground,
            allowed,
            denied,
            terminal,
            on_enter,
        )


def _guard(value: GuardLike | None, what: str, step: str) -> Guard | None:
    if value is None:
        return None
    try:
        return guard_of(value, f"{what} of step {step!r}")
    except TypeError as error:
        raise FlowError(str(error), "invalid", step) from None
