"""The voice reactor (state + rules) and the effect executor, against a recording fake target."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs
import pytest
import trio
import trio.testing

from livehandle._errors import ReactionFailed, SessionClosed, SessionTimeout
from livehandle._events import LiveEvent
from livehandle._runtime.bargein import BargeIn
from livehandle._runtime.context import PendingContext
from livehandle._runtime.reactor import (
    CancelDeferredPrompt,
    EffectExecutor,
    EffectPolicy,
    Emit,
    ExecutionMode,
    LiveReactor,
    PlaybackDrained,
    PromptModel,
    PromptOnPlaybackDrained,
    Reaction,
    ReactorEvent,
    SendContext,
    SignalUserActivityEnd,
    SignalUserActivityStart,
    UpdateInstruction,
    UserSpeechActivityRule,
    UserSpeechEnded,
    UserSpeechStarted,
    VoiceRuntimeState,
)
from livehandle._wire import messages as m

if TYPE_CHECKING:
    from collections.abc import Sequence

# -- helpers --------------------------------------------------------------------------------------


def ctx(text: str) -> m.Content:
    return m.Content(parts=(m.Part(text=text),), role="model")


class Clock:
    """A clock that ticks one second per reading."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def reactor() -> tuple[LiveReactor, Clock]:
    clock = Clock()
    return LiveReactor(clock=clock), clock


def effects(reactions: Sequence[Reaction]) -> list[type]:
    return [type(r.effect) for r in reactions]


Call = tuple[object, ...]


class FakeTarget:
    """Records calls; a call named in ``block`` waits for ``release``, one in ``fail`` raises."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.block: set[str] = set()
        self.fail: dict[str, Exception] = {}
        self.release = trio.Event()
        self.entered = trio.Event()

    async def _call(self, name: str, *args: object) -> None:
        await trio.lowlevel.checkpoint()
        self.entered.set()
        if name in self.block:
            await self.release.wait()
        if name in self.fail:
            raise self.fail[name]
        self.calls.append((name, *args))

    async def send_client_content(self, turns: Sequence[m.Content], *, turn_complete: bool) -> None:
        await self._call("content", tuple(turns), turn_complete)

    async def signal_activity_start(self) -> None:
        await self._call("activity_start")

    async def signal_activity_end(self) -> None:
        await self._call("activity_end")

    async def update_instruction(self, instruction: str) -> None:
        await self._call("instruction", instruction)


class Rig:
    def __init__(self, *, pending: PendingContext | None = None, barge: BargeIn | None = None):
        self.target = FakeTarget()
        self.emitted: list[LiveEvent] = []
        self.pending = pending
        self.barge = barge
        self.executor = EffectExecutor(
            self.target,
            emit=self.emitted.append,
            pending=pending,
            barge_in=(lambda: barge) if barge is not None else None,
        )

    async def run(self, *effects: object, policy: EffectPolicy | None = None) -> None:
        reactions = [Reaction("test", e, policy or EffectPolicy()) for e in effects]  # type: ignore[arg-type]
        error: Exception | None = None
        async with trio.open_nursery() as nursery:
            try:
                await self.executor.execute(reactions, nursery)
            except Exception as exc:  # raised here, not wrapped in the nursery's group
                error = exc
        if error is not None:
            raise error


def reaction(effect: object, source: str = "test", **policy: object) -> Reaction:
    return Reaction(source, effect, EffectPolicy(**policy))  # type: ignore[arg-type]


# -- policies and values --------------------------------------------------------------------------


def test_default_policy_is_blocking_without_timeout() -> None:
    r = Reaction("rule", PromptModel())
    assert r.policy == EffectPolicy(ExecutionMode.BLOCKING, None)
    assert EffectPolicy(timeout=2).timeout == 2


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan"), True, "1"])
def test_a_timeout_must_be_positive(timeout: object) -> None:
    with pytest.raises(ValueError, match="timeout"):
        EffectPolicy(timeout=timeout)  # type: ignore[arg-type]


def test_send_context_takes_contents_only() -> None:
    assert SendContext([ctx("a")]).contents == (ctx("a"),)
    with pytest.raises(ValueError, match=r"m\.Content"):
        SendContext(["a"])  # type: ignore[list-item]


def test_initial_state_is_all_quiet() -> None:
    assert LiveReactor().state == VoiceRuntimeState(
        user_speaking=False,
        playback_active=False,
        prompt_pending=False,
        prompt_epoch=0,
        last_barge_in_at=None,
        last_playback_drained_at=None,
    )


def test_voice_defaults_has_the_two_rules_in_order() -> None:
    rules = LiveReactor.voice_defaults().rules
    assert [rule.name for rule in rules] == ["prompt_on_playback_drained", "user_speech_activity"]
    assert [rule.name for rule in LiveReactor().rules] == [rule.name for rule in rules]


# -- the reactor table ----------------------------------------------------------------------------


def test_playback_drained_with_a_pending_prompt_prompts_the_model() -> None:
    r, clock = reactor()
    reactions = r.react(PlaybackDrained(prompt_pending=True))
    assert reactions == [Reaction("prompt_on_playback_drained", PromptModel())]
    assert r.state.prompt_pending
    assert not r.state.playback_active
    assert r.state.last_playback_drained_at == clock.now


def test_playback_drained_without_a_prompt_does_nothing() -> None:
    r, _ = reactor()
    assert r.react(PlaybackDrained(prompt_pending=False)) == []
    assert not r.state.prompt_pending
    assert r.state.last_playback_drained_at is not None


def test_user_speech_started_cancels_the_prompt_then_marks_activity() -> None:
    r, clock = reactor()
    reactions = r.react(UserSpeechStarted())
    assert reactions == [
        Reaction("user_speech_activity", CancelDeferredPrompt()),
        Reaction("user_speech_activity", SignalUserActivityStart()),
    ]
    assert r.state.user_speaking
    assert not r.state.prompt_pending
    assert r.state.last_barge_in_at == clock.now


def test_user_speech_ended_with_a_pending_prompt_marks_the_end_then_prompts() -> None:
    r, _ = reactor()
    r.react(UserSpeechStarted())
    reactions = r.react(UserSpeechEnded(prompt_pending=True))
    assert reactions == [
        Reaction("user_speech_activity", SignalUserActivityEnd()),
        Reaction("user_speech_activity", PromptModel()),
    ]
    assert not r.state.user_speaking
    assert r.state.prompt_pending


def test_user_speech_ended_without_a_prompt_only_marks_the_end() -> None:
    r, _ = reactor()
    r.react(UserSpeechStarted())
    assert effects(r.react(UserSpeechEnded(prompt_pending=False))) == [SignalUserActivityEnd]
    assert not r.state.prompt_pending


def test_user_speech_ended_while_the_model_plays_waits_for_the_drain() -> None:
    r, _ = reactor()
    r.react(UserSpeechStarted())
    r.playback_started()  # the model answers while the user is still talking
    assert effects(r.react(UserSpeechEnded(prompt_pending=True))) == [SignalUserActivityEnd]
    assert not r.state.prompt_pending
    assert r.state.playback_active
    # the prompt goes once that reply has drained
    assert effects(r.react(PlaybackDrained(prompt_pending=True))) == [PromptModel]


def test_worked_example_drain_while_speaking_prompts_after_speech_ends() -> None:
    r, _ = reactor()
    r.react(UserSpeechStarted())
    assert r.react(PlaybackDrained(prompt_pending=True)) == []  # the user is still speaking
    assert r.state.prompt_pending
    assert r.state.user_speaking
    assert effects(r.react(UserSpeechEnded(prompt_pending=True))) == [
        SignalUserActivityEnd,
        PromptModel,
    ]


def test_prompt_epoch_counts_only_barge_ins_that_cancel_a_pending_prompt() -> None:
    r, _ = reactor()
    r.react(UserSpeechStarted())  # nothing pending
    assert r.state.prompt_epoch == 0
    r.react(UserSpeechEnded(prompt_pending=False))
    r.react(PlaybackDrained(prompt_pending=True))
    r.react(UserSpeechStarted())  # cancels the pending prompt
    assert r.state.prompt_epoch == 1
    assert not r.state.prompt_pending
    r.react(UserSpeechStarted())  # already cancelled
    assert r.state.prompt_epoch == 1


def test_playback_started_marks_playback_active() -> None:
    r, _ = reactor()
    r.playback_started()
    assert r.state.playback_active
    r.playback_started()
    assert r.state.playback_active


@pytest.mark.parametrize(
    "clear",
    [
        pytest.param(lambda r: r.react(PlaybackDrained(prompt_pending=False)), id="drained"),
        pytest.param(lambda r: r.react(UserSpeechStarted()), id="speech-started"),
        pytest.param(lambda r: r.playback_stopped(), id="stopped"),
    ],
)
def test_playback_active_is_cleared(clear: object) -> None:
    r, _ = reactor()
    r.playback_started()
    clear(r)  # type: ignore[operator]
    assert not r.state.playback_active


def test_state_is_an_immutable_snapshot() -> None:
    r, _ = reactor()
    before = r.state
    r.playback_started()
    assert not before.playback_active
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        before.user_speaking = True  # type: ignore[misc]


@attrs.frozen
class Recorder:
    name: str
    seen: list[tuple[str, ReactorEvent, VoiceRuntimeState]] = attrs.field(eq=False)

    def react(self, event: ReactorEvent, state: VoiceRuntimeState) -> list[Reaction]:
        self.seen.append((self.name, event, state))
        return [Reaction(self.name, Emit(LiveEvent.Error(SessionClosed(self.name))))]


def test_custom_rules_see_the_updated_state_in_registration_order() -> None:
    seen: list[tuple[str, ReactorEvent, VoiceRuntimeState]] = []
    r = LiveReactor([Recorder("first", seen), Recorder("second", seen)], clock=Clock())
    reactions = r.react(UserSpeechStarted())
    assert [x.source for x in reactions] == ["first", "second"]
    assert [name for name, _, _ in seen] == ["first", "second"]
    assert all(state.user_speaking for _, _, state in seen)


def test_an_empty_rule_list_only_tracks_state() -> None:
    r = LiveReactor([], clock=Clock())
    assert r.react(PlaybackDrained(prompt_pending=True)) == []
    assert r.state.prompt_pending


def test_default_rules_ignore_events_they_do_not_own() -> None:
    state = VoiceRuntimeState(prompt_pending=True)
    assert PromptOnPlaybackDrained().react(UserSpeechEnded(prompt_pending=True), state) == []
    assert UserSpeechActivityRule().react(PlaybackDrained(prompt_pending=True), state) == []


async def test_the_default_clock_is_trio_time(autojump_clock: trio.testing.MockClock) -> None:
    r = LiveReactor()
    await trio.sleep(5)
    r.react(UserSpeechStarted())
    assert r.state.last_barge_in_at == trio.current_time()


# -- executor: effect semantics -------------------------------------------------------------------


async def test_prompt_model_without_pending_context_sends_nothing() -> None:
    rig = Rig()
    await rig.run(PromptModel(), CancelDeferredPrompt())
    assert rig.target.calls == []
    assert rig.executor.stats.executed == 2


async def test_prompt_model_sends_context_then_the_prompt_once() -> None:
    pending = PendingContext()
    pending.extend([ctx("a"), ctx("b")])
    pending.set_prompt()
    rig = Rig(pending=pending)
    await rig.run(PromptModel())
    assert rig.target.calls == [
        ("content", (ctx("a"), ctx("b")), False),
        ("content", (), True),
    ]
    assert pending.is_empty()
    await rig.run(PromptModel())  # the prompt was taken: nothing more
    assert len(rig.target.calls) == 2


async def test_prompt_model_with_only_a_prompt_sends_only_the_prompt() -> None:
    pending = PendingContext()
    pending.set_prompt()
    rig = Rig(pending=pending)
    await rig.run(PromptModel())
    assert rig.target.calls == [("content", (), True)]


async def test_prompt_model_with_only_context_sends_no_prompt() -> None:
    pending = PendingContext()
    pending.push(ctx("a"))
    rig = Rig(pending=pending)
    await rig.run(PromptModel())
    assert rig.target.calls == [("content", (ctx("a"),), False)]


async def test_cancel_deferred_prompt_keeps_the_context() -> None:
    pending = PendingContext()
    pending.push(ctx("a"))
    pending.set_prompt()
    rig = Rig(pending=pending)
    await rig.run(CancelDeferredPrompt())
    assert not pending.has_prompt()
    assert pending.drain_context() == [ctx("a")]
    assert rig.target.calls == []


async def test_a_failed_prompt_model_puts_the_context_back_and_keeps_the_prompt() -> None:
    pending = PendingContext()
    pending.extend([ctx("a"), ctx("b")])
    pending.set_prompt()
    rig = Rig(pending=pending)
    rig.target.fail["content"] = SessionClosed()
    with pytest.raises(SessionClosed):
        await rig.run(PromptModel())
    assert pending.drain_context() == [ctx("a"), ctx("b")]
    assert pending.has_prompt()
    assert rig.executor.stats.failed == 1


async def test_the_other_effects_reach_the_target() -> None:
    event = LiveEvent.Error(SessionClosed("x"))
    rig = Rig()
    await rig.run(
        SignalUserActivityStart(),
        SignalUserActivityEnd(),
        SendContext([ctx("a")]),
        SendContext([]),
        UpdateInstruction("be brief"),
        Emit(event),
    )
    assert rig.target.calls == [
        ("activity_start",),
        ("activity_end",),
        ("content", (ctx("a"),), False),
        ("instruction", "be brief"),
    ]
    assert rig.emitted == [event]
    assert rig.executor.stats.executed == 6


async def test_a_reactor_batch_runs_in_order() -> None:
    pending = PendingContext()
    pending.push(ctx("a"))
    rig = Rig(pending=pending)
    r, _ = reactor()
    r.react(UserSpeechStarted())
    async with trio.open_nursery() as nursery:
        await rig.executor.execute(r.react(UserSpeechEnded(prompt_pending=True)), nursery)
    assert rig.target.calls == [("activity_end",), ("content", (ctx("a"),), False)]


# -- executor: blocking timeouts and failures -----------------------------------------------------


async def test_a_blocking_timeout_raises_and_skips_the_rest(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rig = Rig()
    rig.target.block.add("activity_start")
    reactions = [
        reaction(SignalUserActivityStart(), "slow_rule", timeout=1.5),
        reaction(SignalUserActivityEnd()),
    ]
    async with trio.open_nursery() as nursery:
        start = trio.current_time()
        with pytest.raises(SessionTimeout) as caught:
            await rig.executor.execute(reactions, nursery)
    assert caught.value.stage == "reaction slow_rule"
    assert caught.value.seconds == 1.5
    assert trio.current_time() - start == pytest.approx(1.5)
    assert rig.target.calls == []
    stats = rig.executor.stats
    assert (stats.failed, stats.timed_out, stats.skipped, stats.executed) == (1, 1, 1, 0)


async def test_a_blocking_effect_within_its_timeout_completes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    rig = Rig()
    await rig.run(SignalUserActivityStart(), policy=EffectPolicy(timeout=10))
    assert rig.target.calls == [("activity_start",)]


async def test_a_blocking_failure_propagates_and_skips_the_rest() -> None:
    rig = Rig()
    rig.target.fail["instruction"] = SessionClosed()
    with pytest.raises(SessionClosed):
        await rig.run(UpdateInstruction("x"), SignalUserActivityEnd())
    assert rig.target.calls == []
    assert rig.executor.stats.skipped == 1


# -- executor: concurrent effects -----------------------------------------------------------------


async def test_a_concurrent_failure_is_emitted_as_reaction_failed() -> None:
    rig = Rig()
    cause = SessionClosed()
    rig.target.fail["activity_start"] = cause
    reactions = [
        reaction(SignalUserActivityStart(), "my_rule", mode=ExecutionMode.CONCURRENT),
        reaction(SignalUserActivityEnd()),
    ]
    async with trio.open_nursery() as nursery:
        await rig.executor.execute(reactions, nursery)  # does not raise
    assert rig.target.calls == [("activity_end",)]
    [event] = rig.emitted
    assert isinstance(event, LiveEvent.Error)
    error = event.error
    assert isinstance(error, ReactionFailed)
    assert (error.source, error.effect) == ("my_rule", "SignalUserActivityStart")
    assert error.__cause__ is cause
    assert rig.executor.stats.failed == 1


async def test_a_concurrent_timeout_is_emitted_as_reaction_failed(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pending = PendingContext()
    pending.set_prompt()
    rig = Rig(pending=pending)
    rig.target.block.add("content")
    reactions = [reaction(PromptModel(), "late", mode=ExecutionMode.CONCURRENT, timeout=2)]
    async with trio.open_nursery() as nursery:
        await rig.executor.execute(reactions, nursery)
    [event] = rig.emitted
    assert isinstance(event, LiveEvent.Error)
    error = event.error
    assert isinstance(error, ReactionFailed)
    assert (error.source, error.effect) == ("late", "PromptModel")
    assert isinstance(error.__cause__, SessionTimeout)
    assert error.__cause__.stage == "reaction late"
    assert rig.executor.stats.timed_out == 1
    assert pending.has_prompt()  # not sent, so still armed


async def test_concurrent_effects_do_not_hold_up_the_batch() -> None:
    rig = Rig()
    rig.target.block.add("activity_start")
    reactions = [
        reaction(SignalUserActivityStart(), mode=ExecutionMode.CONCURRENT),
        reaction(SignalUserActivityEnd()),
    ]
    async with trio.open_nursery() as nursery:
        await rig.executor.execute(reactions, nursery)
        assert rig.target.calls == [("activity_end",)]  # the concurrent one is still waiting
        rig.target.release.set()
    assert rig.target.calls == [("activity_end",), ("activity_start",)]
    assert rig.emitted == []


# -- executor: barge-in ---------------------------------------------------------------------------


async def test_a_barge_in_cancels_a_stuck_blocking_effect_and_the_executor_returns() -> None:
    pending = PendingContext()
    pending.push(ctx("a"))
    pending.set_prompt()
    barge = BargeIn()
    rig = Rig(pending=pending, barge=barge)
    rig.target.block.add("content")
    returned = trio.Event()

    async def run() -> None:
        await rig.run(PromptModel(), SignalUserActivityEnd())
        returned.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await rig.target.entered.wait()
        barge.cancel()
        await returned.wait()
    assert rig.target.calls == []  # the rest of the batch was skipped
    stats = rig.executor.stats
    assert (stats.cancelled_by_barge_in, stats.skipped, stats.failed) == (1, 1, 0)
    assert pending.drain_context() == [ctx("a")]  # the cancelled send lost nothing
    assert pending.has_prompt()


async def test_blocking_effects_run_normally_inside_a_quiet_barge_in_group() -> None:
    rig = Rig(barge=BargeIn())
    await rig.run(SignalUserActivityStart(), SignalUserActivityEnd())
    assert rig.target.calls == [("activity_start",), ("activity_end",)]
    assert rig.executor.stats.cancelled_by_barge_in == 0


async def test_the_current_barge_in_group_is_looked_up_per_effect() -> None:
    groups = [BargeIn()]
    groups[0].cancel()  # an old, cancelled group ...
    target = FakeTarget()
    executor = EffectExecutor(target, emit=lambda _: None, barge_in=lambda: groups[-1])
    groups.append(BargeIn())  # ... replaced once the interruption was handled
    async with trio.open_nursery() as nursery:
        await executor.execute([reaction(SignalUserActivityStart())], nursery)
    assert target.calls == [("activity_start",)]
