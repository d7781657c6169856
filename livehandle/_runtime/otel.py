"""OpenTelemetry export of one live session: :class:`OtelObserver`, its spans and metrics.

The handle's assembly imports this module, and with it OpenTelemetry, only for a session whose
:class:`~livehandle.LiveConfig` carries an :class:`~livehandle.OtelConfig`; nothing here runs
for any other session.  One observer per session is fed from points that exist anyway:

* the session's event tap (every raw event, in wire order): connection, speech marks, typed
  turns, model output, barge-ins, tool calls and withdrawals, usage, reconnects, the end;
* the tool dispatcher's LiveEvents (``ToolExecution``, ``ToolCancelled``), which end tool spans;
* the client VAD's speech edges (with ``server_vad=False``);
* the session's :class:`~livehandle.SessionTelemetry`, read at each turn's end for the events
  dropped or lagged meanwhile.

Spans: one for the session's life, one per turn (its child; a turn runs from its first start
mark, user speech or a typed turn, to the server's ``turnComplete``) and one per tool call (a
child of the turn that asked for it).  Span times follow Trio's clock, so they agree with the
metrics (and with a test's ``MockClock``).  Attributes carry numbers, names and ids only: no
credential, no transcript and no tool argument or result.  Every method is synchronous, never
blocks and does O(1) work, except per tool call.
"""

from __future__ import annotations

import builtins
import re
import time
from typing import TYPE_CHECKING, Any, Final, TypeVar

import trio

from livehandle._config.otel import OTEL_MISSING
from livehandle._events import LiveEvent, SessionEvent
from livehandle._logs import library_logger
from livehandle._version import __version__

try:
    from opentelemetry import metrics as otel_metrics, trace as otel_trace
except ModuleNotFoundError as exc:  # pragma: no cover - the otel test job has it installed
    raise ImportError(OTEL_MISSING) from exc

if TYPE_CHECKING:
    from collections.abc import Callable

    from opentelemetry.context import Context

    from livehandle._config.otel import OtelConfig
    from livehandle._runtime.telemetry import SessionTelemetry
    from livehandle._wire.messages import FunctionCall, UsageMetadata

__all__ = ["SECONDS_BUCKETS", "TOKEN_BUCKETS", "OtelObserver"]

#: Bucket bounds (seconds) advised for the duration histograms: latencies to long tool calls.
SECONDS_BUCKETS: Final = (
    0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.65, 0.8, 1.0, 1.3, 1.6, 2.0, 2.5, 3.0, 4.0, 5.0,
    7.5, 10.0, 20.0, 30.0, 60.0,
)  # fmt: skip
#: Bucket bounds advised for the token histogram (powers of 4, as the GenAI conventions advise).
TOKEN_BUCKETS: Final = tuple(4**n for n in range(14))

log = library_logger("livehandle.otel")

_T = TypeVar("_T")
_EXCEPTION_ENDINGS: Final = ("Error", "Exception", "Exit", "Interrupt", "Warning", "Failure")
_ERROR_TYPE = re.compile(r"^([A-Za-z_][A-Za-z0-9_.]*): ")  # "ValueError: ..." from a tool's raise
_PROVIDERS: Final = {
    "vertex": ("vertex_ai", "gcp.vertex_ai"),
    "google_ai": ("gemini", "gcp.gemini"),
}


def _provider(backend: str) -> tuple[str, str]:
    """``gen_ai.system`` and ``gen_ai.provider.name`` of an endpoint's backend."""
    return _PROVIDERS.get(backend, ("gemini", "gcp.gemini"))


def _under(parent: otel_trace.Span | None) -> Context | None:
    """The context that makes a new span a child of ``parent`` (None: the current context)."""
    return None if parent is None else otel_trace.set_span_in_context(parent)


def _tool_error(result: dict[str, object]) -> str | None:
    """The ``error.type`` of a tool answer reporting a failure, or None for a success.

    Only the exception's class name is taken from the message (never the message itself): the
    ``Name: `` the dispatcher puts before a raised exception's text, when ``Name`` (its last
    dotted part) is named like an exception class.  Any other text before a colon (a tool's or a
    gate's own message, ``"Paris: no forecast"``) gives ``tool_error``: words of a message must
    not reach an attribute, and a metric attribute must not take unbounded values.
    """
    error = result.get("error")
    if error is None and result.get("status") != "error":
        return None
    found = _ERROR_TYPE.match(error) if isinstance(error, str) else None
    if found is None:
        return "tool_error"
    name = found.group(1).rpartition(".")[2]
    return name if _looks_like_exception(name) else "tool_error"


def _looks_like_exception(name: str) -> bool:
    """``name`` is a built-in exception's, or a class name ending like one (``...Error``)."""
    if isinstance(builtin := getattr(builtins, name, None), type):
        return issubclass(builtin, BaseException)
    return name[:1].isupper() and name.endswith(_EXCEPTION_ENDINGS)


class _Tool:
    """One tool call in flight: its span (None when traces are off), start and name."""

    __slots__ = ("name", "span", "started")

    def __init__(self, name: str, span: otel_trace.Span | None, started: float) -> None:
        self.name = name
        self.span = span
        self.started = started


class OtelObserver:
    """Spans and metrics of one live session; see the module docstring.

    Args:
        config: the session's :class:`~livehandle.OtelConfig`.
        telemetry: the session's counters (read for drops and lags at each turn's end).
        model: the model name (``gen_ai.request.model``; a ``models/`` prefix is left out).
        backend: the endpoint's backend (``gen_ai.system``, ``gen_ai.provider.name``).
        session_id: the handle's session id (``gen_ai.conversation.id``).

    Must be made inside Trio (it reads :func:`trio.current_time`).  The session span starts
    now and ends with the session (``Disconnected``, or :meth:`close`).
    """

    def __init__(
        self,
        config: OtelConfig,
        *,
        telemetry: SessionTelemetry,
        model: str,
        backend: str,
        session_id: str,
    ) -> None:
        self._telemetry = telemetry
        self._t0 = trio.current_time()
        self._wall0 = time.time_ns()
        self._model = model.removeprefix("models/")
        system, provider = _provider(backend)
        self._attrs: dict[str, Any] = {
            "gen_ai.system": system,
            "gen_ai.provider.name": provider,
            "gen_ai.request.model": self._model,
        }
        self._tracer: otel_trace.Tracer | None = None
        if config.traces:
            tracers = config.tracer_provider
            if tracers is None:
                tracers = otel_trace.get_tracer_provider()
            self._tracer = tracers.get_tracer("livehandle", __version__)
        self._meter: otel_metrics.Meter | None = None
        if config.metrics:
            meters = config.meter_provider
            if meters is None:
                meters = otel_metrics.get_meter_provider()
            self._make_instruments(meters.get_meter("livehandle", __version__))
        self._session: otel_trace.Span | None = None
        if self._tracer is not None:
            self._session = self._tracer.start_span(
                "livehandle.session",
                kind=otel_trace.SpanKind.CLIENT,
                start_time=self._ns(self._t0),
                attributes={**self._attrs, "gen_ai.conversation.id": session_id},
            )
        self._closed = False
        self._broken = False
        self._connections = 0
        self._turns = 0
        self._turn_open = False
        self._turn: otel_trace.Span | None = None
        self._turn_start = 0.0
        self._turn_interrupted = False
        self._usage: UsageMetadata | None = None
        self._awaiting: float | None = None  # response latency: from here to the first output
        self._awaiting_audio: float | None = None  # time to first audio: from here
        self._awaiting_trigger = "model"  # what set the mark: "speech" or "text"
        self._stale = False  # from a barge-in to its turn's end: the rest of the reply
        self._tools: dict[str, _Tool] = {}
        self._anonymous = 0  # keys for calls without an id
        self._dropped: dict[str, int] = {}
        self._lagged = 0

    # -- instruments ----------------------------------------------------------------------------

    def _make_instruments(self, meter: otel_metrics.Meter) -> None:
        self._meter = meter

        def seconds(name: str, description: str) -> otel_metrics.Histogram:
            return meter.create_histogram(
                name, unit="s", description=description,
                explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
            )  # fmt: skip

        self._turn_duration = seconds(
            "livehandle.turn.duration", "From a turn's first start mark to its turnComplete"
        )
        self._latency = seconds(
            "livehandle.turn.response_latency",
            "From the end of user speech (or a typed turn) to the first model audio or text",
        )
        self._first_audio = seconds(
            "livehandle.turn.time_to_first_audio",
            "From the end of user speech (or a typed turn) to the first model audio",
        )
        self._tool_duration = seconds(
            "livehandle.tool.duration", "From a tool call's arrival to its answer"
        )
        self._resume_gap = seconds(
            "livehandle.resume.gap", "From losing a connection to resuming on the next"
        )
        self._interruptions = meter.create_counter(
            "livehandle.interruptions", unit="{interruption}", description="Barge-ins"
        )
        self._tool_errors = meter.create_counter(
            "livehandle.tool.errors", unit="{call}", description="Tool calls answered with an error"
        )
        self._attempts = meter.create_counter(
            "livehandle.reconnect.attempts", unit="{attempt}", description="Connections tried"
        )
        self._reconnects = meter.create_counter(
            "livehandle.reconnects", unit="{reconnect}", description="Sessions resumed"
        )
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage",
            unit="{token}",
            description="Tokens per turn, by type and modality",
            explicit_bucket_boundaries_advisory=TOKEN_BUCKETS,
        )
        self._dropped_events = meter.create_counter(
            "livehandle.events.dropped", unit="{event}", description="Events dropped by a lane"
        )
        self._lagged_events = meter.create_counter(
            "livehandle.events.lagged", unit="{event}", description="Events subscribers missed"
        )

    # -- time -----------------------------------------------------------------------------------

    def _ns(self, at: float) -> int:
        """Wall-clock nanoseconds of Trio time ``at`` (anchored when the observer was made)."""
        return self._wall0 + round((at - self._t0) * 1e9)

    # -- feeds ----------------------------------------------------------------------------------

    def tap(self, event: SessionEvent) -> None:
        """:meth:`session_event` as a session tap: a failure here never ends the session.

        The first failure is logged and the export stops for this session (spans still open
        are left to the SDK); the conversation goes on.  The other feeds (:meth:`live_event`,
        the speech edges, :meth:`close`) are guarded the same way: each is called from the
        session's own tasks (the tool dispatcher, the audio writer, the runner's end).
        """
        if not self._closed:
            self._safely(self.session_event, event)

    def _safely(self, feed: Callable[[_T], None], item: _T) -> None:
        """``feed(item)``, unless the export broke; a failure logged once, never raised."""
        if self._broken:
            return
        try:
            feed(item)
        except Exception:
            self._broken = True
            log.exception("OpenTelemetry export failed; it stops for this session")

    def session_event(self, event: SessionEvent) -> None:
        """The session's tap: every raw event, in order (model audio first: the hot path)."""
        match event:
            case SessionEvent.AudioData():
                if (self._awaiting_audio is not None or not self._turn_open) and not self._stale:
                    self._output(audio=True)
            case SessionEvent.TextDelta():
                if (self._awaiting is not None or not self._turn_open) and not self._stale:
                    self._output(audio=False)
            case SessionEvent.VoiceActivityStart():
                self.speech_started()
            case SessionEvent.VoiceActivityEnd():
                self.speech_ended()
            case SessionEvent.UserTextSent():
                self._begin_turn("text")
                self._mark_awaiting("text")
            case SessionEvent.ToolCall(calls=calls):
                self._tools_started(calls)
            case SessionEvent.ToolCallCancelled(ids=ids):
                self._tools_cancelled(ids, "server")
            case SessionEvent.Interrupted():
                self._interrupted()
            case SessionEvent.Usage(usage=usage):
                self._usage = usage
            case SessionEvent.TurnComplete(reason=reason):
                self._end_turn(reason)
            case SessionEvent.Connected(resumed=resumed):
                self._connections += 1
                self._session_event("connected", {"livehandle.resumed": resumed})
            case SessionEvent.Reconnecting(reason=reason, attempt=attempt):
                if self._meter is not None:
                    self._attempts.add(1, {**self._attrs, "livehandle.reconnect.reason": reason})
                self._session_event(
                    "reconnecting",
                    {
                        "livehandle.reconnect.reason": reason,
                        "livehandle.reconnect.attempt": attempt,
                    },
                )
            case SessionEvent.Resumed(gap_ms=gap_ms, replayed=replayed):
                self._connections += 1
                if self._meter is not None:
                    self._reconnects.add(1, self._attrs)
                    self._resume_gap.record(gap_ms / 1000, self._attrs)
                self._session_event(
                    "resumed", {"livehandle.resume.gap_ms": gap_ms, "livehandle.replayed": replayed}
                )
            case SessionEvent.Error(error=error):
                self._session_event("exception", {"exception.type": type(error).__name__})
            case SessionEvent.Disconnected(end=end):
                if self._session is not None:
                    self._session.set_attribute("livehandle.session.end", end.initiated_by)
                    self._session.set_attribute("livehandle.session.close_code", end.code)
                    if end.error is not None:
                        error_type = type(end.error).__name__
                        self._session.set_attribute("error.type", error_type)
                        self._session.set_status(otel_trace.StatusCode.ERROR, error_type)
                self.close()
            case _:
                pass

    def live_event(self, event: LiveEvent) -> None:
        """The tool dispatcher's events: answers and cancellations end tool spans (guarded)."""
        self._safely(self._live_event, event)

    def _live_event(self, event: LiveEvent) -> None:
        match event:
            case LiveEvent.ToolExecution(name=name, result=result, id=call_id):
                self._tool_answered(name, call_id, result)
            case LiveEvent.ToolCancelled(ids=ids, reason=reason):
                self._tools_cancelled(ids, reason)
            case _:
                pass

    def speech_started(self) -> None:
        """User speech started (server VAD, or a client VAD edge): a turn starts if none runs."""
        self._safely(self._begin_turn, "speech")

    def speech_ended(self) -> None:
        """User speech ended: the response latency and time to first audio run from now."""
        self._safely(self._speech_ended, "speech")

    def _speech_ended(self, trigger: str) -> None:
        self._begin_turn(trigger)
        self._mark_awaiting(trigger)

    def close(self) -> None:
        """End what is still open: tool calls, the turn, then the session span (idempotent)."""
        if self._closed:
            return
        self._safely(self._close, None)
        self._closed = True

    def _close(self, _: None) -> None:
        self._closed = True
        self._tools_cancelled(tuple(self._tools), "session_ended")
        if self._turn_open:
            self._end_turn(None, complete=False)
        self._flush_drops()
        if self._session is not None:
            self._session.set_attribute("livehandle.session.turns", self._turns)
            self._session.set_attribute("livehandle.session.connections", self._connections)
            self._session.end(end_time=self._ns(trio.current_time()))

    # -- turns ----------------------------------------------------------------------------------

    def _begin_turn(self, trigger: str, at: float | None = None) -> None:
        if self._turn_open or self._closed:
            return
        start = trio.current_time() if at is None else at
        self._turn_open = True
        self._turn_start = start
        self._turn_interrupted = False
        self._usage = None
        self._turns += 1
        if self._tracer is not None:
            self._turn = self._tracer.start_span(
                f"chat {self._model}",
                context=_under(self._session),
                kind=otel_trace.SpanKind.CLIENT,
                start_time=self._ns(start),
                attributes={
                    **self._attrs,
                    "gen_ai.operation.name": "chat",
                    "livehandle.turn.number": self._turns,
                    "livehandle.turn.trigger": trigger,
                },
            )

    def _mark_awaiting(self, trigger: str) -> None:
        self._awaiting = self._awaiting_audio = trio.current_time()
        self._awaiting_trigger = trigger

    def _output(self, *, audio: bool) -> None:
        """Model output: the first after a mark records the latency (and, audio, the TTFA)."""
        now = trio.current_time()
        if not self._turn_open:  # the model speaks first, or answers after a barge-in
            if self._awaiting is None:
                self._begin_turn("model")
            else:  # the user's turn began at the mark, while the interrupted one still ran
                self._begin_turn(self._awaiting_trigger, at=self._awaiting)
        if self._awaiting is not None:
            latency, self._awaiting = now - self._awaiting, None
            if self._meter is not None:
                self._latency.record(latency, self._attrs)
            if self._turn is not None:
                self._turn.set_attribute("livehandle.turn.response_latency", latency)
        if audio and self._awaiting_audio is not None:
            waited, self._awaiting_audio = now - self._awaiting_audio, None
            if self._meter is not None:
                self._first_audio.record(waited, self._attrs)
            if self._turn is not None:
                self._turn.set_attribute("livehandle.turn.time_to_first_audio", waited)

    def _interrupted(self) -> None:
        if self._meter is not None:
            self._interruptions.add(1, self._attrs)
        self._stale = True  # the interrupted reply's output, until its turnComplete, is no answer
        if self._turn_open:
            self._turn_interrupted = True
            if self._turn is not None:
                self._turn.add_event("interrupted", timestamp=self._ns(trio.current_time()))

    def _end_turn(self, reason: str | None, *, complete: bool = True) -> None:
        if not self._turn_open:  # a turnComplete with no output and no start (nothing to time)
            self._begin_turn("model")
        now = trio.current_time()
        self._turn_open = False
        self._stale = False
        attrs = {**self._attrs, "livehandle.turn.interrupted": self._turn_interrupted}
        if self._meter is not None:
            self._turn_duration.record(now - self._turn_start, attrs)
            self._record_tokens(self._usage)
        self._flush_drops()
        span, self._turn = self._turn, None
        if span is None:
            return
        span.set_attribute("livehandle.turn.interrupted", self._turn_interrupted)
        span.set_attribute("livehandle.turn.complete", complete)
        if reason is not None:
            span.set_attribute("gen_ai.response.finish_reasons", (reason,))
        usage = self._usage
        if usage is not None:
            if usage.prompt_token_count is not None:
                span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_token_count)
            if usage.response_token_count is not None:
                span.set_attribute("gen_ai.usage.output_tokens", usage.response_token_count)
        span.end(end_time=self._ns(now))

    def _record_tokens(self, usage: UsageMetadata | None) -> None:
        """The turn's last usage, per token type and modality (the totals when undetailed)."""
        if usage is None:
            return
        for kind, total, details in (
            ("input", usage.prompt_token_count, usage.prompt_tokens_details),
            ("output", usage.response_token_count, usage.response_tokens_details),
        ):
            attrs = {**self._attrs, "gen_ai.operation.name": "chat", "gen_ai.token.type": kind}
            if details:
                for detail in details:
                    if detail.token_count is not None:
                        by = {**attrs, "livehandle.token.modality": detail.modality}
                        self._tokens.record(detail.token_count, by)
            elif total is not None:
                self._tokens.record(total, attrs)

    def _flush_drops(self) -> None:
        """Count the events dropped or lagged since the last flush."""
        if self._meter is None:
            return
        for kind, total in self._telemetry.dropped.items():
            if (new := total - self._dropped.get(kind, 0)) > 0:
                self._dropped_events.add(new, {**self._attrs, "livehandle.event.kind": kind})
                self._dropped[kind] = total
        if (lagged := self._telemetry.lagged - self._lagged) > 0:
            self._lagged_events.add(lagged, self._attrs)
            self._lagged += lagged

    def _session_event(self, name: str, attributes: dict[str, Any]) -> None:
        if self._session is not None and not self._closed:
            self._session.add_event(name, attributes, timestamp=self._ns(trio.current_time()))

    # -- tools ----------------------------------------------------------------------------------

    def _tools_started(self, calls: tuple[FunctionCall, ...]) -> None:
        self._begin_turn("model")
        now = trio.current_time()
        for call in calls:
            key = call.id
            if not key:
                self._anonymous += 1
                key = f"\0{call.name}\0{self._anonymous}"
            span = None
            if self._tracer is not None:
                attributes = {
                    **self._attrs,
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": call.name,
                    "gen_ai.tool.type": "function",
                }
                if call.id:
                    attributes["gen_ai.tool.call.id"] = call.id
                span = self._tracer.start_span(
                    f"execute_tool {call.name}",
                    context=_under(self._turn or self._session),
                    kind=otel_trace.SpanKind.INTERNAL,
                    start_time=self._ns(now),
                    attributes=attributes,
                )
            self._tools[key] = _Tool(call.name, span, now)

    def _find(self, name: str, call_id: str | None) -> str | None:
        if call_id:
            return call_id if call_id in self._tools else None
        prefix = f"\0{name}\0"
        return next((key for key in self._tools if key.startswith(prefix)), None)

    def _tool_answered(self, name: str, call_id: str | None, result: dict[str, object]) -> None:
        key = self._find(name, call_id)
        if key is None:
            return  # answered by the application for a call we never saw start
        call = self._tools.pop(key)
        now = trio.current_time()
        error = _tool_error(result)
        attrs = {**self._attrs, "gen_ai.tool.name": call.name}
        if error is not None:
            attrs["error.type"] = error
        if self._meter is not None:
            self._tool_duration.record(now - call.started, attrs)
            if error is not None:
                self._tool_errors.add(1, attrs)
        if call.span is not None:
            if error is not None:
                call.span.set_attribute("error.type", error)
                call.span.set_status(otel_trace.StatusCode.ERROR, error)
            call.span.end(end_time=self._ns(now))

    def _tools_cancelled(self, ids: tuple[str, ...], reason: str) -> None:
        now = trio.current_time()
        for key in ids:
            call = self._tools.pop(key, None)
            if call is None or call.span is None:
                continue
            call.span.set_attribute("livehandle.tool.cancelled", reason)
            call.span.end(end_time=self._ns(now))
