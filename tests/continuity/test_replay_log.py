"""The replay log: what the server may not have, trimmed by checkpoints, bounded and accounted."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, strategies as st

from livehandle import ResumePolicy
from livehandle._continuity.log import AUDIO, INDEX, MESSAGE, TEXT, Entry, ReplayLog, new_entry
from livehandle._wire import messages as m

TYPED = m.ClientContent(turns=(m.Content(parts=(m.Part(text="hi"),), role="user"),))


def audio(n: int = 640) -> Entry:
    return new_entry("audio", None, n)


def text(label: str = "t") -> Entry:
    return new_entry(label, TYPED)


def make(**kwargs: object) -> ReplayLog:
    options: dict[str, object] = {"audio_limit": 10_000, "message_limit": 4, "settle_bytes": 0}
    options.update(kwargs)
    return ReplayLog(**options)  # type: ignore[arg-type]


def test_queued_messages_are_numbered_in_wire_order_from_one() -> None:
    log = make()
    entries = [text("a"), audio(), text("b")]
    for entry in entries:
        log.add_queued(entry)
    assert [e[INDEX] for e in log.held()] == [1, 2, 3]
    assert len(log) == 3 and log.all_queued and log.audio_bytes == 640


def test_a_transparent_checkpoint_trims_exactly_what_the_server_consumed() -> None:
    log = make()
    entries = [text("a"), audio(), audio(), text("b")]
    for entry in entries:
        log.add_queued(entry)
    assert log.checkpoint(written=4, consumed=2) == 2
    log.connection_lost()
    assert [e[TEXT] for e in _waiting(log)] == ["audio", "b"]
    assert log.take_lost() == 0  # nothing of unknown fate: the index is exact


def test_without_an_index_recent_audio_is_of_unknown_fate_and_text_is_covered() -> None:
    log = make(settle_bytes=320)  # the newest 10 ms of audio may still be on its way
    early, late, typed = audio(), audio(320), text("typed")
    log.add_queued(early)
    log.add_queued(typed)
    log.add_queued(late)
    after = text("after")
    log.add_queued(after)  # not written yet when the checkpoint arrives
    assert log.sent_since_checkpoint()
    log.heard(written=3)  # the server answered after the typed turn was written
    assert log.checkpoint(written=3) == 2  # the early audio and the typed turn
    assert not log.sent_since_checkpoint()
    log.connection_lost()
    assert log.take_lost() == 320  # the late audio: maybe consumed, maybe not, never replayed
    assert _waiting(log) == [after]


def test_what_was_written_after_the_checkpoint_is_replayed() -> None:
    log = make()
    first = text("first")
    log.add_queued(first)
    log.heard(written=1)
    log.checkpoint(written=1)
    later = [audio(), text("later")]
    for entry in later:
        log.add_queued(entry)
    assert log.sent_since_checkpoint()
    log.connection_lost()
    assert _waiting(log) == later and log.take_lost() == 0
    assert [e[INDEX] for e in log.held()] == [0, 0]


def test_replay_numbers_messages_again_on_the_new_connection() -> None:
    log = make()
    for entry in (text("a"), text("b")):
        log.add_queued(entry)
    log.connection_lost()
    replayed = []
    while (entry := log.next_waiting()) is not None:
        log.mark_queued(entry)
        replayed.append(log.held()[len(replayed)][INDEX])
    assert replayed == [1, 2] and log.all_queued
    with pytest.raises(RuntimeError):
        log.mark_queued(text("never handed out"))


def test_held_audio_is_bounded_and_waiting_audio_dropped_first_is_lost_for_certain() -> None:
    log = make(audio_limit=1000)
    log.connection_lost()
    frames = [audio(400) for _ in range(4)]
    for frame in frames:
        log.add_waiting(frame)
    assert log.audio_bytes == 800
    assert _waiting(log) == frames[2:]
    assert log.dropped_audio_bytes == 800 and log.take_lost() == 800


def test_audio_dropped_after_it_was_sent_is_lost_only_if_a_resume_follows() -> None:
    log = make(audio_limit=1000)
    for _ in range(4):
        log.add_queued(audio(400))
    assert log.dropped_audio_bytes == 0  # they were sent: maybe the server has them
    log.connection_lost()
    assert log.take_lost() == 800

    calm = make(audio_limit=1000)
    for _ in range(4):
        calm.add_queued(audio(400))
    calm.heard(written=4)
    calm.checkpoint(written=4)  # covered after all
    calm.connection_lost()
    assert calm.take_lost() == 0


def test_an_entry_being_handed_to_a_connection_is_never_dropped() -> None:
    log = make(audio_limit=500)
    log.connection_lost()
    first = audio(400)
    log.add_waiting(first)
    assert log.next_waiting() is first
    log.add_waiting(audio(400))  # over the limit: the one being sent stays
    assert _waiting(log)[0] is first
    log.mark_queued(first)


def test_messages_other_than_audio_are_never_dropped_and_say_when_to_wait() -> None:
    log = make(audio_limit=100, message_limit=2)
    log.connection_lost()
    log.add_waiting(text("a"))
    assert log.message_room()
    log.add_waiting(text("b"))
    assert not log.message_room()
    log.add_waiting(audio(400))  # audio over the limit goes, text stays
    assert [e[TEXT] for e in _waiting(log)] == ["a", "b"]


def test_drain_drops_everything_and_counts_unsent_audio() -> None:
    log = make()
    log.add_queued(audio(100))
    log.connection_lost()
    log.add_waiting(audio(200))
    assert log.drain() == 2
    assert len(log) == 0 and log.audio_bytes == 0
    assert log.dropped_audio_bytes == 300


def _waiting(log: ReplayLog) -> list[Entry]:
    return log.held()


def test_the_settle_window_counts_only_written_audio_newest_first() -> None:
    log = make(settle_bytes=1000)
    frames = [audio(400) for _ in range(5)]
    for frame in frames:
        log.add_queued(frame)
    log.heard(written=4)
    log.checkpoint(written=4)  # the fifth is not written yet: certainly not covered
    # frames 3 and 4 (800 bytes) and 2 (to reach 1000) are of unknown fate; 1 is covered
    log.connection_lost()
    assert log.take_lost() == 1200
    assert _waiting(log) == [frames[4]]


def test_a_message_written_after_the_server_last_spoke_is_kept_for_replay() -> None:
    log = make()
    answered, typed = text("answered"), text("typed after the answer")
    log.add_queued(answered)
    log.heard(written=1)  # the reply to the first turn
    log.add_queued(typed)  # written before the checkpoint arrives, after the server last spoke
    assert log.checkpoint(written=2) == 1
    log.connection_lost()
    assert _waiting(log) == [typed] and log.take_lost() == 0


def test_a_checkpoint_before_the_server_spoke_on_a_connection_covers_none_of_it() -> None:
    log = make()
    replayed = [audio(), text("typed")]
    for entry in replayed:
        log.add_queued(entry)
    assert log.checkpoint(written=2) == 0  # the one sent as the connection opened
    log.connection_lost()
    assert _waiting(log) == replayed and log.take_lost() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_attempts", 0),
        ("max_attempts", True),
        ("backoff_initial", -1.0),
        ("backoff_max", float("inf")),
        ("jitter", 1.5),
        ("settle", "0.3"),
        ("buffer_audio_ms", 0),
    ],
)
def test_resume_policy_refuses_values_out_of_range(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        ResumePolicy(**{field: value})  # type: ignore[arg-type]


def test_resume_policy_backs_off_doubling_up_to_the_limit_with_jitter() -> None:
    policy = ResumePolicy(backoff_initial=0.5, backoff_max=2.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.0, 0.5, 1.0, 2.0, 2.0]
    jittery = ResumePolicy(backoff_initial=1.0, jitter=0.25)
    rng = random.Random(7)
    delays = [jittery.delay(2, rng) for _ in range(200)]
    assert min(delays) >= 0.75 and max(delays) <= 1.25 and len(set(delays)) > 100


def _check_invariants(log: ReplayLog) -> None:
    held = log.held()
    queued = log._queued
    assert log.waiting == len(held) - queued
    assert all(e[INDEX] > 0 for e in held[:queued]) and all(e[INDEX] == 0 for e in held[queued:])
    indexes = [e[INDEX] for e in held[:queued]]
    assert indexes == sorted(indexes) and len(set(indexes)) == len(indexes)
    assert log.audio_bytes == sum(e[AUDIO] for e in held)
    assert log._waiting_messages == sum(1 for e in held[queued:] if e[MESSAGE] is not None)


@given(
    st.lists(
        st.sampled_from(
            ["audio", "big", "text", "wait_audio", "wait_text", "replay", "heard", "check", "lost"]
        ),
        max_size=60,
    )
)
def test_any_sequence_keeps_the_counts_consistent(ops: list[str]) -> None:
    log = make(audio_limit=2000, message_limit=1000, settle_bytes=500)
    for op in ops:
        if op in ("audio", "big"):
            if log.waiting:
                log.add_waiting(audio(1500 if op == "big" else 400))
            else:
                log.add_queued_audio("frame", 1500 if op == "big" else 400)
        elif op == "text":
            (log.add_waiting if log.waiting else log.add_queued)(text())
        elif op == "wait_audio":
            log.add_waiting(audio(300))
        elif op == "wait_text":
            log.add_waiting(text())
        elif op == "replay" and (entry := log.next_waiting()) is not None:
            log.mark_queued(entry)
        elif op == "heard":
            log.heard(written=log._next_index - 1)  # in this model, everything queued is written
        elif op == "check":
            log.checkpoint(written=log._next_index - 1)
        elif op == "lost":
            log.connection_lost()
        _check_invariants(log)
    before = log.audio_bytes
    log.connection_lost()
    _check_invariants(log)
    assert log.audio_bytes <= before
