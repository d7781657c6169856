"""User-facing session configuration: :class:`LiveConfig` and its nested :class:`Delivery` policies.

A :class:`LiveConfig` describes one live session in plain Python terms (a voice name, a VAD
silence in milliseconds, "resume this handle") and :meth:`LiveConfig.to_setup` turns it into the
wire ``setup`` message for a given :class:`~livehandle.Endpoint`.  Settings left
at ``None`` / ``False`` are omitted from the wire, so the server's own defaults apply and the
default config produces a minimal setup (AUDIO output, both transcriptions on).

The class also carries the runtime's own knobs (queue capacities, per-event-class delivery policies,
the telemetry interval, timeouts) and the strategy for changing the system instruction mid-session
(:meth:`LiveConfig.effective_instruction_update`, :meth:`LiveConfig.instruction_update_message`).

Every check runs when the config is built (or, for endpoint-dependent checks, in ``to_setup``) and
fails with a :class:`ValueError` that names the field and the reason.

Example::

    from livehandle._config.live import LiveConfig
    from livehandle._transport import Endpoint

    config = LiveConfig(
        instruction="You are a concise travel agent.",
        voice="Kore",
        silence_duration_ms=600,
        session_resumption=True,
    )
    setup = config.to_setup(Endpoint.google_ai(api_key))
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import attrs

from livehandle._config.checks import (
    activity_handling,
    at_least,
    callable_or_none,
    check_model,
    check_temperature,
    end_sensitivity,
    instance_or_none,
    media_resolution,
    one_of,
    positive_seconds,
    response_modality,
    start_sensitivity,
    thinking_level,
    transcription_mode,
    turn_coverage,
    voice_sample,
)
from livehandle._config.components import extractors as check_extractors, tools as check_tools
from livehandle._config.delivery import ContextDelivery, Delivery
from livehandle._config.flow_mode import FlowMode, flow_mode
from livehandle._config.hooks import (
    BeforeToolResponse,
    OnToolCall,
)
from livehandle._config.instruction import (
    INSTRUCTION_UPDATES,
    InstructionUpdate,
    ResolvedInstructionUpdate,
    instruction_message,
    resolve_instruction_update,
)
from livehandle._config.otel import OtelConfig
from livehandle._config.setup import SetupBuilder
from livehandle._config.voice import (
    TurnCommitConfig,
    VadConfig,
)
from livehandle._continuity.policy import ResumePolicy
from livehandle._extract.protocol import TurnExtractor
from livehandle._flow import Flow
from livehandle._state import StateConfig
from livehandle._tools.declare import Tool, ToolSet
from livehandle._wire import messages as m

if TYPE_CHECKING:
    from livehandle._transport.endpoints import Endpoint

_NO_NAMES: frozenset[str] = frozenset()

__all__ = [
    "DEFAULT_MODEL",
    "MODEL_ENV",
    "LiveConfig",
]

#: The model used when neither ``model=`` nor the ``GEMINI_MODEL`` environment variable is given.
DEFAULT_MODEL = "gemini-3.8-live"

#: The environment variable that overrides :data:`DEFAULT_MODEL`.
MODEL_ENV = "GEMINI_MODEL"


# --------------------------------------------------------------------------------------------
# Converters and validators
# --------------------------------------------------------------------------------------------


def _default_model() -> str:
    return os.environ.get(MODEL_ENV) or DEFAULT_MODEL


def _context_delivery(value: ContextDelivery | str) -> ContextDelivery:
    if isinstance(value, ContextDelivery):
        return value
    if isinstance(value, str):
        try:
            return ContextDelivery(value.lower())
        except ValueError:
            pass
    choices = ", ".join(member.value for member in ContextDelivery)
    raise ValueError(f"context_delivery: unknown value {value!r}; expected one of {choices}")


def _sample_repr(value: bytes | None) -> str:
    return "None" if value is None else f"<{len(value)} bytes>"


# --------------------------------------------------------------------------------------------
# Public classes
# --------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class LiveConfig(SetupBuilder):
    """How a live session is set up and run; every argument is keyword-only.

    Attributes:
        model: the model id, bare (``gemini-3.8-live``) or qualified (``models/...``, a Vertex
            resource name); written for the endpoint by ``Endpoint.model_name``.  Default: the
            ``GEMINI_MODEL`` environment variable when set (read when the config is built), else
            :data:`DEFAULT_MODEL`.
        instruction: the system instruction (``setup.systemInstruction``), or None for none.
        response_modality: the one output modality.  Accepts a
            :class:`~livehandle.lowlevel.Modality`, its name in any case (``"audio"``), or a
            sequence of them that names a single modality; the Live API rejects more than one.
        voice: a prebuilt voice name (``Kore``, ``Puck``, ...), or None for the server's.
        voice_sample: a custom (replicated) voice: a sample of the voice to speak with, sent as
            ``speechConfig.voiceConfig.replicatedVoiceConfig``; the server answers with a
            consent signature in ``setupComplete``.  Shown as its length in ``repr``.  Not with
            ``voice``.
        voice_sample_mime_type: the sample's MIME type; None lets the server assume
            ``audio/wav`` (16-bit little-endian PCM, 24 kHz).  Only with ``voice_sample``.
        language_code: BCP-47 code of the spoken output (``de-DE``); native-audio models choose
            the language themselves and do not support it.
        input_transcription: ask for transcripts of the user's speech.
        output_transcription: ask for transcripts of the model's speech.
        transcription_mode: how the requested transcriptions are written: ``"SMART"`` or
            ``"VERBATIM"`` (a :class:`~livehandle.lowlevel.TranscriptionMode` or its name in any
            case); None keeps the server default.  Needs a transcription turned on.
        interim_transcript_timestamps: ask for timestamps on interim transcripts
            (``realtimeInputConfig.interimTranscriptTimestampEnabled``); None leaves it out.
        server_vad: let the server detect speech turns.  False disables automatic activity
            detection and the client marks turns with ``activityStart`` / ``activityEnd``.
        start_sensitivity: how readily server VAD commits the start of speech.
        end_sensitivity: how readily server VAD commits the end of speech.
        prefix_padding_ms: speech required before a start of speech is committed (ms).
        silence_duration_ms: silence required before an end of speech is committed (ms);
            500-800 is the documented sweet spot.
        activity_handling: whether user activity interrupts the model; None keeps the server
            default (barge-in on).
        turn_coverage: which realtime input belongs to a user turn; None keeps the server default.
        temperature: sampling temperature, 0 to 2.
        max_output_tokens: cap on tokens per response (> 0).
        thinking_budget: thinking tokens (>= 0; 0 disables) for models that take a budget.
        thinking_level: how much models that take a level think: ``MINIMAL``, ``LOW``,
            ``MEDIUM`` or ``HIGH`` (a :class:`~livehandle.lowlevel.ThinkingLevel` or its name in
            any case; sent upper case).  Not with ``thinking_budget``.
        media_resolution: token budget per video frame.
        proactive_audio: let the model stay silent when the input does not call for a reply
            (native-audio models); None leaves ``proactivity`` out.
        proactive_video: let the model speak up about what it sees in the video input
            (``proactivity.proactiveVideo``); None leaves it out.
        affective_dialog: adapt the voice to the user's tone (native-audio models that support it).
        session_resumption: ask the server for resumption handles.
        resume_handle: resume the session this handle belongs to; implies ``session_resumption``.
        transparent_resumption: make the server report the last consumed client message index
            (Vertex only; ``to_setup`` refuses other backends).  Implies ``session_resumption``.
        auto_resume: keep one handle across connections: after a ``goAway`` or a dropped
            connection, reconnect with the newest resumable handle and replay what the server
            may not have (see the resumption how-to).  Implies ``session_resumption``.
        resume_policy: the bounds of ``auto_resume`` (attempts, backoff, buffers).
        compression_trigger_tokens: context size that triggers sliding-window compression (> 0);
            None keeps the server default (80% of the context window).
        compression_target_tokens: context size compression slides down to (> 0, below the
            trigger); None keeps the server default (half the trigger).
        context_compression: enable context-window compression with server defaults; setting
            either token count enables it as well.
        tools: the tools offered to the model: functions decorated with :func:`~livehandle.tool`
            (run and answered by the session) and wire tools (``m.Tool``, e.g. Google Search,
            or function declarations the application answers itself); any iterable is stored
            as a tuple.  A function name may be declared once.
        on_tool_call: ``on_tool_call(calls, state)``, sync or async: return the answers
            (``FunctionResponse`` list) to answer a ``toolCall`` message yourself, or None to
            let the registered tools run.
        before_tool_response: ``before_tool_response(responses, state)``, sync or async:
            returns the answers to send instead (e.g. to redact or enrich them).
        manual_tools: leave calls to functions that are neither ``@tool`` functions nor
            declared in a wire tool to the application (``handle.send_tool_response``); by
            default such a call is answered with ``{"error": "unknown tool ..."}`` so the model
            never waits for ever.  Calls to functions declared in a wire tool are always left
            to the application.
        lane_capacity: events each fast lane may buffer before its delivery policy applies (>= 1).
        event_capacity: events each subscriber may fall behind before it lags (>= 1).
        outbound_capacity: client messages that may queue before sends wait (>= 1).
        delivery: delivery policy per fast-lane event class, see :class:`Delivery`.
        telemetry_interval: seconds between periodic telemetry snapshots; None for none.
        instruction_update: how :meth:`instruction_update_message` changes the instruction
            mid-session; ``"auto"`` picks per model and backend, see
            :meth:`effective_instruction_update`.
        context_delivery: when context built at a turn boundary reaches the model: at once
            (``"immediate"``, the default) or with the user's next send (``"deferred"``; an armed
            prompt then waits for ``playback_drained()`` or ``user_speech_ended()``).
        input_vad: the client-side input VAD run on every ``send_audio`` chunk (its edges call
            ``user_speech_started``/``user_speech_ended``); None turns it off.
        turn_commit: with ``server_vad=False``, when input-VAD edges become ``activityStart`` /
            ``activityEnd`` marks (see :class:`~livehandle.TurnCommitConfig` presets);
            None sends a mark at each edge.
        state: the session state's settings (journal size and sink, redacted keys, the
            watcher queue and timeout), see :class:`~livehandle.StateConfig`.
        extractors: turn extractors (functions decorated with :func:`~livehandle.extractor`,
            :class:`~livehandle.LlmExtractor` objects, or any :class:`~livehandle.TurnExtractor`)
            run by the turn pipeline; names must differ.  Any iterable is stored as a tuple.
        flow: a :class:`~livehandle.Flow` governing the conversation: the tools it admits,
            the guidance the model gets at each turn boundary, what ``handle.explain()`` says.
            Every tool it names must be one of :attr:`tools` (a ``@tool`` function or a
            declared function), or :class:`~livehandle.FlowError` says which step names it.
        flow_mode: ``"enforce"`` (the default: a call the flow does not admit is answered
            ``{"error": <reason>}`` and never runs) or ``"observe"`` (it runs; the violation is
            recorded and published), see :class:`~livehandle.FlowMode`.
        turn_step_timeout: seconds each bounded step of the turn pipeline (extractors,
            watchers, the flow, context delivery) may take before it is cancelled and
            reported (> 0); also the default bound of a flow step's ``on_enter`` action.
        otel: export spans and metrics through OpenTelemetry (see
            :class:`~livehandle.OtelConfig`); None, the default, exports nothing and never
            imports OpenTelemetry.
        connect_timeout: seconds to open the connection (> 0).
        setup_timeout: seconds to wait for ``setupComplete`` after sending ``setup`` (> 0).

    Raises:
        ValueError: a setting is out of range, or settings contradict each other; the message
            names the field.
    """

    model: str = attrs.field(default=attrs.Factory(_default_model), validator=check_model)
    instruction: str | None = None
    response_modality: m.Modality = attrs.field(
        default=m.Modality.AUDIO, converter=response_modality
    )
    voice: str | None = None
    voice_sample: bytes | None = attrs.field(
        default=None,
        repr=_sample_repr,
        converter=voice_sample,
    )
    voice_sample_mime_type: str | None = None
    language_code: str | None = None
    input_transcription: bool = True
    output_transcription: bool = True
    transcription_mode: m.TranscriptionMode | None = attrs.field(
        default=None, converter=transcription_mode
    )
    interim_transcript_timestamps: bool | None = None

    server_vad: bool = True
    start_sensitivity: m.StartSensitivity | None = attrs.field(
        default=None, converter=start_sensitivity
    )
    end_sensitivity: m.EndSensitivity | None = attrs.field(default=None, converter=end_sensitivity)
    prefix_padding_ms: int | None = attrs.field(default=None, validator=at_least(0, "ms"))
    silence_duration_ms: int | None = attrs.field(default=None, validator=at_least(0, "ms"))
    activity_handling: m.ActivityHandling | None = attrs.field(
        default=None, converter=activity_handling
    )
    turn_coverage: m.TurnCoverage | None = attrs.field(default=None, converter=turn_coverage)

    temperature: float | None = attrs.field(default=None, validator=check_temperature)
    max_output_tokens: int | None = attrs.field(default=None, validator=at_least(1))
    thinking_budget: int | None = attrs.field(default=None, validator=at_least(0))
    thinking_level: m.ThinkingLevel | None = attrs.field(default=None, converter=thinking_level)
    media_resolution: m.MediaResolution | None = attrs.field(
        default=None, converter=media_resolution
    )
    proactive_audio: bool | None = None
    proactive_video: bool | None = None
    affective_dialog: bool | None = None

    session_resumption: bool = False
    resume_handle: str | None = None
    transparent_resumption: bool = False
    auto_resume: bool = attrs.field(default=False, validator=attrs.validators.instance_of(bool))
    resume_policy: ResumePolicy = attrs.field(
        factory=ResumePolicy, validator=attrs.validators.instance_of(ResumePolicy)
    )

    compression_trigger_tokens: int | None = attrs.field(default=None, validator=at_least(1))
    compression_target_tokens: int | None = attrs.field(default=None, validator=at_least(1))
    context_compression: bool = False

    tools: tuple[m.Tool | Tool, ...] = attrs.field(default=(), converter=check_tools)
    on_tool_call: OnToolCall | None = attrs.field(default=None, validator=callable_or_none)
    before_tool_response: BeforeToolResponse | None = attrs.field(
        default=None, validator=callable_or_none
    )
    manual_tools: bool = False

    lane_capacity: int = attrs.field(default=512, validator=at_least(1))
    event_capacity: int = attrs.field(default=512, validator=at_least(1))
    outbound_capacity: int = attrs.field(default=256, validator=at_least(1))
    delivery: Delivery = attrs.field(factory=Delivery)
    telemetry_interval: float | None = attrs.field(default=None, validator=positive_seconds)

    instruction_update: InstructionUpdate = attrs.field(
        default="auto", validator=one_of(INSTRUCTION_UPDATES, "strategy")
    )

    context_delivery: ContextDelivery = attrs.field(
        default=ContextDelivery.IMMEDIATE, converter=_context_delivery
    )
    input_vad: VadConfig | None = attrs.field(
        factory=VadConfig, validator=instance_or_none(VadConfig)
    )
    turn_commit: TurnCommitConfig | None = attrs.field(
        default=None, validator=instance_or_none(TurnCommitConfig)
    )

    state: StateConfig = attrs.field(
        factory=StateConfig, validator=attrs.validators.instance_of(StateConfig)
    )
    extractors: tuple[TurnExtractor, ...] = attrs.field(default=(), converter=check_extractors)
    flow: Flow | None = attrs.field(
        default=None, validator=attrs.validators.optional(attrs.validators.instance_of(Flow))
    )
    flow_mode: FlowMode = attrs.field(default=FlowMode.ENFORCE, converter=flow_mode)
    turn_step_timeout: float = attrs.field(default=30.0, validator=positive_seconds)
    otel: OtelConfig | None = attrs.field(default=None, validator=instance_or_none(OtelConfig))
    connect_timeout: float = attrs.field(default=10.0, validator=positive_seconds)
    setup_timeout: float = attrs.field(default=15.0, validator=positive_seconds)

    def __attrs_post_init__(self) -> None:
        self._check_choices()
        if self.flow is not None:
            self.flow.check_tools(self.tool_names)
        if not self.server_vad:
            tuned = [
                name
                for name in (
                    "start_sensitivity",
                    "end_sensitivity",
                    "prefix_padding_ms",
                    "silence_duration_ms",
                )
                if getattr(self, name) is not None
            ]
            if tuned:
                raise ValueError(
                    f"{', '.join(tuned)}: server VAD tuning is ignored when server_vad=False "
                    "(the client marks activity); remove it or enable server_vad"
                )
        if self.turn_commit is not None:
            if self.server_vad:
                raise ValueError(
                    "turn_commit: a turn-commit policy decides when the client sends activity "
                    "marks, which only happens with server_vad=False; remove it or disable "
                    "server_vad"
                )
            if self.input_vad is None:
                raise ValueError(
                    "turn_commit: a turn-commit policy needs the input VAD's edges; "
                    "set input_vad (e.g. VadConfig()) or remove turn_commit"
                )
        trigger, target = self.compression_trigger_tokens, self.compression_target_tokens
        if trigger is not None and target is not None and target >= trigger:
            raise ValueError(
                f"compression_target_tokens ({target}) must be smaller than "
                f"compression_trigger_tokens ({trigger}): compression slides the context down "
                "from the trigger to the target"
            )
        if not isinstance(self.delivery, Delivery):
            raise ValueError(
                f"delivery: expected a livehandle.Delivery, got {type(self.delivery).__name__}"
            )

    def _check_choices(self) -> None:
        """Settings that exclude or need each other (ValueError naming both)."""
        if self.voice is not None and self.voice_sample is not None:
            raise ValueError(
                "voice, voice_sample: choose a prebuilt voice or a replicated one, not both"
            )
        if self.voice_sample_mime_type is not None and self.voice_sample is None:
            raise ValueError("voice_sample_mime_type: describes voice_sample, which is not set")
        if self.thinking_budget is not None and self.thinking_level is not None:
            raise ValueError(
                "thinking_budget, thinking_level: a model takes a budget (2.5) or a level (3.x); "
                "set one of them"
            )
        transcribing = self.input_transcription or self.output_transcription
        for name in ("transcription_mode", "interim_transcript_timestamps"):
            if getattr(self, name) not in (None, False) and not transcribing:
                raise ValueError(
                    f"{name}: no transcription is requested; turn on input_transcription or "
                    f"output_transcription, or remove {name}"
                )

    # -- setup --------------------------------------------------------------------------------

    def to_setup(self, endpoint: Endpoint) -> m.Setup:
        """Build the wire ``setup`` message for ``endpoint``.

        Settings left at None / False are omitted so the server defaults apply.
        ``responseModalities`` is always sent (the SDKs always send it on Vertex, and it costs
        nothing on Google AI).

        Raises:
            ValueError: ``transparent_resumption`` is set and ``endpoint`` is not Vertex.
        """
        return self._build_setup(endpoint)

    @property
    def declared_functions(self) -> frozenset[str]:
        """Functions declared as wire tools (not ``@tool``): the application answers them."""
        names = frozenset(
            d.name
            for t in self.tools
            if isinstance(t, m.Tool)
            for d in t.function_declarations or ()
        )
        return names or _NO_NAMES  # an empty set shared by every session that declares none

    @property
    def tool_names(self) -> frozenset[str]:
        """Every function the model may call: the ``@tool`` functions and the declared ones."""
        return frozenset(t.name for t in self.function_tools) | self.declared_functions

    @property
    def function_tools(self) -> ToolSet:
        """The ``@tool`` functions among :attr:`tools`, which the session runs itself."""
        return ToolSet(t for t in self.tools if isinstance(t, Tool))

    # -- instruction updates --------------------------------------------------------------------

    def effective_instruction_update(self, endpoint: Endpoint) -> ResolvedInstructionUpdate:
        """The instruction-update strategy for this model on ``endpoint``.

        An explicit ``instruction_update`` is returned as is.  ``"auto"`` resolves to:

        1. ``"context_update"`` for Gemini 3.8 and later.  The version is read from the model id
           (the part after the last ``/``): ``gemini-`` (optionally ``gemini-live-``), then
           ``MAJOR[.MINOR]``, compared as a pair of integers, so ``gemini-3.8-live``,
           ``gemini-3.10-...`` and ``gemini-4-...`` qualify.  Ids without a version never do.
        2. ``"system_turn"`` on Vertex, which documents a ``system``-role turn as replacing the
           instruction for the rest of the session.
        3. ``"model_turn"`` otherwise: Google AI silently ignores ``role: system`` turns (LiveKit's
           finding, wire-protocol §4.2), so the new instruction is injected as a model turn.
        """
        return resolve_instruction_update(self.instruction_update, self.model, endpoint.backend)

    def instruction_update_message(self, text: str, endpoint: Endpoint) -> m.ClientMessage:
        """The client message that replaces the system instruction with ``text`` mid-session.

        * ``context_update``: ``contextUpdate {systemInstruction}``;
        * ``system_turn``: ``clientContent`` with one ``system``-role turn, ``turnComplete: false``;
        * ``model_turn``: ``clientContent`` with one ``model``-role turn stating that the model
          follows the new instructions from now on, ``turnComplete: false`` (approximate: the
          model reads it as its own words, it does not replace the setup instruction).

        The strategy is :meth:`effective_instruction_update` for ``endpoint``.

        Raises:
            ValueError: ``text`` is empty.
        """
        return instruction_message(text, self.effective_instruction_update(endpoint))
