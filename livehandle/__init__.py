"""livehandle: a Trio runtime for real-time voice and multimodal agents on the Gemini Live API.

Public names are re-exported here; the submodules are implementation layers (see the architecture
page).  Wire messages live in :mod:`livehandle.wire`, transports in :mod:`livehandle.transport`.
"""

from __future__ import annotations

from livehandle._version import __version__ as __version__
from livehandle.broadcast import (
    Broadcast as Broadcast,
    BroadcastStatistics as BroadcastStatistics,
    Subscription as Subscription,
)
from livehandle.config import Delivery as Delivery, LiveConfig as LiveConfig
from livehandle.errors import (
    ConnectFailed as ConnectFailed,
    ConnectionClosed as ConnectionClosed,
    ConnectionLost as ConnectionLost,
    InvalidArgument as InvalidArgument,
    Lagged as Lagged,
    NormalClosure as NormalClosure,
    PolicyViolation as PolicyViolation,
    ProtocolError as ProtocolError,
    ReactionFailed as ReactionFailed,
    ServerError as ServerError,
    SessionClosed as SessionClosed,
    SessionError as SessionError,
    SessionTaskFailed as SessionTaskFailed,
    SessionTimeout as SessionTimeout,
    StaleToolResponse as StaleToolResponse,
    ToolHookFailed as ToolHookFailed,
)
from livehandle.events import (
    LiveEvent as LiveEvent,
    SessionEnd as SessionEnd,
    SessionEvent as SessionEvent,
    SessionPhase as SessionPhase,
)
from livehandle.handle import LiveHandle as LiveHandle
from livehandle.open import open_live_session as open_live_session
from livehandle.runtime.context import (
    ContextDelivery as ContextDelivery,
    DeferredWriter as DeferredWriter,
    PendingContext as PendingContext,
)
from livehandle.runtime.dispatch import ToolStats as ToolStats
from livehandle.runtime.lanes import Hooks as Hooks
from livehandle.runtime.reactor import VoiceRuntimeState as VoiceRuntimeState
from livehandle.runtime.state import State as State
from livehandle.runtime.telemetry import (
    LatencyStats as LatencyStats,
    SessionTelemetry as SessionTelemetry,
)
from livehandle.runtime.tools import (
    ResultFormatter as ResultFormatter,
    Tool as Tool,
    ToolArgumentError as ToolArgumentError,
    ToolSet as ToolSet,
    ToolTimeout as ToolTimeout,
    tool as tool,
)
from livehandle.runtime.transcript import TranscriptTurn as TranscriptTurn
from livehandle.runtime.vad import (
    BackendInputVad as BackendInputVad,
    BackendVadSnapshot as BackendVadSnapshot,
    TurnCommitConfig as TurnCommitConfig,
    VadConfig as VadConfig,
)
from livehandle.runtime.writer import SessionWriter as SessionWriter
from livehandle.session import (
    Session as Session,
    SessionOptions as SessionOptions,
    open_session as open_session,
)
from livehandle.transport import (
    Endpoint as Endpoint,
    MemoryTransport as MemoryTransport,
    Transport as Transport,
    WebSocketTransport as WebSocketTransport,
)
from livehandle.wire.messages import (
    FunctionCall as FunctionCall,
    FunctionResponse as FunctionResponse,
)

__all__ = [
    "BackendInputVad",
    "BackendVadSnapshot",
    "Broadcast",
    "BroadcastStatistics",
    "ConnectFailed",
    "ConnectionClosed",
    "ConnectionLost",
    "ContextDelivery",
    "DeferredWriter",
    "Delivery",
    "Endpoint",
    "FunctionCall",
    "FunctionResponse",
    "Hooks",
    "InvalidArgument",
    "Lagged",
    "LatencyStats",
    "LiveConfig",
    "LiveEvent",
    "LiveHandle",
    "MemoryTransport",
    "NormalClosure",
    "PendingContext",
    "PolicyViolation",
    "ProtocolError",
    "ReactionFailed",
    "ResultFormatter",
    "ServerError",
    "Session",
    "SessionClosed",
    "SessionEnd",
    "SessionError",
    "SessionEvent",
    "SessionOptions",
    "SessionPhase",
    "SessionTaskFailed",
    "SessionTelemetry",
    "SessionTimeout",
    "SessionWriter",
    "StaleToolResponse",
    "State",
    "Subscription",
    "Tool",
    "ToolArgumentError",
    "ToolHookFailed",
    "ToolSet",
    "ToolStats",
    "ToolTimeout",
    "TranscriptTurn",
    "Transport",
    "TurnCommitConfig",
    "VadConfig",
    "VoiceRuntimeState",
    "WebSocketTransport",
    "__version__",
    "open_live_session",
    "open_session",
    "tool",
]
