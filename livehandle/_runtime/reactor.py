"""The voice reactor: playback and speech edges in, effects (prompt, activity marks) out.

The application tells the runtime three things about the audio it plays and hears:
``playback_drained()`` (its speaker buffer is empty), ``user_speech_started()`` (client VAD: the
user barged in) and ``user_speech_ended()``.  Each becomes a :data:`ReactorEvent`.  The
:class:`LiveReactor` first updates its :class:`VoiceRuntimeState`, then asks each
:class:`ReactorRule`, in registration order, which :class:`Reaction` s follow; the
:class:`EffectExecutor` carries them out on the session.

The default rules (:meth:`LiveReactor.voice_defaults`) send an armed deferred prompt only when the
model may speak (nobody talking, nothing playing), disarm it on a barge-in, and mirror the speech
edges as activity marks:

==========================  ======================================================================
event                       reactions, in order
==========================  ======================================================================
``PlaybackDrained{p}``      ``PromptModel`` iff pending and not user_speaking and not playback
``UserSpeechStarted``       ``CancelDeferredPrompt``, ``SignalUserActivityStart``
``UserSpeechEnded{p}``      ``SignalUserActivityEnd``, then ``PromptModel`` iff pending and not
                            playback_active
==========================  ======================================================================

``playback_active`` is really tracked: the runtime calls :meth:`LiveReactor.playback_started` when
it delivers model audio and :meth:`LiveReactor.playback_stopped` on a server-side interruption.
"""

from __future__ import annotations

import enum
import math
from typing import TYPE_CHECKING, Protocol, TypeAlias

import attrs
import trio

from livehandle._errors import ReactionFailed, SessionTimeout
from livehandle._events import LiveEvent
from livehandle._logs import library_logger
from livehandle._wire import messages as m

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from livehandle._nursery import Spawner
    from livehandle._runtime.bargein import BargeIn
    from livehandle._runtime.context import PendingContext
    from livehandle._runtime.writer import SessionWriter

__all__ = [
    "CancelDeferredPrompt",
    "Effect",
    "EffectExecutor",
    "EffectPolicy",
    "EffectTarget",
    "Emit",
    "ExecutionMode",
    "ExecutorStats",
    "LiveReactor",
    "PlaybackDrained",
    "PromptModel",
    "PromptOnPlaybackDrained",
    "Reaction",
    "ReactorEvent",
    "ReactorRule",
    "SendContext",
    "SignalUserActivityEnd",
    "SignalUserActivityStart",
    "UpdateInstruction",
    "UserSpeechActivityRule",
    "UserSpeechEnded",
    "UserSpeechStarted",
    "VoiceRuntimeState",
]

log = library_logger("livehandle.reactor")


# -- policies -------------------------------------------------------------------------------------


class ExecutionMode(enum.Enum):
    """How an effect runs relative to the code that triggered it.

    Attributes:
        BLOCKING: awaited inline, in order; a failure or timeout reaches the caller.
        CONCURRENT: started as a task; a failure or timeout is published as a
            ``LiveEvent.Error(ReactionFailed(...))``.
    """

    BLOCKING = "blocking"
    CONCURRENT = "concurrent"


def _check_timeout(_: object, attribute: attrs.Attribute[float | None], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value!r}")


@attrs.frozen
class EffectPolicy:
    """How one reaction's effect is executed.

    Attributes:
        mode: blocking (the default) or concurrent.
        timeout: seconds the effect may take; None (the default) for no limit.
    """

    mode: ExecutionMode = attrs.field(
        default=ExecutionMode.BLOCKING, validator=attrs.validators.instance_of(ExecutionMode)
    )
    timeout: float | None = attrs.field(default=None, validator=_check_timeout)


# -- events ---------------------------------------------------------------------------------------


@attrs.frozen
class PlaybackDrained:
    """The client's speaker buffer is empty; ``prompt_pending`` says whether a prompt is armed."""

    prompt_pending: bool


@attrs.frozen
class UserSpeechStarted:
    """Client VAD heard the user start speaking (a barge-in while the model plays).

    ``prompt_pending`` says whether a prompt is armed right now (the runtime knows it from the
    :class:`~livehandle.lowlevel.PendingContext`); cancelling an armed prompt advances
    ``prompt_epoch`` even when no earlier event reported it.
    """

    prompt_pending: bool = False


@attrs.frozen
class UserSpeechEnded:
    """Client VAD heard the user stop; ``prompt_pending`` says whether a prompt is armed."""

    prompt_pending: bool


#: What the reactor reacts to.
ReactorEvent: TypeAlias = PlaybackDrained | UserSpeechStarted | UserSpeechEnded


# -- effects --------------------------------------------------------------------------------------


@attrs.frozen
class PromptModel:
    """Send queued deferred context, then the armed prompt (if still armed)."""


@attrs.frozen
class CancelDeferredPrompt:
    """Disarm the deferred prompt; queued context stays for the next user send."""


@attrs.frozen
class SignalUserActivityStart:
    """Send ``activityStart``."""


@attrs.frozen
class SignalUserActivityEnd:
    """Send ``activityEnd``."""


def _contents(value: Iterable[m.Content]) -> tuple[m.Content, ...]:
    contents = tuple(value)
    for item in contents:
        if not isinstance(item, m.Content):
            raise ValueError(f"SendContext takes m.Content items, got {type(item).__name__}")
    return contents


@attrs.frozen
class SendContext:
    """Append ``contents`` to the conversation with ``turnComplete: false`` (nothing if empty)."""

    contents: tuple[m.Content, ...] = attrs.field(converter=_contents)


@attrs.frozen
class UpdateInstruction:
    """Replace the system instruction with ``text``."""

    text: str


@attrs.frozen
class Emit:
    """Publish ``event`` on the LiveEvent stream."""

    event: LiveEvent


#: What a reaction does.
Effect: TypeAlias = (
    PromptModel
    | CancelDeferredPrompt
    | SignalUserActivityStart
    | SignalUserActivityEnd
    | SendContext
    | UpdateInstruction
    | Emit
)


@attrs.frozen
class Reaction:
    """One effect a rule asks for.

    Attributes:
        source: the name of the rule (reported when the effect fails).
        effect: what to do.
        policy: how to run it (blocking, no timeout by default).
    """

    source: str
    effect: Effect
    policy: EffectPolicy = EffectPolicy()


# -- state and rules ------------------------------------------------------------------------------


@attrs.frozen
class VoiceRuntimeState:
    """A snapshot of what the reactor knows about the conversation's audio (``voice_state()``).

    Attributes:
        user_speaking: between a ``user_speech_started()`` and the next ``user_speech_ended()``.
        playback_active: model audio was delivered and has not drained or been interrupted.
        prompt_pending: an armed prompt is waiting for a safe moment (as of the last event).
        prompt_epoch: how many times a barge-in cancelled a pending prompt.
        last_barge_in_at: Trio clock time of the last ``user_speech_started()``.
        last_playback_drained_at: Trio clock time of the last ``playback_drained()``.
    """

    user_speaking: bool = False
    playback_active: bool = False
    prompt_pending: bool = False
    prompt_epoch: int = 0
    last_barge_in_at: float | None = None
    last_playback_drained_at: float | None = None


class ReactorRule(Protocol):
    """Turns a reactor event into reactions, given the state after the event."""

    @property
    def name(self) -> str:
        """The rule's name, used as each of its reactions' ``source``."""
        ...

    def react(self, event: ReactorEvent, state: VoiceRuntimeState) -> list[Reaction]:
        """Return the reactions to ``event`` (an empty list for none)."""
        ...


@attrs.frozen
class PromptOnPlaybackDrained:
    """Send the armed prompt once playback has drained, unless the user is speaking."""

    name: str = "prompt_on_playback_drained"

    def react(self, event: ReactorEvent, state: VoiceRuntimeState) -> list[Reaction]:
        """``PromptModel`` on a drain with a pending prompt, nobody speaking, nothing playing."""
        if (
            isinstance(event, PlaybackDrained)
            and state.prompt_pending
            and not state.user_speaking
            and not state.playback_active
        ):
            return [Reaction(self.name, PromptModel())]
        return []


@attrs.frozen
class UserSpeechActivityRule:
    """Disarm the prompt on a barge-in, mark activity, and prompt after speech if it is safe."""

    name: str = "user_speech_activity"

    def react(self, event: ReactorEvent, state: VoiceRuntimeState) -> list[Reaction]:
        """See the module table."""
        if isinstance(event, UserSpeechStarted):
            return [
                Reaction(self.name, CancelDeferredPrompt()),
                Reaction(self.name, SignalUserActivityStart()),
            ]
        if isinstance(event, UserSpeechEnded):
            reactions = [Reaction(self.name, SignalUserActivityEnd())]
            if state.prompt_pending and not state.playback_active:
                reactions.append(Reaction(self.name, PromptModel()))
            return reactions
        return []


class LiveReactor:
    """Keeps the :class:`VoiceRuntimeState` and asks the rules what each event calls for.

    Synchronous and never awaits, so each call is atomic in Trio.  Use it from the Trio thread.

    Args:
        rules: the rules, asked in this order; None for :meth:`voice_defaults`' rules.
        clock: where the timestamps in the state come from (Trio's clock by default).
    """

    __slots__ = ("_clock", "_rules", "_state")

    def __init__(
        self,
        rules: Sequence[ReactorRule] | None = None,
        *,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        self._rules: tuple[ReactorRule, ...] = (
            tuple(rules)
            if rules is not None
            else (PromptOnPlaybackDrained(), UserSpeechActivityRule())
        )
        self._clock = clock
        self._state = VoiceRuntimeState()

    @classmethod
    def voice_defaults(cls) -> LiveReactor:
        """A reactor with the default voice rules (prompt on drain, speech activity)."""
        return cls([PromptOnPlaybackDrained(), UserSpeechActivityRule()])

    @property
    def rules(self) -> tuple[ReactorRule, ...]:
        """The rules, in the order they are asked."""
        return self._rules

    @property
    def state(self) -> VoiceRuntimeState:
        """The current state (an immutable snapshot)."""
        return self._state

    def playback_started(self) -> None:
        """Model audio is being played (the runtime calls this when it delivers model audio)."""
        if not self._state.playback_active:
            self._state = attrs.evolve(self._state, playback_active=True)

    def playback_stopped(self) -> None:
        """Model audio stopped without draining (a server-side interruption)."""
        if self._state.playback_active:
            self._state = attrs.evolve(self._state, playback_active=False)

    def react(self, event: ReactorEvent) -> list[Reaction]:
        """Update the state for ``event``, then collect every rule's reactions in rule order."""
        self._state = state = self._apply(event, self._state)
        reactions: list[Reaction] = []
        for rule in self._rules:
            reactions.extend(rule.react(event, state))
        return reactions

    def _apply(self, event: ReactorEvent, state: VoiceRuntimeState) -> VoiceRuntimeState:
        match event:
            case PlaybackDrained(prompt_pending=pending):
                return attrs.evolve(
                    state,
                    playback_active=False,
                    prompt_pending=pending,
                    last_playback_drained_at=self._clock(),
                )
            case UserSpeechStarted(prompt_pending=armed):
                cancelled = armed or state.prompt_pending
                return attrs.evolve(
                    state,
                    user_speaking=True,
                    playback_active=False,
                    prompt_pending=False,
                    prompt_epoch=state.prompt_epoch + 1 if cancelled else state.prompt_epoch,
                    last_barge_in_at=self._clock(),
                )
            case UserSpeechEnded(prompt_pending=pending):
                # Model audio playing again (a reply to the barge-in): the prompt waits for the
                # drain, so it is not spoken over the model.
                return attrs.evolve(
                    state,
                    user_speaking=False,
                    prompt_pending=pending and not state.playback_active,
                )
        return state  # type: ignore[unreachable]  # an untyped caller may pass anything


# -- execution ------------------------------------------------------------------------------------


class EffectTarget(Protocol):
    """Where effects are sent: the session's writer (``SessionWriter`` satisfies this)."""

    async def send_client_content(self, turns: Sequence[m.Content], *, turn_complete: bool) -> None:
        """Append turns to the conversation."""
        ...

    async def signal_activity_start(self) -> None:
        """Send ``activityStart``."""
        ...

    async def signal_activity_end(self) -> None:
        """Send ``activityEnd``."""
        ...

    async def update_instruction(self, instruction: str, /) -> None:
        """Replace the system instruction."""
        ...


@attrs.define
class ExecutorStats:
    """Counters of an :class:`EffectExecutor` (for tests and telemetry).

    Attributes:
        executed: effects that completed.
        cancelled_by_barge_in: blocking effects a barge-in cancelled.
        failed: effects that raised or timed out (blocking or concurrent).
        timed_out: the part of ``failed`` that ran out of time.
        skipped: blocking-batch reactions not run because an earlier one was cancelled by a
            barge-in or failed.
    """

    executed: int = 0
    cancelled_by_barge_in: int = 0
    failed: int = 0
    timed_out: int = 0
    skipped: int = 0


class EffectExecutor:
    """Carries out reactions on the session.

    Args:
        target: where sends go: the session's writer (effects are never user input, so a
            ``DeferredWriter`` sends them without flushing).
        emit: publishes a LiveEvent (``Emit`` effects, and failures of concurrent effects).
            Must not block.
        pending: the deferred-context queue (``PromptModel`` and ``CancelDeferredPrompt`` do
            nothing without one).
        barge_in: returns the current barge-in group; blocking effects run inside it, so a
            server barge-in cancels a blocking effect stuck in a send.
    """

    __slots__ = ("_barge_in", "_emit", "_pending", "_target", "stats")

    def __init__(
        self,
        target: EffectTarget,
        *,
        emit: Callable[[LiveEvent], object],
        pending: PendingContext | None = None,
        barge_in: Callable[[], BargeIn] | None = None,
    ) -> None:
        self._target = target
        self._emit = emit
        self._pending = pending
        self._barge_in = barge_in
        self.stats = ExecutorStats()

    async def execute(self, reactions: Sequence[Reaction], nursery: Spawner) -> None:
        """Run ``reactions`` in order.

        Blocking reactions are awaited here.  Concurrent ones are started in ``nursery`` and
        never raise: a failure (or timeout) is emitted as ``LiveEvent.Error(ReactionFailed)``.

        A blocking reaction cancelled by a barge-in just stops: no error, counted in
        ``stats.cancelled_by_barge_in``, and the rest of the batch is skipped (the batch
        answered a moment the barge-in has overtaken).

        Raises:
            SessionTimeout: a blocking reaction ran past its timeout (``stage`` is
                ``"reaction <source>"``); the rest of the batch is skipped.
            SessionError: a blocking reaction's send failed (e.g. ``SessionClosed``); the
                rest of the batch is skipped.
        """
        for index, reaction in enumerate(reactions):
            if reaction.policy.mode is ExecutionMode.CONCURRENT:
                nursery.start_soon(
                    self._run_concurrent, reaction, name=f"reaction {reaction.source}"
                )
                continue
            try:
                completed = await self._run_blocking(reaction)
            except BaseException:
                self.stats.skipped += len(reactions) - index - 1
                raise
            if not completed:
                self.stats.skipped += len(reactions) - index - 1
                return

    async def _run_blocking(self, reaction: Reaction) -> bool:
        """Run one blocking reaction; False when a barge-in cancelled it."""
        if self._barge_in is None:
            await self._run_timed(reaction)
            return True
        with self._barge_in().scope() as scope:
            await self._run_timed(reaction)
        if scope.cancelled_caught:
            self.stats.cancelled_by_barge_in += 1
            return False
        return True

    async def _run_timed(self, reaction: Reaction) -> None:
        timeout = reaction.policy.timeout
        try:
            with trio.move_on_after(math.inf if timeout is None else timeout) as deadline:
                await self._apply(reaction.effect)
        except Exception:
            self.stats.failed += 1
            raise
        if deadline.cancelled_caught:
            assert timeout is not None
            self.stats.failed += 1
            self.stats.timed_out += 1
            raise SessionTimeout(f"reaction {reaction.source}", timeout)
        self.stats.executed += 1

    async def _run_concurrent(self, reaction: Reaction) -> None:
        try:
            await self._run_timed(reaction)
        except Exception as exc:
            self._report(reaction, exc)

    def _report(self, reaction: Reaction, exc: Exception) -> None:
        error = ReactionFailed(reaction.source, type(reaction.effect).__name__, exc)
        try:
            self._emit(LiveEvent.Error(error))
        except Exception:
            log.exception("could not publish %s", error)

    async def _apply(self, effect: Effect) -> None:
        match effect:
            case PromptModel():
                await self._prompt_model()
            case CancelDeferredPrompt():
                if self._pending is not None:
                    self._pending.clear_prompt()
            case SignalUserActivityStart():
                await self._target.signal_activity_start()
            case SignalUserActivityEnd():
                await self._target.signal_activity_end()
            case SendContext(contents=contents):
                if contents:
                    await self._target.send_client_content(contents, turn_complete=False)
            case UpdateInstruction(text=text):
                await self._target.update_instruction(text)
            case Emit(event=event):
                self._emit(event)
            case _:
                raise TypeError(f"not an effect: {effect!r}")

    async def _prompt_model(self) -> None:
        # What the session did not accept is put back: context at the front of the queue, the
        # prompt re-armed; so a failed or cancelled prompt is retried at the next safe moment.
        pending = self._pending
        if pending is None:
            return
        context = pending.drain_context()
        if context:
            try:
                await self._target.send_client_content(context, turn_complete=False)
            except BaseException:
                pending.restore(context)
                raise
        if pending.take_prompt():
            try:
                await self._target.send_client_content((), turn_complete=True)
            except BaseException:
                pending.set_prompt()
                raise


if TYPE_CHECKING:  # static proof that the writer (deferring or not) can be an effect target

    def _writer_target(writer: SessionWriter) -> EffectTarget:
        return writer
