"""Testing tools shipped with livehandle: the Live API emulator, scenarios and pytest fixtures.

:class:`LiveEmulator` is a real WebSocket server speaking the Gemini Live protocol on 127.0.0.1;
:class:`Scenario` scripts how its model behaves.  The pytest fixtures ``live_emulator`` and
``live_endpoint`` come from :mod:`livehandle.testing.pytest_plugin`.
"""

from __future__ import annotations

from livehandle.testing.emulator import (
    DEFAULT_MODELS as DEFAULT_MODELS,
    EmulatorConnection as EmulatorConnection,
    LiveEmulator as LiveEmulator,
    Received as Received,
    Sent as Sent,
)
from livehandle.testing.scenario import (
    Audio as Audio,
    CallTools as CallTools,
    Fault as Fault,
    Pause as Pause,
    Rule as Rule,
    Say as Say,
    Scenario as Scenario,
    ToolCallSpec as ToolCallSpec,
    Transcript as Transcript,
    UserTurn as UserTurn,
    When as When,
)

__all__ = [
    "DEFAULT_MODELS",
    "Audio",
    "CallTools",
    "EmulatorConnection",
    "Fault",
    "LiveEmulator",
    "Pause",
    "Received",
    "Rule",
    "Say",
    "Scenario",
    "Sent",
    "ToolCallSpec",
    "Transcript",
    "UserTurn",
    "When",
]
