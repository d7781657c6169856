"""livehandle: a Trio runtime for real-time voice and multimodal agents on the Gemini Live API.

This namespace holds what a bot author uses.  Two more public namespaces sit beside it:
:mod:`livehandle.testing` (the emulator, scenarios, fixtures and audio helpers) and
:mod:`livehandle.lowlevel` (the L0 session, wire messages and codec, transports, broadcasts).
Every other module is private; each public name reports its namespace as ``__module__``.
"""

from __future__ import annotations

import warnings as _warnings
from typing import Any as _Any

from livehandle import _deprecated, _public
from livehandle._broadcast import Subscription as Subscription
from livehandle._config.delivery import (
    ContextDelivery as ContextDelivery,
    Delivery as Delivery,
    DeliveryPolicy as DeliveryPolicy,
)
from livehandle._config.flow_mode import FlowMode as FlowMode
from livehandle._config.hooks import (
    BeforeToolResponse as BeforeToolResponse,
    OnToolCall as OnToolCall,
)
from livehandle._config.instruction import (
    InstructionUpdate as InstructionUpdate,
    ResolvedInstructionUpdate as ResolvedInstructionUpdate,
)
from livehandle._config.live import (
    DEFAULT_MODEL as DEFAULT_MODEL,
    MODEL_ENV as MODEL_ENV,
    LiveConfig as LiveConfig,
)
from livehandle._config.otel import OtelConfig as OtelConfig
from livehandle._config.voice import (
    TurnCommitConfig as TurnCommitConfig,
    VadConfig as VadConfig,
)
from livehandle._continuity.policy import ResumePolicy as ResumePolicy
from livehandle._convert import JsonValue as JsonValue
from livehandle._errors import (
    ConnectFailed as ConnectFailed,
    ConnectionClosed as ConnectionClosed,
    ConnectionLost as ConnectionLost,
    ExtractionFailed as ExtractionFailed,
    ExtractorRequestFailed as ExtractorRequestFailed,
    FlowActionFailed as FlowActionFailed,
    FlowError as FlowError,
    FlowGuardFailed as FlowGuardFailed,
    InvalidArgument as InvalidArgument,
    Lagged as Lagged,
    LeaseLost as LeaseLost,
    NormalClosure as NormalClosure,
    PersistenceError as PersistenceError,
    PolicyViolation as PolicyViolation,
    ProtocolError as ProtocolError,
    ReactionFailed as ReactionFailed,
    ResumeFailed as ResumeFailed,
    ServerError as ServerError,
    SessionClosed as SessionClosed,
    SessionError as SessionError,
    SessionOwned as SessionOwned,
    SessionTaskFailed as SessionTaskFailed,
    SessionTimeout as SessionTimeout,
    SnapshotMismatch as SnapshotMismatch,
    StaleToolResponse as StaleToolResponse,
    StateFailed as StateFailed,
    ToolArgumentError as ToolArgumentError,
    ToolHookFailed as ToolHookFailed,
    ToolTimeout as ToolTimeout,
    TurnStepTimeout as TurnStepTimeout,
)
from livehandle._events import (
    LiveEvent as LiveEvent,
    SessionEnd as SessionEnd,
    SessionEvent as SessionEvent,
    SessionPhase as SessionPhase,
)
from livehandle._extract.decorator import (
    FunctionExtractor as FunctionExtractor,
    extractor as extractor,
)
from livehandle._extract.llm import LlmExtractor as LlmExtractor
from livehandle._extract.promotion import Promotion as Promotion
from livehandle._extract.protocol import (
    ExtractionTrigger as ExtractionTrigger,
    TriggerKind as TriggerKind,
    TurnExtractor as TurnExtractor,
)
from livehandle._extract.turns import (
    ToolCallSummary as ToolCallSummary,
    TranscriptTurn as TranscriptTurn,
)
from livehandle._flow import (
    Flow as Flow,
    FlowExplanation as FlowExplanation,
    Guard as Guard,
    GuardTrace as GuardTrace,
    Resume as Resume,
    Step as Step,
    StepAction as StepAction,
    StepEntry as StepEntry,
    Verdict as Verdict,
    Violation as Violation,
    all_of as all_of,
    always as always,
    any_of as any_of,
    before as before,
    called_ok as called_ok,
    captured as captured,
    custom as custom,
    done as done,
    eq as eq,
    is_set as is_set,
    is_true as is_true,
    never_until as never_until,
    not_ as not_,
    once as once,
    render_ground as render_ground,
    require as require,
    resolved as resolved,
)
from livehandle._handle import LiveHandle as LiveHandle
from livehandle._open import open_live_session as open_live_session
from livehandle._persist.file import FileStore as FileStore
from livehandle._persist.memory import MemoryStore as MemoryStore
from livehandle._persist.redis import RedisStore as RedisStore
from livehandle._persist.snapshot import SessionSnapshot as SessionSnapshot
from livehandle._persist.store import Lease as Lease, SessionStore as SessionStore
from livehandle._runtime.answers import ToolStats as ToolStats
from livehandle._runtime.reactor import VoiceRuntimeState as VoiceRuntimeState
from livehandle._runtime.telemetry import (
    HISTOGRAM_BOUNDS_MS as HISTOGRAM_BOUNDS_MS,
    PERCENTILE_WINDOW as PERCENTILE_WINDOW,
    LatencyStats as LatencyStats,
    SessionTelemetry as SessionTelemetry,
)
from livehandle._runtime.turn_commit import (
    TurnCommitPolicy as TurnCommitPolicy,
    TurnSignal as TurnSignal,
)
from livehandle._runtime.vad import (
    BackendInputVad as BackendInputVad,
    BackendVadSnapshot as BackendVadSnapshot,
    VadEvent as VadEvent,
    VadState as VadState,
)
from livehandle._state import (
    DerivedScope as DerivedScope,
    FileJournalSink as FileJournalSink,
    JournalSink as JournalSink,
    MemoryJournalSink as MemoryJournalSink,
    MutationOrigin as MutationOrigin,
    Mutations as Mutations,
    SlotEvidence as SlotEvidence,
    State as State,
    StateConfig as StateConfig,
    StateDelta as StateDelta,
    StateMutation as StateMutation,
    StateProblem as StateProblem,
    StateProblemKind as StateProblemKind,
    StateScope as StateScope,
    StateWatch as StateWatch,
    WatchPredicate as WatchPredicate,
)
from livehandle._tools.declare import (
    Tool as Tool,
    ToolSet as ToolSet,
    tool as tool,
)
from livehandle._tools.results import ResultFormatter as ResultFormatter
from livehandle._transport.endpoints import Endpoint as Endpoint
from livehandle._version import __version__ as __version__
from livehandle._wire.messages import (
    FunctionCall as FunctionCall,
    FunctionResponse as FunctionResponse,
)

__all__ = [
    "DEFAULT_MODEL",
    "HISTOGRAM_BOUNDS_MS",
    "MODEL_ENV",
    "PERCENTILE_WINDOW",
    "BackendInputVad",
    "BackendVadSnapshot",
    "BeforeToolResponse",
    "ConnectFailed",
    "ConnectionClosed",
    "ConnectionLost",
    "ContextDelivery",
    "Delivery",
    "DeliveryPolicy",
    "DerivedScope",
    "Endpoint",
    "ExtractionFailed",
    "ExtractionTrigger",
    "ExtractorRequestFailed",
    "FileJournalSink",
    "FileStore",
    "Flow",
    "FlowActionFailed",
    "FlowError",
    "FlowExplanation",
    "FlowGuardFailed",
    "FlowMode",
    "FunctionCall",
    "FunctionExtractor",
    "FunctionResponse",
    "Guard",
    "GuardTrace",
    "InstructionUpdate",
    "InvalidArgument",
    "JournalSink",
    "JsonValue",
    "Lagged",
    "LatencyStats",
    "Lease",
    "LeaseLost",
    "LiveConfig",
    "LiveEvent",
    "LiveHandle",
    "LlmExtractor",
    "MemoryJournalSink",
    "MemoryStore",
    "MutationOrigin",
    "Mutations",
    "NormalClosure",
    "OnToolCall",
    "OtelConfig",
    "PersistenceError",
    "PolicyViolation",
    "Promotion",
    "ProtocolError",
    "ReactionFailed",
    "RedisStore",
    "ResolvedInstructionUpdate",
    "ResultFormatter",
    "Resume",
    "ResumeFailed",
    "ResumePolicy",
    "ServerError",
    "SessionClosed",
    "SessionEnd",
    "SessionError",
    "SessionEvent",
    "SessionOwned",
    "SessionPhase",
    "SessionSnapshot",
    "SessionStore",
    "SessionTaskFailed",
    "SessionTelemetry",
    "SessionTimeout",
    "SlotEvidence",
    "SnapshotMismatch",
    "StaleToolResponse",
    "State",
    "StateConfig",
    "StateDelta",
    "StateFailed",
    "StateMutation",
    "StateProblem",
    "StateProblemKind",
    "StateScope",
    "StateWatch",
    "Step",
    "StepAction",
    "StepEntry",
    "Subscription",
    "Tool",
    "ToolArgumentError",
    "ToolCallSummary",
    "ToolHookFailed",
    "ToolSet",
    "ToolStats",
    "ToolTimeout",
    "TranscriptTurn",
    "TriggerKind",
    "TurnCommitConfig",
    "TurnCommitPolicy",
    "TurnExtractor",
    "TurnSignal",
    "TurnStepTimeout",
    "VadConfig",
    "VadEvent",
    "VadState",
    "Verdict",
    "Violation",
    "VoiceRuntimeState",
    "WatchPredicate",
    "__version__",
    "all_of",
    "always",
    "any_of",
    "before",
    "called_ok",
    "captured",
    "custom",
    "done",
    "eq",
    "extractor",
    "is_set",
    "is_true",
    "never_until",
    "not_",
    "once",
    "open_live_session",
    "render_ground",
    "require",
    "resolved",
    "tool",
]

_public.publish(__name__, globals())

# Imported here so that the low-level names report their namespace from the first import on.
from livehandle import lowlevel as lowlevel  # noqa: E402

# The previous release's module paths (livehandle.wire.messages, livehandle.transport...).
_deprecated.install()

#: Names that moved to :mod:`livehandle.lowlevel`; still importable from here for one release.
_MOVED_TO_LOWLEVEL = frozenset(
    {
        "Broadcast",
        "BroadcastStatistics",
        "DeferredWriter",
        "Hooks",
        "MemoryTransport",
        "PendingContext",
        "Session",
        "SessionOptions",
        "SessionWriter",
        "Transport",
        "WebSocketTransport",
        "open_session",
    }
)


def __getattr__(name: str) -> _Any:
    if name in _MOVED_TO_LOWLEVEL:
        _warnings.warn(
            f"livehandle.{name} moved to livehandle.lowlevel.{name}; the old name goes away "
            "in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        from livehandle import lowlevel

        return getattr(lowlevel, name)
    raise AttributeError(f"module 'livehandle' has no attribute {name!r}")
