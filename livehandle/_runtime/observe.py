"""The session's own records, kept from the raw events: telemetry counters and ``session:`` keys.

:class:`SessionObserver` is called by the router (in the session's reader, synchronously, for every
event in wire order) and keeps :class:`~livehandle.SessionTelemetry` and the ``session:`` state
keys up to date.  Its optional emitter task publishes ``Telemetry`` and ``TurnMetrics`` events and
refreshes the timing keys every ``telemetry_interval``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from livehandle._events import LiveEvent, SessionEvent, SessionPhase

if TYPE_CHECKING:
    from livehandle._broadcast import Broadcast
    from livehandle._runtime.telemetry import SessionTelemetry
    from livehandle._state import State

__all__ = ["SessionObserver"]


class SessionObserver:
    """Keeps telemetry and the ``session:`` keys from the raw events; see the module docstring.

    :meth:`observe` never waits and never raises for a well-formed event: it runs in the
    session's reader.  Audio and text chunks (the hot path) only bump counters.
    """

    __slots__ = (
        "_emitter",
        "_emitter_stopped",
        "_errors",
        "_interrupts",
        "_last_activity",
        "_live",
        "_started_at",
        "_state",
        "telemetry",
    )

    def __init__(
        self, telemetry: SessionTelemetry, state: State, live: Broadcast[LiveEvent]
    ) -> None:
        self.telemetry = telemetry
        self._state = state
        self._live = live
        self._errors = 0
        self._interrupts = 0
        self._started_at = 0.0
        self._last_activity = 0.0
        self._emitter: trio.CancelScope | None = None  # made when the emitter starts
        self._emitter_stopped = False

    def start(self) -> None:
        """The session runs from now (the zero of ``session:elapsed_ms``)."""
        self._started_at = self._last_activity = trio.current_time()

    def observe(self, event: SessionEvent) -> None:
        """Record ``event`` (the router calls this for every event, in order)."""
        telemetry, state = self.telemetry, self._state
        match event:
            case SessionEvent.AudioData(data=data):
                telemetry.record_audio_out(len(data))
                return  # the hot path: no state writes, no clock read
            case SessionEvent.TextDelta():
                telemetry.record_text_out()
                return
            case SessionEvent.Connected():
                for key, value in (
                    ("session:interrupt_count", 0),
                    ("session:error_count", 0),
                    ("session:is_user_speaking", False),
                    ("session:is_model_speaking", False),
                    ("session:go_away_received", False),
                    ("session:resumable", False),
                ):
                    state.set(key, value)
            case SessionEvent.Reconnecting():
                telemetry.record_reconnecting()
            case SessionEvent.Resumed(gap_ms=gap, replayed=replayed, lost_audio_ms=lost):
                telemetry.record_resumed(gap, replayed, lost)
            case SessionEvent.VoiceActivityStart():
                telemetry.record_turn_start()
                state.set("session:is_user_speaking", True)
            case SessionEvent.VoiceActivityEnd():
                telemetry.record_speech_end()
                state.set("session:is_user_speaking", False)
            case SessionEvent.Interrupted():
                telemetry.record_interruption()
                self._interrupts += 1
                state.set("session:interrupt_count", self._interrupts)
            case SessionEvent.TurnComplete():
                telemetry.record_turn_complete()
            case SessionEvent.Usage(usage=usage):
                telemetry.record_usage(usage)
            case SessionEvent.PhaseChanged(new=phase):
                state.set("session:phase", phase.value)
                state.set("session:is_model_speaking", phase is SessionPhase.MODEL_SPEAKING)
            case SessionEvent.GoAway(time_left=time_left):
                state.set("session:go_away_received", True)
                state.set("session:go_away_time_left", time_left)
            case SessionEvent.SessionResumeUpdate(resumable=resumable):
                state.set("session:resumable", resumable)
            case SessionEvent.Error(error=error):
                self._errors += 1
                state.set("session:error_count", self._errors)
                state.set("session:last_error", str(error))
            case SessionEvent.Disconnected():
                state.set("session:disconnected", True)
            case _:
                return
        self._last_activity = trio.current_time()

    def stop_emitter(self) -> None:
        """End the emitter (at once, or as soon as it starts when it has not yet).  Idempotent."""
        self._emitter_stopped = True
        if self._emitter is not None:
            self._emitter.cancel()

    async def run_emitter(self, interval: float) -> None:
        """Every ``interval`` seconds: refresh the timing keys, publish Telemetry/TurnMetrics.

        Runs until :meth:`stop_emitter` (the lanes call it when the control lane ends).  Keeps
        running with no subscriber: publishing to nobody is a no-op, never an error.
        """
        turns = 0
        scope = self._emitter = trio.CancelScope()  # made here: no emitter, no scope
        if self._emitter_stopped:
            scope.cancel()
        with scope:
            while True:
                await trio.sleep(interval)
                now = trio.current_time()
                self._state.set("session:elapsed_ms", round((now - self._started_at) * 1000))
                self._state.set("session:silence_ms", round((now - self._last_activity) * 1000))
                snapshot = self.telemetry.snapshot()
                count = snapshot.get("turn_count")
                if isinstance(count, int) and count > turns:
                    turns = count
                    self._live.publish(
                        LiveEvent.TurnMetrics(
                            turns,
                            _maybe_float(snapshot.get("last_response_latency_ms")),
                            _maybe_int(snapshot.get("prompt_token_count")),
                            _maybe_int(snapshot.get("response_token_count")),
                        )
                    )
                self._live.publish(LiveEvent.Telemetry(snapshot))


def _maybe_float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _maybe_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
