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
from livehandle.errors import (
    ConnectFailed as ConnectFailed,
    ConnectionClosed as ConnectionClosed,
    ConnectionLost as ConnectionLost,
    InvalidArgument as InvalidArgument,
    Lagged as Lagged,
    NormalClosure as NormalClosure,
    PolicyViolation as PolicyViolation,
    ProtocolError as ProtocolError,
    ServerError as ServerError,
    SessionClosed as SessionClosed,
    SessionError as SessionError,
    SessionTaskFailed as SessionTaskFailed,
    SessionTimeout as SessionTimeout,
)
from livehandle.events import (
    SessionEnd as SessionEnd,
    SessionEvent as SessionEvent,
    SessionPhase as SessionPhase,
)
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
    "Broadcast",
    "BroadcastStatistics",
    "ConnectFailed",
    "ConnectionClosed",
    "ConnectionLost",
    "Endpoint",
    "FunctionCall",
    "FunctionResponse",
    "InvalidArgument",
    "Lagged",
    "MemoryTransport",
    "NormalClosure",
    "PolicyViolation",
    "ProtocolError",
    "ServerError",
    "Session",
    "SessionClosed",
    "SessionEnd",
    "SessionError",
    "SessionEvent",
    "SessionOptions",
    "SessionPhase",
    "SessionTaskFailed",
    "SessionTimeout",
    "Subscription",
    "Transport",
    "WebSocketTransport",
    "__version__",
    "open_session",
]
