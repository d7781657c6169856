"""VoiceRuntime: the voice side of a LiveHandle (input VAD, turn commit, reactor, deferred context).

It owns everything that happens between a microphone chunk and the wire, and the client-side
turn-taking signals:

* ``send_audio`` runs the input VAD on each chunk and keeps the order of original-runtime §1.1:
  a speech start is handled (``user_speech_started``) before the chunk goes out, a speech end
  after it.  Edges inside one chunk are handled in order; only a trailing end waits for the
  audio;
* the **reactor** turns the three voice edges (``playback_drained``, ``user_speech_started``,
  ``user_speech_ended``) into effects, run by the executor: blocking effects inside the current
  barge-in group (a server ``interrupted`` cancels them), concurrent ones in this runtime's
  nursery, their failures reported as ``LiveEvent.Error``;
* **activity marks** (``activityStart``/``activityEnd``) go out only under client authority
  (server VAD disabled), exactly once per edge: a mark already sent is never repeated, whichever
  path asks for it.  With a turn-commit policy, the policy alone decides when VAD edges become
  marks; edges reported by the application (``user_speech_started()``) mark at once;
* ``playback_active`` is tracked for real: model audio delivered to the application sets it,
  ``playback_drained()``, a client speech start or a server interruption clears it.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

import trio

from livehandle._nursery import TaskHost
from livehandle._runtime.context import DeferredWriter
from livehandle._runtime.reactor import (
    EffectExecutor,
    LiveReactor,
    PlaybackDrained,
    Reaction,
    SignalUserActivityEnd,
    SignalUserActivityStart,
    UserSpeechEnded,
    UserSpeechStarted,
    VoiceRuntimeState,
)
from livehandle._runtime.turn_commit import (
    TurnCommitPolicy,
    TurnSignal,
)
from livehandle._runtime.vad import (
    BackendInputVad,
    BackendVadSnapshot,
    VadEvent,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from livehandle._config.voice import (
        TurnCommitConfig,
        VadConfig,
    )
    from livehandle._events import LiveEvent
    from livehandle._runtime.bargein import BargeIn
    from livehandle._runtime.context import PendingContext
    from livehandle._runtime.reactor import ReactorEvent
    from livehandle._runtime.writer import SessionWriter

__all__ = ["PREROLL_MS", "VoiceRuntime"]

#: Under client authority, how much audio from before a speech start is sent after the start.
PREROLL_MS = 300

_MARKS = (SignalUserActivityStart, SignalUserActivityEnd)


class VoiceRuntime:
    """Input VAD, turn commit, reactor, executor and deferred context of one live session.

    Effects write to the session's one writer directly (none of them is user input, so none
    flushes deferred context).  Activity marks never reach the executor: :meth:`_react` takes
    them out of each batch and sends them through :meth:`mark_activity`, the one place where
    marks are deduplicated and gated on client authority.

    The input VAD runs on every chunk whenever ``vad`` is set, with server VAD too, because its
    edges are consumed there as well: unless the server sends voice-activity messages (only
    Vertex's ``explicitVadSignal`` makes it), they are the client's only user-speech signal.
    They time telemetry's turns and response latency (``on_speech_start``/``on_speech_end``),
    move :meth:`voice_state` (``user_speaking``, ``playback_active``, the prompt epoch) and
    cancel or send an armed deferred prompt; only the activity marks they call for are dropped.
    Each consumer takes the edge when it happens, so the VAD cannot run later or less often
    without changing what they see.  What is skipped is the per-frame work that no edge and no
    :meth:`input_vad_state` field depends on (see :class:`~livehandle.BackendInputVad`); an
    application that wants none of this sets ``input_vad=None``.

    Args:
        writer: the session's writer; a :class:`~livehandle.lowlevel.DeferredWriter` when
            context delivery is deferred (its queue is then this runtime's ``pending``).
        emit: publishes a LiveEvent to the application (``Emit`` effects, effect failures).
        barge_in: returns the current barge-in group; blocking effects run inside it.
        vad: the input VAD's settings, or None for no client-side VAD.
        turn_commit: when client-authority VAD edges become activity marks; None: at once.
        client_authority: True when server VAD is disabled and the client marks activity.
        on_speech_start: called at each user speech start (VAD edge or reported by the app).
        on_speech_end: called at each user speech end (telemetry times the response from it).
        model_speaking: whether the server says the model is speaking (the turn-commit policy
            treats speech then as a possible interruption).
    """

    __slots__ = (
        "_audio_ms",
        "_client_authority",
        "_drains_reported",
        "_dropped_outside_activity",
        "_executor",
        "_host",
        "_model_speaking",
        "_on_speech_end",
        "_on_speech_start",
        "_owed_end",
        "_owed_mark_end",
        "_policy",
        "_preroll",
        "_preroll_bytes",
        "_preroll_limit",
        "_sample_rate",
        "_vad",
        "_vad_config",
        "pending",
        "reactor",
        "writer",
    )

    def __init__(
        self,
        writer: SessionWriter,
        *,
        emit: Callable[[LiveEvent], object],
        barge_in: Callable[[], BargeIn],
        vad: VadConfig | None = None,
        turn_commit: TurnCommitConfig | None = None,
        client_authority: bool = False,
        on_speech_start: Callable[[], object] | None = None,
        on_speech_end: Callable[[], object] | None = None,
        model_speaking: Callable[[], bool] | None = None,
    ) -> None:
        self.writer = writer
        self.pending: PendingContext | None = (
            writer.pending if isinstance(writer, DeferredWriter) else None
        )
        self.reactor = LiveReactor.voice_defaults()
        # Built at the first send_audio (or state query): an idle session keeps no detector.
        self._vad_config = vad
        self._vad: BackendInputVad | None = None
        self._sample_rate = vad.sample_rate if vad is not None else 16000
        self._policy = TurnCommitPolicy(turn_commit) if turn_commit is not None else None
        self._client_authority = client_authority
        self._on_speech_start = on_speech_start
        self._on_speech_end = on_speech_end
        self._model_speaking = model_speaking
        self._drains_reported = False  # the application calls playback_drained()
        self._owed_end = False  # a trailing speech end not handled yet (see send_audio)
        self._owed_mark_end = False  # a trailing activityEnd not sent yet
        # Client authority: audio heard while no activity is open, sent after the next start.
        self._preroll: deque[bytes] | None = None  # made at the first audio held
        self._preroll_bytes = 0
        self._preroll_limit = PREROLL_MS * self._sample_rate * 2 // 1000
        self._dropped_outside_activity = 0
        self._audio_ms = 0  # the audio clock: milliseconds of microphone audio sent so far
        self._executor = EffectExecutor(writer, emit=emit, pending=self.pending, barge_in=barge_in)
        self._host = TaskHost("the voice runtime")

    # -- lifecycle ----------------------------------------------------------------------------

    def attach(self, nursery: trio.Nursery) -> None:
        """Run concurrent effects in ``nursery`` (the session's) until :meth:`stop`."""
        self._host.attach(nursery)

    def stop(self) -> None:
        """Cancel every concurrent effect still running and end :meth:`run`."""
        self._host.stop()

    # -- state --------------------------------------------------------------------------------

    def voice_state(self) -> VoiceRuntimeState:
        """A snapshot of the reactor's voice state."""
        return self.reactor.state

    def input_vad_state(self) -> BackendVadSnapshot | None:
        """A snapshot of the input VAD, or None when client-side VAD is off.

        Always the detector's true state after the last complete frame: nothing it reports is
        left stale by the VAD's shortcuts (a probability left undecided is worked out here).
        """
        vad = self._detector()
        return None if vad is None else vad.snapshot()

    def _detector(self) -> BackendInputVad | None:
        """The input VAD, built on first use; None when client-side VAD is off."""
        if self._vad is None and self._vad_config is not None:
            self._vad = BackendInputVad(self._vad_config)
        return self._vad

    def model_audio_delivered(self) -> None:
        """Model audio reached the application: it is playing."""
        self.reactor.playback_started()

    def interrupted(self) -> None:
        """The server interrupted the model (barge-in): playback stops."""
        self.reactor.playback_stopped()

    # -- sending ------------------------------------------------------------------------------

    async def send_audio(self, pcm: bytes) -> None:
        """Run the VAD on ``pcm``, then send it between the speech-start and speech-end work.

        ``pcm`` must already be checked (whole PCM16 samples, as bytes): the handle checks it
        at the public boundary, and nothing below re-checks it.

        Under client authority, audio goes out only while an activity is open (the Live API
        rejects audio before ``activityStart``); the last ``PREROLL_MS`` before a start are
        kept and sent right after it, so the beginning of the utterance is not lost.
        """
        if self._owed_end or self._owed_mark_end:
            await self._settle_owed()
        vad = self._vad if self._vad is not None else self._detector()
        edges = vad.process(pcm) if vad is not None else []
        signals: list[TurnSignal] = []
        if self._policy is not None:
            self._audio_ms += len(pcm) // 2 * 1000 // self._sample_rate
            signals = self._policy.advance(self._audio_ms, edges, self._model_is_speaking())
        # Edges and signals are handled in order; a trailing end waits until the audio is out.
        # If this call is cancelled or fails before then, the next call handles it first.
        end_edge = bool(edges) and edges[-1] is VadEvent.SPEECH_END
        end_signal = bool(signals) and signals[-1] is TurnSignal.ACTIVITY_END
        self._owed_end, self._owed_mark_end = end_edge, end_signal
        for edge in edges[:-1] if end_edge else edges:
            await self._vad_edge(edge)
        for signal in signals[:-1] if end_signal else signals:
            await self.mark_activity(start=signal is not TurnSignal.ACTIVITY_END)
        await self._send_user_audio(pcm)
        if end_edge or end_signal:
            await self._settle_owed()

    async def _settle_owed(self) -> None:
        """Handle the trailing end of an earlier call that did not get to handle it."""
        if self._owed_end:
            self._owed_end = False
            await self._vad_edge(VadEvent.SPEECH_END)
        if self._owed_mark_end:
            self._owed_mark_end = False
            await self.mark_activity(start=False)

    async def _send_user_audio(self, data: bytes) -> None:
        send = self.writer._send_audio  # checked input: straight to the (deferring) writer
        if not self._client_authority:
            await send(data)
            return
        if not self.writer.activity_open:
            if self._preroll is None:
                self._preroll = deque()
            self._preroll.append(data)
            self._preroll_bytes += len(data)
            while self._preroll_bytes > self._preroll_limit and len(self._preroll) > 1:
                self._preroll_bytes -= len(self._preroll.popleft())
                self._dropped_outside_activity += 1
            return
        while self._preroll:
            chunk = self._preroll.popleft()
            try:
                await send(chunk)
            except BaseException:
                self._preroll.appendleft(chunk)  # not sent (cancelled, closed): kept, in order
                raise
            self._preroll_bytes -= len(chunk)
        await send(data)

    def _model_is_speaking(self) -> bool:
        # The server's phase, or the client's playback while the application reports drains
        # (without reports, playback_active would stay true after every reply).
        if self._model_speaking is not None and self._model_speaking():
            return True
        return self._drains_reported and self.reactor.state.playback_active

    @property
    def audio_held_back(self) -> int:
        """Microphone chunks not sent because no activity was open (client authority)."""
        return self._dropped_outside_activity

    async def _vad_edge(self, edge: VadEvent) -> None:
        if edge is VadEvent.SPEECH_START:
            await self._react(UserSpeechStarted(self._prompt_armed()), from_vad=True)
        else:
            await self._react(UserSpeechEnded(self._prompt_armed()), from_vad=True)

    async def mark_activity(self, *, start: bool) -> None:
        """Send ``activityStart`` (or ``activityEnd``) once per edge; client authority only."""
        if not self._client_authority:
            return
        # The writer sends each edge once, whoever asks (this runtime or the application).
        if start:
            await self.writer.signal_activity_start()
        else:
            await self.writer.signal_activity_end()

    # -- the voice edges ----------------------------------------------------------------------

    async def playback_drained(self) -> None:
        """The speaker buffer is empty: an armed prompt may go out (unless the user speaks)."""
        self._drains_reported = True
        await self._react(PlaybackDrained(self._prompt_armed()))

    async def user_speech_started(self) -> None:
        """The user started speaking: cancel an armed prompt (context stays), mark activity."""
        await self._react(UserSpeechStarted(self._prompt_armed()))

    async def user_speech_ended(self) -> None:
        """The user stopped speaking: mark the end of activity, send an armed prompt."""
        await self._react(UserSpeechEnded(self._prompt_armed()))

    def _prompt_armed(self) -> bool:
        return self.pending is not None and self.pending.has_prompt()

    async def _react(self, event: ReactorEvent, *, from_vad: bool = False) -> None:
        if isinstance(event, UserSpeechStarted) and self._on_speech_start is not None:
            self._on_speech_start()
        elif isinstance(event, UserSpeechEnded) and self._on_speech_end is not None:
            self._on_speech_end()
        reactions: Sequence[Reaction] = self.reactor.react(event)
        # Activity marks are sent here, in their place among the reactions, not by the
        # executor: it runs effects inside the barge-in group, and a barge-in (often caused by
        # this very speech) must never swallow a mark.  With a turn-commit policy, the policy
        # alone decides when VAD edges become marks.
        batch: list[Reaction] = []
        for reaction in reactions:
            if not isinstance(reaction.effect, _MARKS):
                batch.append(reaction)
                continue
            await self._execute(batch)
            batch = []
            if not (from_vad and self._policy is not None):
                start = isinstance(reaction.effect, SignalUserActivityStart)
                with trio.CancelScope(shield=True):
                    await self.mark_activity(start=start)
        await self._execute(batch)

    async def _execute(self, reactions: list[Reaction]) -> None:
        if reactions:
            await self._executor.execute(reactions, self._host)
