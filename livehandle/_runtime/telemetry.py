"""Numbers about one live session: traffic, response latency, turn timing, tokens and drops.

The session's telemetry lane owns one :class:`SessionTelemetry` and calls its ``record_*`` methods
as events go by; the periodic emitter publishes :meth:`SessionTelemetry.snapshot`.  Everything here
is synchronous, starts no task and does O(1) work per call (percentiles are computed only when a
snapshot is taken), so it is cheap enough for per-chunk audio events.

Two definitions differ from the original runtime on purpose:

* a turn's duration runs from that turn's first start mark (user activity start or typed text) to
  its TurnComplete, and the start is cleared afterwards, so a quiet gap between turns is never
  counted as part of a turn;
* a response latency runs from the latest "awaiting a response" mark (end of user speech, or typed
  text sent) to the first model audio or text chunk after it; later chunks record nothing.

A snapshot holds numbers only (no text, no configuration), so it can never leak a credential.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import attrs
import trio

if TYPE_CHECKING:
    from livehandle._wire.messages import ModalityTokenCount, UsageMetadata

__all__ = ["HISTOGRAM_BOUNDS_MS", "PERCENTILE_WINDOW", "LatencyStats", "SessionTelemetry"]

#: Upper bounds (inclusive, milliseconds) of the latency histogram buckets; one more open bucket
#: counts everything above the last bound.
HISTOGRAM_BOUNDS_MS: Final[tuple[int, ...]] = (
    50, 100, 150, 200, 300, 400, 500, 650, 800, 1000, 1300, 1600, 2000, 2500, 3000, 4000, 5000,
)  # fmt: skip

#: How many of the most recent samples the percentiles are computed over.
PERCENTILE_WINDOW: Final = 256


def _nearest_rank(ordered: list[float], p: float) -> float:
    """The ``p``-th percentile of ascending ``ordered`` by nearest rank (0 when empty)."""
    if not ordered:
        return 0.0
    # Multiply before dividing so integral percentiles give exact ranks (90 * 10 / 100 == 9).
    return ordered[max(1, math.ceil(p * len(ordered) / 100)) - 1]


def _ms(value: float) -> float:
    """Round a millisecond figure for a snapshot (0.1 ms is well below anything we measure)."""
    return round(value, 1)


_NO_SAMPLES = (0,) * (len(HISTOGRAM_BOUNDS_MS) + 1)


@attrs.define(eq=False)
class LatencyStats:
    """Summary statistics of a stream of latency samples, in milliseconds.

    ``count``, ``last``, ``min``, ``max`` and ``mean`` cover every sample ever recorded; the
    percentiles cover the last :data:`PERCENTILE_WINDOW` samples (nearest-rank method), so they
    follow the recent behaviour of a long session.  The histogram counts every sample into the
    first bucket whose upper bound (:data:`HISTOGRAM_BOUNDS_MS`) is at least the sample, or into
    the open top bucket.  Before any sample, every statistic reads 0.
    """

    _count: int = attrs.field(default=0, init=False)
    _total: float = attrs.field(default=0.0, init=False)
    _last: float = attrs.field(default=0.0, init=False)
    _min: float = attrs.field(default=0.0, init=False)
    _max: float = attrs.field(default=0.0, init=False)
    # Made at the first sample: a session that never measures a latency keeps no window and
    # shares one histogram of zeros.
    _recent: deque[float] | None = attrs.field(default=None, init=False, repr=False)
    _buckets: list[int] | tuple[int, ...] = attrs.field(default=_NO_SAMPLES, init=False, repr=False)

    def record(self, ms: float) -> None:
        """Add one sample.

        Raises:
            ValueError: if ``ms`` is negative, infinite or NaN.
        """
        if not (math.isfinite(ms) and ms >= 0):
            raise ValueError(f"a latency must be a finite number of milliseconds >= 0 (got {ms!r})")
        if self._count == 0:
            self._min = self._max = ms
        else:
            self._min = min(self._min, ms)
            self._max = max(self._max, ms)
        self._count += 1
        self._total += ms
        self._last = ms
        if self._recent is None:
            self._recent = deque(maxlen=PERCENTILE_WINDOW)
        self._recent.append(ms)
        buckets = self._buckets
        if not isinstance(buckets, list):
            buckets = self._buckets = list(buckets)
        buckets[bisect.bisect_left(HISTOGRAM_BOUNDS_MS, ms)] += 1

    @property
    def count(self) -> int:
        """How many samples were recorded."""
        return self._count

    @property
    def last(self) -> float:
        """The most recent sample (0 before any)."""
        return self._last

    @property
    def min(self) -> float:
        """The smallest sample (0 before any)."""
        return self._min

    @property
    def max(self) -> float:
        """The largest sample (0 before any)."""
        return self._max

    @property
    def mean(self) -> float:
        """The mean of all samples (0 before any)."""
        return self._total / self._count if self._count else 0.0

    def percentile(self, p: float) -> float:
        """The nearest-rank ``p``-th percentile of the recent samples (0 before any).

        Nearest rank: the smallest recent sample such that at least ``p`` percent of the recent
        samples are less than or equal to it.

        Raises:
            ValueError: if ``p`` is not between 0 and 100.
        """
        if not 0 <= p <= 100:
            raise ValueError(f"a percentile must be between 0 and 100 (got {p!r})")
        return _nearest_rank(sorted(self._recent or ()), p)

    @property
    def p50(self) -> float:
        """The median of the recent samples."""
        return self.percentile(50)

    @property
    def p90(self) -> float:
        """The 90th percentile of the recent samples."""
        return self.percentile(90)

    @property
    def p99(self) -> float:
        """The 99th percentile of the recent samples."""
        return self.percentile(99)

    @property
    def bucket_counts(self) -> tuple[int, ...]:
        """Samples per histogram bucket: one per bound, then the open top bucket."""
        return tuple(self._buckets)

    def snapshot(self) -> dict[str, object]:
        """A JSON-ready summary.

        Keys: ``count``, ``last_ms``, ``min_ms``, ``max_ms``, ``mean_ms``, ``p50_ms``, ``p90_ms``,
        ``p99_ms`` and ``histogram``, a list of ``{"le_ms": bound, "count": n}`` with
        ``le_ms: None`` for the open top bucket.  Counts per bucket are not cumulative.
        """
        ordered = sorted(self._recent or ())
        bounds: list[int | None] = [*HISTOGRAM_BOUNDS_MS, None]
        return {
            "count": self._count,
            "last_ms": _ms(self._last),
            "min_ms": _ms(self._min),
            "max_ms": _ms(self._max),
            "mean_ms": _ms(self.mean),
            "p50_ms": _ms(_nearest_rank(ordered, 50)),
            "p90_ms": _ms(_nearest_rank(ordered, 90)),
            "p99_ms": _ms(_nearest_rank(ordered, 99)),
            "histogram": [
                {"le_ms": bound, "count": n} for bound, n in zip(bounds, self._buckets, strict=True)
            ],
        }


@attrs.define(eq=False)
class SessionTelemetry:
    """Counters and timings of one live session, fed by the session's telemetry lane.

    Args:
        clock: returns the current time in seconds; the default, :func:`trio.current_time`, needs
            a running Trio loop (and follows a test's ``MockClock``).  It is read once at
            construction to start the uptime.

    Every ``record_*`` method is synchronous and never blocks.  Negative counts are rejected with
    :exc:`ValueError` because they can only come from a bug in the caller.
    """

    _clock: Callable[[], float] = trio.current_time
    _started_at: float = attrs.field(init=False)
    _audio_chunks_out: int = attrs.field(default=0, init=False)
    _audio_bytes_out: int = attrs.field(default=0, init=False)
    _audio_chunks_in: int = attrs.field(default=0, init=False)
    _audio_bytes_in: int = attrs.field(default=0, init=False)
    _interruptions: int = attrs.field(default=0, init=False)
    # Set by speech end / text send, cleared by the first model output after it.
    _awaiting_since: float | None = attrs.field(default=None, init=False)
    _response_latency: LatencyStats = attrs.field(factory=LatencyStats, init=False, repr=False)
    # Set by the first start mark of a turn, cleared by TurnComplete.
    _turn_started_at: float | None = attrs.field(default=None, init=False)
    _turn_count: int = attrs.field(default=0, init=False)
    _timed_turns: int = attrs.field(default=0, init=False)
    _turn_ms_total: float = attrs.field(default=0.0, init=False)
    _last_turn_ms: float = attrs.field(default=0.0, init=False)
    _total_tokens: int = attrs.field(default=0, init=False)
    _prompt_tokens: int = attrs.field(default=0, init=False)
    _response_tokens: int = attrs.field(default=0, init=False)
    _cached_tokens: int = attrs.field(default=0, init=False)
    _thoughts_tokens: int = attrs.field(default=0, init=False)
    # The counts by kind below are made at their first count: an idle session keeps none.
    _tokens_by_modality: dict[str, dict[str, int]] | None = attrs.field(default=None, init=False)
    _dropped: dict[str, int] | None = attrs.field(default=None, init=False)
    _lagged: int = attrs.field(default=0, init=False)
    _reconnects: int = attrs.field(default=0, init=False)
    _resume_attempts: int = attrs.field(default=0, init=False)
    _resume_gap: LatencyStats = attrs.field(factory=LatencyStats, init=False, repr=False)
    _replayed: int = attrs.field(default=0, init=False)
    _lost_audio_ms: float = attrs.field(default=0.0, init=False)
    _persistence: dict[str, int] | None = attrs.field(default=None, init=False)

    def __attrs_post_init__(self) -> None:
        self._started_at = self._clock()

    # -- audio ---------------------------------------------------------------------------------

    def record_audio_out(self, nbytes: int) -> None:
        """Count one chunk of model audio received (called for every audio chunk of a model turn).

        The first model output after an "awaiting a response" mark (:meth:`record_speech_end`,
        :meth:`record_text_send`) records a response latency.
        """
        _check_count("nbytes", nbytes)
        self._audio_chunks_out += 1
        self._audio_bytes_out += nbytes
        self._response_arrived()

    def record_audio_in(self, nbytes: int) -> None:
        """Count one chunk of microphone audio the session accepted for sending.

        Called by the session's writer once the chunk is queued, whichever public path sent it
        (``handle.send_audio`` or ``handle.writer().send_audio``); never for a chunk that was
        refused, failed or cancelled, nor for one held back before an activity start.
        """
        _check_count("nbytes", nbytes)
        self._audio_chunks_in += 1
        self._audio_bytes_in += nbytes

    # -- response latency ----------------------------------------------------------------------

    def record_text_send(self) -> None:
        """Note that the session accepted a typed user turn (called by the session's writer).

        Starts awaiting a response, measured from now, and starts a turn if none is running.
        """
        now = self._clock()
        self._awaiting_since = now
        if self._turn_started_at is None:
            self._turn_started_at = now

    def record_text_out(self) -> None:
        """Note one model text delta (called for every text part of a model turn).

        The first model output after an "awaiting a response" mark records a response latency.
        """
        self._response_arrived()

    def record_speech_end(self) -> None:
        """Note the end of user speech (server VoiceActivityEnd, or a client VAD end edge).

        Starts awaiting a response, measured from now.  If a mark is already pending (the user
        spoke again before the model answered), the newer mark replaces it.
        """
        self._awaiting_since = self._clock()

    def _response_arrived(self) -> None:
        if self._awaiting_since is None:
            return
        elapsed = self._clock() - self._awaiting_since
        self._awaiting_since = None
        # Microsecond resolution keeps float noise out of histogram bucket edges.
        self._response_latency.record(round(max(0.0, elapsed) * 1000, 3))

    # -- turns ---------------------------------------------------------------------------------

    def record_turn_start(self) -> None:
        """Note user activity starting (server VoiceActivityStart, or a client VAD start edge).

        Only the first start of a turn counts: later starts before the TurnComplete are ignored.
        """
        if self._turn_started_at is None:
            self._turn_started_at = self._clock()

    def record_interruption(self) -> None:
        """Count a barge-in (called when the server reports the model turn as interrupted)."""
        self._interruptions += 1

    def record_turn_complete(self) -> None:
        """Count a TurnComplete from the server and close the running turn.

        If a start was recorded for this turn, its duration (now minus that start) is recorded;
        either way the start is cleared so the next turn is timed from its own start.
        """
        self._turn_count += 1
        if self._turn_started_at is None:
            return
        duration_ms = round(max(0.0, self._clock() - self._turn_started_at) * 1000, 3)
        self._turn_started_at = None
        self._timed_turns += 1
        self._turn_ms_total += duration_ms
        self._last_turn_ms = duration_ms

    # -- tokens --------------------------------------------------------------------------------

    def record_usage(self, usage: UsageMetadata) -> None:
        """Take in a server ``usageMetadata`` (called for every message that carries one).

        Each total the message carries replaces the previous value (the server reports them
        cumulatively); absent totals keep their value.  The per-modality prompt and response
        details are added up per modality (``tokens_by_modality`` in the snapshot).
        """
        if usage.total_token_count is not None:
            self._total_tokens = usage.total_token_count
        if usage.prompt_token_count is not None:
            self._prompt_tokens = usage.prompt_token_count
        if usage.response_token_count is not None:
            self._response_tokens = usage.response_token_count
        if usage.cached_content_token_count is not None:
            self._cached_tokens = usage.cached_content_token_count
        if usage.thoughts_token_count is not None:
            self._thoughts_tokens = usage.thoughts_token_count
        # Summed as the original runtime does.  wire-protocol.md §3.7 says the server's counts are
        # cumulative, in which case these sums overcount; to be checked against the live API.
        self._add_details("prompt", usage.prompt_tokens_details)
        self._add_details("response", usage.response_tokens_details)

    def _add_details(self, side: str, details: tuple[ModalityTokenCount, ...] | None) -> None:
        for detail in details or ():
            if self._tokens_by_modality is None:
                self._tokens_by_modality = {}
            counts = self._tokens_by_modality.setdefault(
                detail.modality, {"prompt": 0, "response": 0}
            )
            counts[side] += detail.token_count or 0

    # -- delivery ------------------------------------------------------------------------------

    def record_dropped(self, kind: str, n: int = 1) -> None:
        """Count ``n`` events of ``kind`` dropped by a drop-newest delivery lane (lane full)."""
        _check_count("n", n)
        if self._dropped is None:
            self._dropped = {}
        self._dropped[kind] = self._dropped.get(kind, 0) + n

    def record_lagged(self, n: int) -> None:
        """Count ``n`` events a lagging subscriber missed (a :exc:`~livehandle.Lagged`)."""
        _check_count("n", n)
        self._lagged += n

    @property
    def dropped(self) -> dict[str, int]:
        """Events dropped so far, by kind (a copy)."""
        return dict(self._dropped or {})

    @property
    def lagged(self) -> int:
        """Events lagging subscribers missed so far."""
        return self._lagged

    # -- resumption ----------------------------------------------------------------------------

    def record_reconnecting(self) -> None:
        """Count one attempt to open a new connection (``auto_resume``)."""
        self._resume_attempts += 1

    def record_resumed(self, gap_ms: float, replayed: int, lost_audio_ms: float) -> None:
        """Count a resumed connection: its gap, the messages sent again, the audio lost."""
        _check_count("replayed", replayed)
        if gap_ms < 0 or lost_audio_ms < 0:
            raise ValueError(
                f"gap_ms and lost_audio_ms must be >= 0 (got {gap_ms}, {lost_audio_ms})"
            )
        self._reconnects += 1
        self._resume_gap.record(round(gap_ms, 3))
        self._replayed += replayed
        self._lost_audio_ms += lost_audio_ms

    @property
    def resume_gap(self) -> LatencyStats:
        """Milliseconds between losing (or leaving) a connection and resuming on the next."""
        return self._resume_gap

    @property
    def reconnects(self) -> int:
        """How many times the session continued on a new connection."""
        return self._reconnects

    # -- persistence ---------------------------------------------------------------------------

    def record_persistence(self, kind: str, n: int = 1) -> None:
        """Count ``n`` snapshot-store outcomes of ``kind`` (``saved``, ``save_failed``...)."""
        _check_count("n", n)
        if self._persistence is None:
            self._persistence = {}
        self._persistence[kind] = self._persistence.get(kind, 0) + n

    @property
    def persistence(self) -> dict[str, int]:
        """Snapshot-store outcomes by kind (a copy): ``saved``, ``save_failed``, ``coalesced``..."""
        return dict(self._persistence or {})

    # -- reading -------------------------------------------------------------------------------

    @property
    def response_latency(self) -> LatencyStats:
        """The response latency statistics (read them; record through the ``record_*`` methods)."""
        return self._response_latency

    @property
    def turn_count(self) -> int:
        """How many TurnComplete messages were counted."""
        return self._turn_count

    def snapshot(self) -> dict[str, object]:
        """Every metric as a JSON-ready dict (for the ``Telemetry`` event, logs and dashboards).

        Sizes are KiB (``kbytes``), throughput is model audio KiB per second of uptime, latencies
        and durations are milliseconds rounded to 0.1; anything not measured yet reads 0.
        """
        uptime = max(0.0, self._clock() - self._started_at)
        kbytes_out = self._audio_bytes_out / 1024
        latency = self._response_latency
        return {
            "uptime_secs": round(uptime, 3),
            "audio_chunks_out": self._audio_chunks_out,
            "audio_kbytes_out": round(kbytes_out, 1),
            "audio_throughput_kbps": round(kbytes_out / uptime, 1) if uptime > 0 else 0.0,
            "audio_chunks_in": self._audio_chunks_in,
            "audio_kbytes_in": round(self._audio_bytes_in / 1024, 1),
            "interruptions": self._interruptions,
            "last_response_latency_ms": _ms(latency.last),
            "avg_response_latency_ms": _ms(latency.mean),
            "min_response_latency_ms": _ms(latency.min),
            "max_response_latency_ms": _ms(latency.max),
            "response_count": latency.count,
            "response_latency": latency.snapshot(),
            "turn_count": self._turn_count,
            "avg_turn_duration_ms": (
                _ms(self._turn_ms_total / self._timed_turns) if self._timed_turns else 0.0
            ),
            "last_turn_duration_ms": _ms(self._last_turn_ms),
            "total_token_count": self._total_tokens,
            "prompt_token_count": self._prompt_tokens,
            "response_token_count": self._response_tokens,
            "cached_content_token_count": self._cached_tokens,
            "thoughts_token_count": self._thoughts_tokens,
            "tokens_by_modality": {
                modality: dict(counts)
                for modality, counts in sorted((self._tokens_by_modality or {}).items())
            },
            "dropped": dict(sorted((self._dropped or {}).items())),
            "lagged": self._lagged,
            "reconnects": self._reconnects,
            "resume_attempts": self._resume_attempts,
            "resume_gap_p50_ms": _ms(self._resume_gap.p50),
            "resume_gap_p99_ms": _ms(self._resume_gap.p99),
            "replayed_messages": self._replayed,
            "lost_audio_ms": _ms(self._lost_audio_ms),
            "persistence": dict(sorted((self._persistence or {}).items())),
        }


def _check_count(name: str, n: int) -> None:
    if n < 0:
        raise ValueError(f"{name} must be >= 0 (got {n})")
