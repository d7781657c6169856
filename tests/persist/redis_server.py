"""A real ``redis-server`` for the tests: started on a free loopback port, stopped afterwards.

Nothing is written to disk by the server (``--save ""``, ``--appendonly no``), and its working
directory is a temporary one.  When the binary is missing a test is skipped with one clear
message on a developer's machine, but fails under ``CI=true``: CI must never pass silently
without having run the Redis tests.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator

MISSING = "redis-server is not installed: apt-get install redis-server"
#: Seconds a server may take to say it is ready.
START_TIMEOUT = 15.0
READY_LINE = b"Ready to accept connections"


def find_redis_server() -> str:
    """The path of ``redis-server``; skips the test when missing, or fails it under ``CI=true``."""
    path = shutil.which("redis-server")
    if path is not None:
        return path
    if os.environ.get("CI") == "true":
        pytest.fail(f"{MISSING} (CI=true: the Redis tests must run in CI)", pytrace=False)
    pytest.skip(MISSING)


def free_port() -> int:
    """A loopback TCP port nothing listens on (at the moment of the call)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ping(port: int, *, password: str | None = None, timeout: float = 5.0) -> bool:
    """True when the server on ``port`` answers PING (after AUTH when ``password`` is given)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
        if password is not None:
            conn.sendall(f"AUTH {password}\r\n".encode())
            if not conn.recv(64).startswith(b"+OK"):
                return False
        conn.sendall(b"PING\r\n")
        return conn.recv(64).startswith(b"+PONG")


def _wait_ready(process: subprocess.Popen[bytes], deadline: float) -> bytes:
    """Read the server's log until it is ready; returns what it logged (bounded by ``deadline``)."""
    assert process.stdout is not None
    seen = b""
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while READY_LINE not in seen:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                raise TimeoutError(f"redis-server did not start within {START_TIMEOUT} s: {seen!r}")
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError(f"redis-server exited with {process.wait()}: {seen!r}")
            seen += chunk
    return seen


def _drain(process: subprocess.Popen[bytes]) -> None:
    """Keep reading the server's log so that it never blocks on a full pipe."""
    assert process.stdout is not None
    while os.read(process.stdout.fileno(), 65536):
        pass


@contextlib.contextmanager
def redis_server(*extra: str, password: str | None = None) -> Iterator[int]:
    """Run a ``redis-server`` on a free loopback port; yields the port, stops it on exit.

    ``extra`` arguments go to the server as they are; ``password`` sets ``requirepass``.
    """
    binary = find_redis_server()
    with tempfile.TemporaryDirectory(prefix="livehandle-redis-") as directory:
        for attempt in range(3):  # another process may take the free port first
            port = free_port()
            args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
            args += ["--appendonly", "no", "--dir", directory, "--daemonize", "no", *extra]
            if password is not None:
                args += ["--requirepass", password]
            process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            try:
                _wait_ready(process, time.monotonic() + START_TIMEOUT)
            except RuntimeError:
                if attempt == 2:
                    raise
                continue
            except BaseException:
                process.kill()
                process.wait()
                raise
            break
        drain = threading.Thread(target=_drain, args=(process,), daemon=True)
        drain.start()
        try:
            assert ping(port, password=password), "redis-server does not answer PING"
            yield port
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            drain.join(timeout=10)
            assert process.stdout is not None
            process.stdout.close()
