"""Testing tools shipped with livehandle: the Live API emulator, scenarios, fixtures, audio helpers.

:class:`LiveEmulator` speaks the Gemini Live protocol on 127.0.0.1 (a real WebSocket server) or
in memory (:meth:`LiveEmulator.in_memory`, :meth:`LiveEmulator.memory_transport`, no socket);
:class:`Scenario` scripts how its model behaves; :func:`speech` makes a user turn the emulator
hears as given words, :func:`load_wav` reads a WAV file as Live API input, and
:mod:`livehandle.testing.audio` has the other PCM helpers.  The pytest fixtures
``live_emulator`` and ``live_endpoint`` come from :mod:`livehandle.testing.pytest_plugin`, which
pytest loads on its own.
"""

from __future__ import annotations

from livehandle import _public
from livehandle.testing import audio as audio
from livehandle.testing._checks import DEFAULT_MODELS as DEFAULT_MODELS
from livehandle.testing._conversation import (
    Checkpoint as Checkpoint,
    Conversation as Conversation,
)
from livehandle.testing._emulator import MEMORY_URL as MEMORY_URL, LiveEmulator as LiveEmulator
from livehandle.testing._extractions import (
    Extract as Extract,
    GenerateRequest as GenerateRequest,
)
from livehandle.testing._record import (
    EmulatorConnection as EmulatorConnection,
    Received as Received,
    Sent as Sent,
)
from livehandle.testing._scenario import (
    Audio as Audio,
    CallTools as CallTools,
    Fault as Fault,
    FaultKind as FaultKind,
    Pause as Pause,
    Rule as Rule,
    Say as Say,
    Scenario as Scenario,
    Step as Step,
    ToolCallSpec as ToolCallSpec,
    Transcript as Transcript,
    TurnKind as TurnKind,
    UserTurn as UserTurn,
    When as When,
)
from livehandle.testing._vad import (
    END_HYSTERESIS_DB as END_HYSTERESIS_DB,
    START_THRESHOLD_DBFS as START_THRESHOLD_DBFS,
    ServerVad as ServerVad,
    VadEdge as VadEdge,
)
from livehandle.testing.audio import load_wav as load_wav, speech as speech

__all__ = [
    "DEFAULT_MODELS",
    "END_HYSTERESIS_DB",
    "MEMORY_URL",
    "START_THRESHOLD_DBFS",
    "Audio",
    "CallTools",
    "Checkpoint",
    "Conversation",
    "EmulatorConnection",
    "Extract",
    "Fault",
    "FaultKind",
    "GenerateRequest",
    "LiveEmulator",
    "Pause",
    "Received",
    "Rule",
    "Say",
    "Scenario",
    "Sent",
    "ServerVad",
    "Step",
    "ToolCallSpec",
    "Transcript",
    "TurnKind",
    "UserTurn",
    "VadEdge",
    "When",
    "audio",
    "load_wav",
    "speech",
]

_public.publish(__name__, globals())
