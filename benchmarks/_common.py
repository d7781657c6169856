"""Shared plumbing of the client benchmarks: processes, TLS, the clients' setups, statistics.

Every benchmark runs its server (the emulator, or the sink of ``bench_server.py``) in one
subprocess and each client under test in another, so ``time.process_time()`` of a client process
counts that client only.  A worker prints one JSON line as its last line of output; the
orchestrating script collects it.  Every subprocess has a time limit.

The clients (``CLIENTS`` are the original four, ``ALL_CLIENTS`` adds the ``websockets`` ones):

* ``handle``: ``open_live_session`` and :class:`~livehandle.LiveHandle`;
* ``handle-wsk``: the same handle opened with
  ``transport=livehandle.lowlevel.WebsocketsTransport()`` (the ``websockets`` package's Trio
  implementation); "not available" where that class is missing;
* ``session``: the L0 ``livehandle._session`` (``Session.send`` / ``Session.subscribe``);
* ``trio-ws``: a bare ``trio_websocket`` client with plain ``json`` + ``base64``, the baseline
  every ratio is taken against;
* ``websockets-trio``: a bare ``websockets.trio.client.connect`` client, ``json`` + ``base64``;
* ``websockets-asyncio``: a bare ``websockets.asyncio.client.connect`` client (asyncio), the same;
* ``genai``: google-genai's ``client.aio.live.connect`` (asyncio, ``websockets``; ``wss://`` only).

One more kind, ``resume``, is the ``handle`` client opened with ``LiveConfig(auto_resume=True)``
(every send also goes into the replay log); ``bench_send_cpu.py`` compares it with ``handle``.

google-genai only speaks ``wss://``, so by default the servers serve TLS (a trustme CA) and every
client connects over TLS, so that all pay the same encryption.  The real-time benchmarks
(``bench_capacity.py``, ``bench_realtime_cpu.py``) also run over plain ``ws://``, where
google-genai is skipped.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import selectors
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SERVER_SCRIPT = HERE / "bench_server.py"

CLIENTS = ("handle", "session", "trio-ws", "genai")
ALL_CLIENTS = (
    "handle",
    "handle-wsk",
    "session",
    "trio-ws",
    "websockets-trio",
    "websockets-asyncio",
    "genai",
)
BASELINE = "trio-ws"  # every ratio is to the bare trio-websocket client
ASYNCIO_KINDS = frozenset({"genai", "websockets-asyncio"})  # the others run under Trio
WSS_ONLY = frozenset({"genai"})  # google-genai builds its URL from https:// only
LABELS = {
    "handle": "LiveHandle",
    "handle-wsk": "LiveHandle (websockets)",
    "session": "L0 Session",
    "trio-ws": "bare trio-websocket",
    "websockets-trio": "bare websockets (trio)",
    "websockets-asyncio": "bare websockets (asyncio)",
    "genai": "google-genai",
    "resume": "LiveHandle + auto_resume",
    "pace": "Trio pacing only",  # no connection: what the benchmark's own pacing costs
}
NOT_AVAILABLE = "n/a (not available)"


def client_list(text: str) -> tuple[str, ...]:
    """``--clients`` for argparse: comma-separated names from ``ALL_CLIENTS``, checked."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in LABELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown client {', '.join(unknown) or '(none given)'}; "
            f"choose from {', '.join(ALL_CLIENTS)}"
        )
    return names


MODEL = "gemini-live-2.5-flash-preview"
API_KEY = "bench-key"  # the emulator accepts any key unless configured otherwise
LIVE_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
MIC_MIME = "audio/pcm;rate=16000"
MIC_FRAME = bytes(640)  # 20 ms of 16 kHz PCM16 silence
CHUNK_MS = 40  # 40 ms of 24 kHz PCM16 = 1920 bytes per model chunk
CHUNK_BYTES = 1920

SERVER_START_TIMEOUT = 30.0  # seconds for a server process to print its URL
SERVER_STOP_TIMEOUT = 10.0

# Variables that would make google-genai talk to Vertex, another API version, or a real key.
GENAI_ENVIRONMENT = (
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_GENAI_USE_ENTERPRISE",
    "GOOGLE_GENAI_API_VERSION",
    "GOOGLE_GENAI_CLIENT_MODE",
    "GOOGLE_API_KEY",
    "GEMINI_API_KEY",
)


# -- processes ------------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment for child processes: this checkout first on the path, no genai settings."""
    env = {k: v for k, v in os.environ.items() if k not in GENAI_ENVIRONMENT}
    path = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) if not path else f"{ROOT}{os.pathsep}{path}"
    env.setdefault("PYTHONHASHSEED", "0")
    return env


class Server(str):
    """The URL of a server process (a ``str``), with the process id in ``pid``."""

    pid: int


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) used so far by process ``pid``, or None when unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def steal_seconds(cpu: int = 0) -> float | None:
    """CPU time the hypervisor took from CPU ``cpu`` so far ("steal" in /proc/stat), or None."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                fields = line.split()
                if fields[0] == f"cpu{cpu}":
                    return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return None


@contextmanager
def server_process(*args: str) -> Iterator[Server]:
    """Run ``bench_server.py ARGS`` for the ``with`` block; yields the URL it prints first."""
    command = [sys.executable, str(SERVER_SCRIPT), *args]
    proc = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            if not selector.select(SERVER_START_TIMEOUT):
                raise RuntimeError(f"the server did not start in {SERVER_START_TIMEOUT:g} s")
        line = proc.stdout.readline().strip()
        if not line.startswith(("ws://", "wss://")):
            error = proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
            raise RuntimeError(f"the server printed {line!r} instead of its URL\n{error}")
        url = Server(line)
        url.pid = proc.pid
        yield url
    finally:
        proc.terminate()  # only the process started here, by its own handle
        try:
            proc.wait(SERVER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pin(role: str) -> None:
    """Keep the client on CPU 0 and the server on CPU 1 (when there are two), so that the two
    processes never compete for one core and the scheduler does not move them around."""
    mode = os.environ.get("BENCH_PIN", "split")
    if mode == "off" or not hasattr(os, "sched_setaffinity") or (os.cpu_count() or 1) < 2:
        return
    os.sched_setaffinity(0, {0 if role == "client" or mode == "same" else 1})


class DrivenWorker:
    """A client process that runs one measurement each time it is told to (``go`` on stdin).

    The worker connects, warms up and prints ``ready``; then each :meth:`rep` writes ``go`` and
    reads one JSON line back.  Several of them are alternated rep by rep, so that a slow moment of
    the machine does not land on one client only.
    """

    def __init__(self, script: Path, args: Sequence[str], timeout: float) -> None:
        self.timeout = timeout
        self.error: str | None = None
        # A file, not a pipe: a worker that logs a lot must never block on a full stderr pipe.
        self.stderr = tempfile.TemporaryFile("w+")  # noqa: SIM115  # closed in close() / _fail()
        self.proc = subprocess.Popen(
            [sys.executable, str(script), "--worker", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env=child_env(),
        )
        line = self._read_line()
        if line != "ready":
            self._fail(f"did not get ready: {line!r}")

    def _read_line(self) -> str | None:
        assert self.proc.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            if not selector.select(self.timeout):
                return None
        return self.proc.stdout.readline().strip()

    def _fail(self, why: str) -> None:
        self.proc.kill()
        self.proc.wait()
        self.stderr.seek(0)
        tail = " | ".join(self.stderr.read().strip().splitlines()[-3:])
        self.stderr.close()
        self.error = f"{why} {tail}".strip()

    def rep(self) -> dict[str, Any] | None:
        if self.error is not None:
            return None
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write("go\n")
            self.proc.stdin.flush()
        except OSError:
            self._fail("the worker exited")
            return None
        line = self._read_line()
        if not line:
            self._fail("no result (timed out or exited)")
            return None
        try:
            result: dict[str, Any] = json.loads(line)
        except ValueError:
            self._fail(f"unreadable result {line[:100]!r}")
            return None
        return result

    def close(self) -> None:
        if self.error is not None:
            return
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            self.proc.wait(self.timeout)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()


def interleaved(
    script: Path, args_for: dict[str, list[str]], reps: int, timeout: float
) -> dict[str, dict[str, Any]]:
    """Start one :class:`DrivenWorker` per client and alternate ``reps`` measurements among them.

    Returns, per client, ``{"reps": [result, ...]}`` or ``{"error": ...}``.
    """
    workers: dict[str, DrivenWorker] = {}
    missing = {kind: why for kind in args_for if (why := unavailable(kind)) is not None}
    try:
        for kind, args in args_for.items():
            if kind not in missing:
                workers[kind] = DrivenWorker(script, args, timeout)
        found: dict[str, list[dict[str, Any]]] = {kind: [] for kind in workers}
        order = list(workers)
        for round_ in range(reps):
            shift = round_ % len(order)  # rotate who goes first
            for kind in order[shift:] + order[:shift]:
                result = workers[kind].rep()
                if result is not None:
                    found[kind].append(result)
    finally:
        for worker in workers.values():
            worker.close()
    out: dict[str, dict[str, Any]] = {kind: {"error": why} for kind, why in missing.items()}
    for kind, worker in workers.items():
        if worker.error is not None or not found[kind]:
            out[kind] = {"error": worker.error or "no result"}
        else:
            out[kind] = {"reps": found[kind]}
    return out


async def driven_loop(measure_once: Any, read_line: Any) -> None:
    """The worker side of :class:`DrivenWorker` (works under Trio and asyncio alike)."""
    print("ready", flush=True)
    while (await read_line()).strip() == "go":
        print(json.dumps(await measure_once()), flush=True)


def run_worker(script: Path, args: Sequence[str], timeout: float) -> dict[str, Any]:
    """Run ``script --worker ARGS`` in a fresh interpreter and return its JSON result.

    A failed or timed-out worker gives ``{"error": ...}`` instead of raising, so one client that
    breaks (or is not installed) leaves the others' numbers standing.
    """
    command = [sys.executable, str(script), "--worker", *args]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=child_env(), check=False
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        return {"error": f"exit status {done.returncode}: {tail or 'no output'}"}
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except ValueError:
        return {"error": f"unreadable worker output: {lines[-1][:200]!r}"}
    return result


def emit(result: dict[str, Any]) -> None:
    """Print a worker's result as the last line of its output."""
    print(json.dumps(result), flush=True)


AVAILABILITY_CHECKS = {
    "handle-wsk": "from livehandle.lowlevel import WebsocketsTransport",
    "websockets-trio": "import websockets.trio.client",
    "websockets-asyncio": "import websockets.asyncio.client",
    "genai": "import google.genai",
}


@functools.cache
def unavailable(kind: str) -> str | None:
    """Why client ``kind`` cannot run here (``"n/a (not available): why"``), or None.

    Checked before a worker is started, in a child process with the workers' environment (this
    checkout first on the path), so that a client whose package (or, for ``handle-wsk``, whose
    transport class) is missing is reported as not available instead of as a failure.
    """
    check = AVAILABILITY_CHECKS.get(kind)
    if check is None:
        return None
    done = subprocess.run(
        [sys.executable, "-c", check],
        capture_output=True,
        text=True,
        timeout=60,
        env=child_env(),
        check=False,
    )
    if done.returncode == 0:
        return None
    last = (done.stderr.strip().splitlines() or ["import failed"])[-1]
    return f"{NOT_AVAILABLE}: {last.split(' (/')[0]}"


def applicable(kind: str, plain: bool) -> str | None:
    """Why ``kind`` is skipped on this scheme (google-genai on ``ws://``), or None."""
    if plain and kind in WSS_ONLY:
        return "skipped: speaks wss:// only"
    return None


# -- TLS ------------------------------------------------------------------------------------------


def make_tls(directory: Path) -> Path:
    """Create a throwaway CA and a certificate for 127.0.0.1 in ``directory``; return it."""
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_and_cert_chain_pem.write_to_path(str(directory / "server.pem"))
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    return directory


def server_ssl_context(tls_dir: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(Path(tls_dir) / "server.pem"))
    return context


def client_ssl_context(tls_dir: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(Path(tls_dir) / "ca.pem"))


# -- the clients' setups --------------------------------------------------------------------------


def live_config(modality: str, **overrides: Any) -> Any:
    """The LiveConfig both livehandle clients use (L0 sends its ``to_setup``)."""
    from livehandle._config.live import LiveConfig

    settings: dict[str, Any] = {
        "model": MODEL,
        "response_modality": modality,
        # Server VAD on (the default): with it off, the handle holds microphone audio back until
        # an activity starts (the Live API refuses audio before activityStart), and the
        # benchmark's steady tone never starts one.  The client-side input VAD still runs on
        # every frame, as in the default configuration.
        "server_vad": True,
        "input_transcription": False,
        "output_transcription": False,
    }
    settings.update(overrides)
    return LiveConfig(**settings)


def endpoint(url: str, tls_dir: str, context: ssl.SSLContext | None = None) -> Any:
    from livehandle._transport.endpoints import Endpoint

    context = context or client_ssl_context(tls_dir)
    return Endpoint.google_ai(API_KEY, base_url=url, ssl_context=context)


def raw_setup(modality: str) -> str:
    """The setup message a hand-written client sends (the same content as ``live_config``)."""
    return json.dumps(
        {
            "setup": {
                "model": f"models/{MODEL}",
                "generationConfig": {"responseModalities": [modality]},
            }
        }
    )


def genai_client(url: str, tls_dir: str) -> Any:
    from google import genai
    from google.genai import types

    netloc = url.split("://", 1)[1].rstrip("/")
    return genai.Client(
        api_key=API_KEY,
        vertexai=False,
        http_options=types.HttpOptions(
            base_url=f"https://{netloc}",
            async_client_args={"ssl": client_ssl_context(tls_dir)},
        ),
    )


def genai_config(modality: str) -> dict[str, Any]:
    return {"response_modalities": [modality]}


# -- statistics -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), nearest rank."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def paired_ratio(values: Sequence[float], baseline: Sequence[float]) -> float:
    """The median over reps of ``values[i] / baseline[i]`` (NaN when there is no pair; a NaN
    value, a failed rep, drops its pair).

    Reps of the clients alternate, so rep ``i`` of one ran next to rep ``i`` of the baseline and
    their ratio cancels most of what the (noisy, shared) machine was doing meanwhile.
    """
    pairs = zip(values, baseline, strict=False)
    ratios = [v / b for v, b in pairs if b and not (math.isnan(v) or math.isnan(b))]
    return statistics.median(ratios) if ratios else math.nan


def summary(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table, first column left-aligned, the others right-aligned."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for row in [headers, *rows]:
        cells = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


class Stopwatch:
    """Process CPU time and wall time of a block."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.wall = 0.0

    def __enter__(self) -> Stopwatch:
        self._cpu = time.process_time()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu = time.process_time() - self._cpu
        self.wall = time.perf_counter() - self._wall


def cpu_report(
    title: str,
    clients: dict[str, dict[str, Any]],
    extra_heads: Sequence[str] = (),
    extra: Any = None,
) -> str:
    """The CPU table: median and best per client, and both ratios to trio-ws and to genai.

    ``extra(result)`` returns the cells of ``extra_heads`` for one client's result.
    """
    base = clients.get(BASELINE, {})
    genai = clients.get("genai", {})
    rows = []
    for kind, r in clients.items():
        if "error" in r:
            rows.append([LABELS[kind], *["n/a"] * (5 + len(extra_heads))])
            continue

        def ratio(other: dict[str, Any], key: str, r: dict[str, Any] = r) -> str:
            return fmt(r[key] / other[key], 2) if key in other else "n/a"

        paired = (
            paired_ratio(r["ms_per_1000"], base["ms_per_1000"]) if "ms_per_1000" in base else None
        )
        cells = [
            LABELS[kind],
            fmt(r["median"]),
            fmt(r["min"]),
            fmt(paired, 2),
            f"{ratio(base, 'median')} / {ratio(base, 'min')}",
            f"{ratio(genai, 'median')} / {ratio(genai, 'min')}",
        ]
        rows.append(cells + (list(extra(r)) if extra is not None else []))
    head = [
        "client",
        "median",
        "best",
        "x trio-ws (paired)",
        "x trio-ws (med/best)",
        "x genai (med/best)",
    ]
    errors = [f"  {LABELS[k]}: {r['error']}" for k, r in clients.items() if "error" in r]
    return "\n".join([title, table([*head, *extra_heads], rows), *errors])


def latency_summary(counted: Sequence[float]) -> dict[str, float]:
    """How many latencies were counted, and their p50 / p90 / p99 / max (ms)."""
    return {
        "counted": len(counted),
        "p50": percentile(counted, 50),
        "p90": percentile(counted, 90),
        "p99": percentile(counted, 99),
        "max": max(counted, default=float("nan")),
    }


def latency_report(title: str, clients: dict[str, Any], counted: str) -> str:
    """A latency table (one row per client, from :func:`latency_summary`), then any errors."""
    rows = []
    errors = []
    for kind, r in clients.items():
        label = LABELS.get(kind, kind)  # a row that is not a client is named by its key
        if "error" in r:
            rows.append([label, "n/a", "n/a", "n/a", "n/a", "n/a"])
            errors.append(f"  {label}: {r['error']}")
            continue
        cells = [fmt(r[key], 2) for key in ("p50", "p90", "p99", "max")]
        rows.append([label, str(r["counted"]), *cells])
    body = table(["client", counted, "p50", "p90", "p99", "max"], rows)
    return "\n".join([title, body, *errors])
