"""Journal sinks, redaction, snapshots and problem reporting for sinks."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from livehandle import (
    FileJournalSink,
    JournalSink,
    MemoryJournalSink,
    MutationOrigin,
    State,
    StateConfig,
    StateMutation,
    StateProblem,
    StateProblemKind,
)

if TYPE_CHECKING:
    from pathlib import Path


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_the_sinks_satisfy_the_protocol(tmp_path: Path) -> None:
    file_sink = FileJournalSink(tmp_path / "j.jsonl")
    assert isinstance(MemoryJournalSink(), JournalSink)
    assert isinstance(file_sink, JournalSink)
    file_sink.close()


def test_memory_sink_gets_every_change_in_order_and_counts_what_it_drops() -> None:
    sink = MemoryJournalSink(capacity=2)
    state = State(StateConfig(journal_sink=sink))
    state.set("a", 1)
    state.set("a", 1)  # no change
    state.set("b", 2)
    state.remove("a")

    assert [(m.sequence, m.key) for m in sink.mutations] == [(2, "b"), (3, "a")]
    assert sink.dropped == 1
    state.close_sink()
    assert sink.closed
    state.set("c", 3)  # the sink is no longer used
    assert len(sink.mutations) == 2


def test_memory_sink_checks_its_capacity() -> None:
    with pytest.raises(ValueError, match="capacity"):
        MemoryJournalSink(0)


def test_file_sink_flushes_when_a_write_finds_the_oldest_line_old_enough(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "journal.jsonl"
    sink = FileJournalSink(path, flush_interval=1.0, clock=clock)
    state = State(StateConfig(journal_sink=sink))

    state.set("a", 1)
    clock.now = 0.5
    state.set("b", 2)
    assert path.read_text() == ""  # buffered
    assert sink.buffered == 2

    clock.now = 1.0  # the first line is now 1 s old
    state.set("c", 3)
    assert [line["key"] for line in _lines(path)] == ["a", "b", "c"]
    assert sink.buffered == 0

    clock.now = 1.5
    state.set("d", 4)
    assert len(_lines(path)) == 3  # a new buffer started at 1.5
    sink.close()


def test_file_sink_flushes_when_full_on_flush_and_on_close(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    sink = FileJournalSink(path, flush_interval=60.0, max_buffered=2, clock=FakeClock())
    state = State(StateConfig(journal_sink=sink), clock=lambda: 7.0)

    state.set("a", 1)
    assert _lines(path) == []
    state.set("b", 2)  # full
    assert len(_lines(path)) == 2

    state.set("c", 3)
    state.flush_sink()
    assert len(_lines(path)) == 3

    state.set("d", [1, {"x": None}])
    state.close_sink()
    assert sink.closed
    assert _lines(path)[-1] == {
        "sequence": 4,
        "key": "d",
        "old": None,
        "new": [1, {"x": None}],
        "old_present": False,
        "new_present": True,
        "origin": "set",
        "time": 7.0,
    }
    sink.close()  # closing twice does nothing


def test_file_sink_appends_to_an_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text('{"earlier": true}\n', encoding="utf-8")
    sink = FileJournalSink(path)
    state = State(StateConfig(journal_sink=sink))
    state.set("a", 1)
    state.close_sink()

    assert [line.get("key") for line in _lines(path)] == [None, "a"]


def test_file_sink_refuses_bad_settings_and_a_write_after_close(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="flush_interval"):
        FileJournalSink(tmp_path / "j", flush_interval=0)
    with pytest.raises(ValueError, match="max_buffered"):
        FileJournalSink(tmp_path / "j", max_buffered=0)
    with pytest.raises(FileNotFoundError):
        FileJournalSink(tmp_path / "missing-dir" / "j")
    sink = FileJournalSink(tmp_path / "j")
    sink.close()
    mutation = StateMutation(1, "a", None, 1, MutationOrigin.SET, 0.0, False, True)
    with pytest.raises(ValueError, match="closed"):
        sink.write(mutation)


class BrokenSink:
    def __init__(self) -> None:
        self.calls = 0

    def write(self, mutation: StateMutation) -> None:
        self.calls += 1
        raise OSError("disk full")

    def flush(self) -> None:
        raise OSError("disk full")

    def close(self) -> None:
        raise OSError("disk full")


def test_a_failing_sink_never_breaks_a_write_and_is_reported() -> None:
    sink = BrokenSink()
    state = State(StateConfig(journal_sink=sink))
    problems: list[StateProblem] = []
    state._attach(on_problem=problems.append)

    state.set("a", 1)
    state.set("b", 2)
    state.flush_sink()
    state.close_sink()

    assert state.get("a") == 1
    assert state.cursor == 2
    assert sink.calls == 2
    assert [p.kind for p in problems] == [StateProblemKind.SINK_FAILED] * 4
    assert problems[0].key == "a"
    assert isinstance(problems[0].error, OSError)
    assert "BrokenSink" in problems[0].detail
    assert state.problem_counts()[StateProblemKind.SINK_FAILED] == 4


def test_without_a_callback_a_sink_failure_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    state = State(StateConfig(journal_sink=BrokenSink()))
    state.set("a", 1)

    assert "journal sink BrokenSink failed to write" in caplog.text
    assert state.problem_counts()[StateProblemKind.SINK_FAILED] == 1


class FailingFile:
    closed = False

    def write(self, text: str) -> int:
        raise OSError("disk full")

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def test_a_file_sink_write_failure_drops_and_counts_the_buffer(tmp_path: Path) -> None:
    sink = FileJournalSink(tmp_path / "j", max_buffered=2)
    sink._file.close()
    sink._file = FailingFile()  # type: ignore[assignment]
    state = State(StateConfig(journal_sink=sink))
    problems: list[StateProblem] = []
    state._attach(on_problem=problems.append)

    state.set("a", 1)
    state.set("b", 2)  # full: the write of the buffer fails
    state.set("c", 3)

    assert state.keys() == ["a", "b", "c"]
    assert sink.dropped == 2
    assert sink.buffered == 1  # the buffer stayed bounded
    assert [p.kind for p in problems] == [StateProblemKind.SINK_FAILED]
    assert problems[0].key == "b"


# -- redaction --------------------------------------------------------------------------------


def test_a_sink_sees_redacted_values_for_exact_and_prefix_patterns() -> None:
    sink = MemoryJournalSink()
    state = State(StateConfig(journal_sink=sink, redact_keys=("user:pin", "user:card*")))
    state.set("user:pin", "1234")
    state.set("user:card_number", "4111")
    state.set("user:card_number", "4222")
    state.remove("user:card_number")
    state.set("user:name", "Ada")

    pin, _card, card2, gone, name = sink.mutations
    assert (pin.old, pin.new, pin.redacted) == (None, "[redacted]", True)
    assert (card2.old, card2.new) == ("[redacted]", "[redacted]")
    assert (gone.old, gone.new, gone.new_present) == ("[redacted]", None, False)
    assert (name.new, name.redacted) == ("Ada", False)
    text = "".join(repr(m) for m in sink.mutations)
    assert "1234" not in text
    assert "4111" not in text


def test_a_file_sink_never_writes_a_redacted_value(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    state = State(StateConfig(journal_sink=FileJournalSink(path), redact_keys=("token",)))
    state.set("token", "sk-secret")
    state.close_sink()

    assert "sk-secret" not in path.read_text()
    assert _lines(path)[0]["new"] == "[redacted]"


def test_snapshot_items_omits_redacted_keys_and_to_dict_keeps_them() -> None:
    state = State(StateConfig(redact_keys=("user:card*",)))
    state.update({"user:card": "4111", "user:card_cvv": "123", "user:name": "Ada"})

    assert state.snapshot_items() == {"user:name": "Ada"}
    assert state.to_dict()["user:card"] == "4111"
    assert state.is_redacted("user:card_cvv")
    assert state.is_redacted("user:card")
    assert not state.is_redacted("user:name")
    snapshot = state.snapshot_items()
    snapshot["user:name"] = "changed"
    assert state.get("user:name") == "Ada"


# -- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"journal_size": 0}, ValueError, "journal_size"),
        ({"watch_queue": 0}, ValueError, "watch_queue"),
        ({"watcher_timeout": 0}, ValueError, "watcher_timeout"),
        ({"watcher_timeout": float("inf")}, ValueError, "watcher_timeout"),
        ({"redact_keys": "user:pin"}, TypeError, "not one string"),
        ({"redact_keys": ("",)}, ValueError, "non-empty"),
        ({"redact_keys": ("*",)}, ValueError, "other than"),
        ({"journal_sink": object()}, TypeError, "write"),
    ],
)
def test_state_config_checks_its_fields(kwargs: dict[str, object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        StateConfig(**kwargs)  # type: ignore[arg-type]


def test_state_config_defaults_and_state_checks_its_config() -> None:
    config = StateConfig(redact_keys=["a"])  # type: ignore[arg-type]
    assert config.redact_keys == ("a",)
    assert (StateConfig().journal_size, StateConfig().watch_queue) == (1024, 256)
    assert StateConfig().watcher_timeout == 5.0
    assert State().config == StateConfig()
    with pytest.raises(TypeError, match="StateConfig"):
        State({"journal_size": 3})  # type: ignore[arg-type]
