from __future__ import annotations

import json

import pytest
import trio

from livehandle._runtime.telemetry import HISTOGRAM_BOUNDS_MS, LatencyStats, SessionTelemetry
from livehandle._wire.messages import ModalityTokenCount, UsageMetadata

SNAPSHOT_KEYS = {
    "uptime_secs",
    "audio_chunks_out",
    "audio_kbytes_out",
    "audio_throughput_kbps",
    "audio_chunks_in",
    "audio_kbytes_in",
    "interruptions",
    "last_response_latency_ms",
    "avg_response_latency_ms",
    "min_response_latency_ms",
    "max_response_latency_ms",
    "response_count",
    "response_latency",
    "turn_count",
    "avg_turn_duration_ms",
    "last_turn_duration_ms",
    "total_token_count",
    "prompt_token_count",
    "response_token_count",
    "cached_content_token_count",
    "thoughts_token_count",
    "tokens_by_modality",
    "dropped",
    "lagged",
    "reconnects",
    "resume_attempts",
    "resume_gap_p50_ms",
    "resume_gap_p99_ms",
    "replayed_messages",
    "lost_audio_ms",
    "persistence",
}


class FakeClock:
    """A settable clock in seconds; starts at 100 so a zero start is never special."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def telemetry(clock):
    return SessionTelemetry(clock=clock)


# -- response latency ------------------------------------------------------------------------


def test_response_latency_runs_from_speech_end_to_first_audio_chunk_only(clock, telemetry):
    telemetry.record_speech_end()
    clock.advance(0.25)
    telemetry.record_audio_out(960)
    clock.advance(0.5)
    telemetry.record_audio_out(960)
    telemetry.record_text_out()

    snap = telemetry.snapshot()
    assert snap["response_count"] == 1
    assert snap["last_response_latency_ms"] == 250.0
    assert snap["audio_chunks_out"] == 2


def test_response_latency_runs_from_text_send_to_first_text_delta(clock, telemetry):
    telemetry.record_text_send()
    clock.advance(0.4)
    telemetry.record_text_out()
    clock.advance(1.0)
    telemetry.record_text_out()

    assert telemetry.response_latency.count == 1
    assert telemetry.response_latency.last == 400.0


def test_audio_reply_to_typed_text_counts_as_a_response(clock, telemetry):
    telemetry.record_text_send()
    clock.advance(0.12)
    telemetry.record_audio_out(100)

    assert telemetry.snapshot()["last_response_latency_ms"] == 120.0


def test_model_output_without_a_pending_mark_records_no_latency(clock, telemetry):
    telemetry.record_audio_out(100)
    telemetry.record_text_out()

    assert telemetry.snapshot()["response_count"] == 0


def test_newer_speech_end_replaces_a_pending_mark(clock, telemetry):
    telemetry.record_speech_end()
    clock.advance(2.0)
    telemetry.record_speech_end()
    clock.advance(0.3)
    telemetry.record_audio_out(100)

    assert telemetry.response_latency.last == 300.0


def test_latency_summary_covers_every_response(clock, telemetry):
    for seconds in (0.1, 0.3, 0.2):
        telemetry.record_speech_end()
        clock.advance(seconds)
        telemetry.record_audio_out(10)

    snap = telemetry.snapshot()
    assert snap["response_count"] == 3
    assert snap["min_response_latency_ms"] == 100.0
    assert snap["max_response_latency_ms"] == 300.0
    assert snap["avg_response_latency_ms"] == 200.0
    assert snap["last_response_latency_ms"] == 200.0
    assert snap["response_latency"]["p50_ms"] == 200.0


# -- turns -----------------------------------------------------------------------------------


def test_turn_duration_runs_from_each_turns_own_start(clock, telemetry):
    telemetry.record_turn_start()
    clock.advance(2.0)
    telemetry.record_turn_complete()
    clock.advance(30.0)  # quiet gap between turns: not part of either turn
    telemetry.record_turn_start()
    clock.advance(3.0)
    telemetry.record_turn_complete()

    snap = telemetry.snapshot()
    assert snap["turn_count"] == 2
    assert snap["last_turn_duration_ms"] == 3000.0
    assert snap["avg_turn_duration_ms"] == 2500.0


def test_only_the_first_start_of_a_turn_counts(clock, telemetry):
    telemetry.record_turn_start()
    clock.advance(1.0)
    telemetry.record_turn_start()
    clock.advance(1.0)
    telemetry.record_turn_complete()

    assert telemetry.snapshot()["last_turn_duration_ms"] == 2000.0


def test_typed_text_starts_a_turn_only_when_none_is_running(clock, telemetry):
    telemetry.record_turn_start()
    clock.advance(1.0)
    telemetry.record_text_send()
    clock.advance(1.0)
    telemetry.record_turn_complete()
    clock.advance(5.0)
    telemetry.record_text_send()
    clock.advance(0.5)
    telemetry.record_turn_complete()

    snap = telemetry.snapshot()
    assert snap["avg_turn_duration_ms"] == 1250.0
    assert snap["last_turn_duration_ms"] == 500.0


def test_turn_complete_without_a_start_is_counted_but_not_timed(clock, telemetry):
    telemetry.record_turn_start()
    clock.advance(1.0)
    telemetry.record_turn_complete()
    clock.advance(4.0)
    telemetry.record_turn_complete()  # start was reset: no duration from the previous turn

    snap = telemetry.snapshot()
    assert snap["turn_count"] == 2
    assert telemetry.turn_count == 2
    assert snap["last_turn_duration_ms"] == 1000.0
    assert snap["avg_turn_duration_ms"] == 1000.0


def test_interruptions_are_counted(telemetry):
    telemetry.record_interruption()
    telemetry.record_interruption()

    assert telemetry.snapshot()["interruptions"] == 2


# -- audio -----------------------------------------------------------------------------------


def test_audio_totals_and_throughput_over_uptime(clock, telemetry):
    for _ in range(4):
        telemetry.record_audio_out(5120)
    telemetry.record_audio_in(1024)
    telemetry.record_audio_in(2048)
    clock.advance(10.0)

    snap = telemetry.snapshot()
    assert snap["uptime_secs"] == 10.0
    assert snap["audio_chunks_out"] == 4
    assert snap["audio_kbytes_out"] == 20.0
    assert snap["audio_throughput_kbps"] == 2.0
    assert snap["audio_chunks_in"] == 2
    assert snap["audio_kbytes_in"] == 3.0


def test_throughput_is_zero_at_zero_uptime(telemetry):
    telemetry.record_audio_out(4096)

    assert telemetry.snapshot()["audio_throughput_kbps"] == 0.0


def test_negative_sizes_are_rejected(telemetry):
    with pytest.raises(ValueError, match="nbytes"):
        telemetry.record_audio_out(-1)
    with pytest.raises(ValueError, match="n must be"):
        telemetry.record_dropped("audio", -2)


# -- tokens ----------------------------------------------------------------------------------


def test_usage_keeps_the_latest_of_each_present_total(telemetry):
    telemetry.record_usage(
        UsageMetadata(
            total_token_count=100,
            prompt_token_count=80,
            response_token_count=20,
            cached_content_token_count=5,
            thoughts_token_count=7,
        )
    )
    telemetry.record_usage(UsageMetadata(total_token_count=250, response_token_count=60))

    snap = telemetry.snapshot()
    assert snap["total_token_count"] == 250
    assert snap["prompt_token_count"] == 80
    assert snap["response_token_count"] == 60
    assert snap["cached_content_token_count"] == 5
    assert snap["thoughts_token_count"] == 7


def test_usage_sums_per_modality_details(telemetry):
    telemetry.record_usage(
        UsageMetadata(
            prompt_tokens_details=(
                ModalityTokenCount("TEXT", 10),
                ModalityTokenCount("AUDIO", 100),
            ),
            response_tokens_details=(ModalityTokenCount("AUDIO", 40),),
        )
    )
    telemetry.record_usage(
        UsageMetadata(
            prompt_tokens_details=(ModalityTokenCount("AUDIO", 50), ModalityTokenCount("TEXT")),
            response_tokens_details=(ModalityTokenCount("AUDIO", 5),),
        )
    )

    assert telemetry.snapshot()["tokens_by_modality"] == {
        "AUDIO": {"prompt": 150, "response": 45},
        "TEXT": {"prompt": 10, "response": 0},
    }


# -- delivery --------------------------------------------------------------------------------


def test_dropped_events_are_counted_per_kind_and_lag_in_total(telemetry):
    telemetry.record_dropped("audio")
    telemetry.record_dropped("audio", 3)
    telemetry.record_dropped("transcript", 2)
    telemetry.record_lagged(5)
    telemetry.record_lagged(1)

    snap = telemetry.snapshot()
    assert snap["dropped"] == {"audio": 4, "transcript": 2}
    assert snap["lagged"] == 6


# -- snapshot --------------------------------------------------------------------------------


def test_snapshot_has_every_metric_and_is_json_serializable(clock, telemetry):
    telemetry.record_speech_end()
    clock.advance(0.2)
    telemetry.record_audio_out(100)
    telemetry.record_usage(UsageMetadata(prompt_tokens_details=(ModalityTokenCount("TEXT", 1),)))
    telemetry.record_dropped("audio")

    snap = telemetry.snapshot()
    assert set(snap) == SNAPSHOT_KEYS
    assert json.loads(json.dumps(snap, allow_nan=False)) == snap


def test_empty_snapshot_reads_zeros(telemetry):
    snap = telemetry.snapshot()

    assert set(snap) == SNAPSHOT_KEYS
    dicts = {"response_latency", "tokens_by_modality", "dropped", "persistence"}
    for key in SNAPSHOT_KEYS - dicts:
        assert snap[key] == 0, key
    assert snap["tokens_by_modality"] == {}
    assert snap["dropped"] == {}
    assert snap["persistence"] == {}
    latency = snap["response_latency"]
    assert all(latency[key] == 0 for key in latency if key != "histogram")
    assert all(bucket["count"] == 0 for bucket in latency["histogram"])
    json.dumps(snap, allow_nan=False)


def test_snapshot_is_a_copy(telemetry):
    telemetry.record_dropped("audio")
    snap = telemetry.snapshot()
    snap["dropped"]["audio"] = 99

    assert telemetry.snapshot()["dropped"] == {"audio": 1}


async def test_default_clock_follows_trio_time(autojump_clock):
    telemetry = SessionTelemetry()
    telemetry.record_speech_end()
    await trio.sleep(1.5)
    telemetry.record_audio_out(10)

    assert telemetry.response_latency.last == 1500.0
    assert telemetry.snapshot()["uptime_secs"] == 1.5


# -- LatencyStats ----------------------------------------------------------------------------


def test_percentiles_use_nearest_rank():
    stats = LatencyStats()
    for ms in range(1, 11):  # 1..10
        stats.record(float(ms))

    assert stats.p50 == 5.0
    assert stats.p90 == 9.0
    assert stats.p99 == 10.0
    assert stats.percentile(0) == 1.0
    assert stats.percentile(100) == 10.0


def test_percentiles_cover_only_the_last_256_samples_but_summary_covers_all():
    stats = LatencyStats()
    for _ in range(100):
        stats.record(10_000.0)
    for ms in range(1, 257):
        stats.record(float(ms))

    assert stats.count == 356
    assert stats.max == 10_000.0
    assert stats.min == 1.0
    assert stats.p50 == 128.0
    assert stats.p90 == 231.0  # ceil(0.9 * 256) = 231
    assert stats.p99 == 254.0  # ceil(0.99 * 256) = 254
    assert stats.mean == pytest.approx((100 * 10_000 + 256 * 257 / 2) / 356)


def test_histogram_places_samples_by_inclusive_upper_bound_with_an_open_top_bucket():
    stats = LatencyStats()
    for ms in (0.0, 50.0, 50.001, 100.0, 4999.0, 5000.0, 5000.5, 60_000.0):
        stats.record(ms)

    counts = stats.bucket_counts
    assert len(counts) == len(HISTOGRAM_BOUNDS_MS) + 1
    assert counts[0] == 2  # <= 50
    assert counts[1] == 2  # <= 100
    assert counts[HISTOGRAM_BOUNDS_MS.index(5000)] == 2  # <= 5000
    assert counts[-1] == 2  # > 5000
    assert sum(counts) == 8

    histogram = stats.snapshot()["histogram"]
    assert histogram[0] == {"le_ms": 50, "count": 2}
    assert histogram[-1] == {"le_ms": None, "count": 2}


def test_latency_snapshot_fields():
    stats = LatencyStats()
    for ms in (120.0, 80.0, 700.0):
        stats.record(ms)

    snap = stats.snapshot()
    assert {key: value for key, value in snap.items() if key != "histogram"} == {
        "count": 3,
        "last_ms": 700.0,
        "min_ms": 80.0,
        "max_ms": 700.0,
        "mean_ms": 300.0,
        "p50_ms": 120.0,
        "p90_ms": 700.0,
        "p99_ms": 700.0,
    }


def test_empty_latency_stats_read_zero_not_infinity():
    stats = LatencyStats()

    assert (stats.count, stats.min, stats.max, stats.mean, stats.p99) == (0, 0.0, 0.0, 0.0, 0.0)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_latency_stats_reject_impossible_samples(bad):
    stats = LatencyStats()
    with pytest.raises(ValueError, match="latency"):
        stats.record(bad)
    assert stats.count == 0


def test_resumption_is_counted_with_its_gaps_and_losses(telemetry: SessionTelemetry) -> None:
    telemetry.record_reconnecting()
    telemetry.record_reconnecting()
    telemetry.record_resumed(gap_ms=40.0, replayed=3, lost_audio_ms=20.0)
    telemetry.record_resumed(gap_ms=10.0, replayed=0, lost_audio_ms=0.0)
    snap = telemetry.snapshot()
    assert (snap["reconnects"], snap["resume_attempts"]) == (2, 2)
    assert (snap["replayed_messages"], snap["lost_audio_ms"]) == (3, 20.0)
    assert snap["resume_gap_p99_ms"] == 40.0 and telemetry.reconnects == 2
    assert telemetry.resume_gap.count == 2
    with pytest.raises(ValueError, match="gap_ms"):
        telemetry.record_resumed(gap_ms=-1.0, replayed=0, lost_audio_ms=0.0)
