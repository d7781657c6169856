"""The State of a live session (see :class:`~livehandle.State`).

Modules: ``store`` (the State), ``access`` (the read/write API it shares with its views and
deltas), ``views`` (scoped views), ``delta`` (buffered writes), ``journal`` (numbered mutations in
a bounded ring), ``sinks`` (where mutations also go), ``watch`` (watchers and their queue),
``evidence`` (provenance of a value), ``config`` (the settings).
"""

from __future__ import annotations

from livehandle._convert import JsonValue as JsonValue
from livehandle._state.config import StateConfig as StateConfig
from livehandle._state.delta import StateDelta as StateDelta
from livehandle._state.evidence import SlotEvidence as SlotEvidence
from livehandle._state.journal import (
    MutationOrigin as MutationOrigin,
    Mutations as Mutations,
    StateMutation as StateMutation,
)
from livehandle._state.sinks import (
    FileJournalSink as FileJournalSink,
    JournalSink as JournalSink,
    MemoryJournalSink as MemoryJournalSink,
)
from livehandle._state.store import State as State
from livehandle._state.views import DerivedScope as DerivedScope, StateScope as StateScope
from livehandle._state.watch import (
    StateProblem as StateProblem,
    StateProblemKind as StateProblemKind,
    StateWatch as StateWatch,
    WatchPredicate as WatchPredicate,
)

__all__ = [
    "DerivedScope",
    "FileJournalSink",
    "JournalSink",
    "JsonValue",
    "MemoryJournalSink",
    "MutationOrigin",
    "Mutations",
    "SlotEvidence",
    "State",
    "StateConfig",
    "StateDelta",
    "StateMutation",
    "StateProblem",
    "StateProblemKind",
    "StateScope",
    "StateWatch",
    "WatchPredicate",
]
