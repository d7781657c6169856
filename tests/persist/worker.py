"""A worker process of the failover test (tests/persist/test_failover.py), run as a subprocess.

::

    python -m tests.persist.worker a|b --url ws://127.0.0.1:PORT --store file:DIR|redis:URL \\
        [--prefix KEY_PREFIX] [--lease-ttl SECONDS]

It opens the session ``call-42`` against the emulator at ``--url`` with the given store and
prints one JSON object a line on stdout for each step, flushed at once: the test reads these
lines as the worker's progress signals (never a sleep), and kills or drives it by them.

Worker ``a`` runs three text turns (the third makes the model call ``remember_city``, a tool
that sets State), sets State of its own, then waits until the snapshot holding the handle that
was issued after its third turn is saved, prints ``saved``, starts a fourth turn that the model
answers only much later, and waits there to be killed (SIGKILL) mid-conversation.

Worker ``b`` first tries to open the session while ``a`` holds it (``wait=0``: prints
``owned`` on :class:`~livehandle.SessionOwned`), then waits for ``go`` on stdin (the test sends
it after killing ``a``) and opens it again, waiting for the dead worker's lease to expire.  It
prints what it restored, asks one more turn, disconnects cleanly and prints ``closed``.

Every save reaches the store through :class:`Watched`, which prints nothing itself but keeps
each saved snapshot and its lease, so the worker knows what was saved under which fence.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import TYPE_CHECKING, Any

import trio

from livehandle import (
    FileStore,
    LiveConfig,
    LiveEvent,
    RedisStore,
    SessionEvent,
    SessionOwned,
    open_live_session,
    tool,
)

if TYPE_CHECKING:
    from livehandle import Lease, LiveHandle, SessionSnapshot, SessionStore, State

SESSION_ID = "call-42"
#: The open session's State, for the tool (a tool has no other way to reach it).
_STATES: list[State] = []


@tool
async def remember_city(city: str) -> dict[str, str]:
    """Remember the city the caller asked about."""
    _STATES[-1].set("city", city)
    return {"city": city}


CONFIG = LiveConfig(
    response_modality="TEXT",
    session_resumption=True,
    instruction="Be brief.",
    tools=(remember_city,),
)


def emit(step: str, **fields: Any) -> None:
    """Print one progress line (JSON) and flush it, so the test sees it at once."""
    sys.stdout.write(json.dumps({"step": step, **fields}) + "\n")
    sys.stdout.flush()


class Watched:
    """A store that forwards everything to another, and keeps what was saved with which lease."""

    def __init__(self, inner: SessionStore) -> None:
        self._inner = inner
        self.saves: list[tuple[SessionSnapshot, Lease]] = []
        self._changed = trio.Event()

    async def saved_with(self, resume_handle: str) -> tuple[SessionSnapshot, Lease]:
        """The first saved snapshot that holds ``resume_handle`` (waits for it)."""
        while True:
            for snapshot, lease in self.saves:
                if snapshot.resume_handle == resume_handle:
                    return snapshot, lease
            await self._changed.wait()

    async def load(self, session_id: str) -> SessionSnapshot | None:
        return await self._inner.load(session_id)

    async def save(self, snapshot: SessionSnapshot, *, lease: Lease) -> None:
        await self._inner.save(snapshot, lease=lease)
        self.saves.append((snapshot, lease))
        self._changed.set()
        self._changed = trio.Event()

    async def delete(self, session_id: str, *, lease: Lease) -> None:
        await self._inner.delete(session_id, lease=lease)

    async def acquire(
        self, session_id: str, *, owner: str, ttl: float = 15.0, wait: float = 0.0
    ) -> Lease:
        return await self._inner.acquire(session_id, owner=owner, ttl=ttl, wait=wait)

    async def renew(self, lease: Lease) -> Lease:
        return await self._inner.renew(lease)

    async def release(self, lease: Lease) -> None:
        await self._inner.release(lease)

    async def aclose(self) -> None:
        await self._inner.aclose()


def open_store(spec: str, prefix: str) -> SessionStore:
    """``file:DIR`` or ``redis:URL`` as a store."""
    kind, _, where = spec.partition(":")
    if kind == "file":
        return FileStore(where)
    if kind == "redis":
        return RedisStore(where, key_prefix=prefix)
    raise SystemExit(f"unknown store {spec!r}: use file:DIR or redis:URL")


async def ask(handle: LiveHandle, events: Any, text: str) -> str:
    """Send ``text`` and return the model's answer, once its turn is complete."""
    await handle.send_text(text)
    answer = ""
    async for event in events:
        if isinstance(event, LiveEvent.TextComplete):
            answer += event.text
        elif isinstance(event, LiveEvent.TurnComplete):
            return answer
    raise RuntimeError(f"the session ended before the answer to {text!r}")


async def handle_after_turn(raw: Any, turns: int) -> str:
    """The first resumable handle the server issued after its ``turns``-th ``turnComplete``."""
    complete = 0
    async for event in raw:
        if isinstance(event, SessionEvent.TurnComplete):
            complete += 1
        elif (
            isinstance(event, SessionEvent.SessionResumeUpdate)
            and complete >= turns
            and event.resumable
            and event.handle
        ):
            return event.handle
    raise RuntimeError("the session ended before the handle")


def user_state(state: dict[str, Any]) -> dict[str, Any]:
    """The application's State keys (the runtime keeps ``session:`` keys up to date itself)."""
    return {key: value for key, value in state.items() if not key.startswith("session:")}


def lease_fields(lease: Lease) -> dict[str, Any]:
    return {"owner": lease.owner, "fence": lease.fence, "ttl": lease.ttl}


async def worker_a(url: str, store: Watched, lease_ttl: float) -> None:
    async with open_live_session(
        CONFIG, endpoint=url, session_id=SESSION_ID, store=store, lease_ttl=lease_ttl
    ) as handle:
        _STATES.append(handle.state)
        events, raw = handle.events(), handle.subscribe()
        emit("opened")
        handle.state.set("name", "Ada")
        for text in ("one", "two", "what is the weather in Paris"):
            emit("turn", user=text, model=await ask(handle, events, text))
        emit("state", state=user_state(handle.state.to_dict()))
        wanted = await handle_after_turn(raw, 3)
        snapshot, lease = await store.saved_with(wanted)
        emit(
            "saved",
            handle=wanted,
            turn_count=snapshot.turn_count,
            state=user_state(snapshot.state),
            transcript=[[t.user, t.model] for t in snapshot.transcript],
            **lease_fields(lease),
        )
        await handle.send_text("hold on")  # the model starts a reply it finishes much later
        async for event in raw:
            if isinstance(event, SessionEvent.TextDelta):
                emit("holding", said=event.text)  # mid-reply: the model is talking now
                break
        await trio.sleep_forever()  # until the test kills this process


async def worker_b(url: str, store: Watched, lease_ttl: float, wait: float) -> None:
    try:
        async with open_live_session(
            CONFIG, endpoint=url, session_id=SESSION_ID, store=store, lease_ttl=lease_ttl
        ):
            emit("unexpected", what="opened a session another worker holds")
            return
    except SessionOwned as exc:
        emit("owned", session_id=exc.session_id, message=str(exc))
    line = await trio.to_thread.run_sync(sys.stdin.readline)
    if line.strip() != "go":
        raise SystemExit(f"expected 'go' on stdin, got {line!r}")
    started = time.monotonic()
    async with open_live_session(
        CONFIG, endpoint=url, session_id=SESSION_ID, store=store, lease_ttl=lease_ttl, wait=wait
    ) as handle:
        _STATES.append(handle.state)
        events = handle.events()
        emit("opened", waited=time.monotonic() - started)
        async for event in events:
            if isinstance(event, LiveEvent.Restored):
                emit("restored", fresh=event.fresh, turn_count=event.turn_count)
                break
        emit(
            "state",
            state=user_state(handle.state.to_dict()),
            transcript=[[t.user, t.model] for t in handle.transcript],
        )
        emit("turn", user="and now?", model=await ask(handle, events, "and now?"))
    snapshot, lease = store.saves[-1]
    emit(
        "closed",
        turn_count=snapshot.turn_count,
        transcript=[[t.user, t.model] for t in snapshot.transcript],
        **lease_fields(lease),
    )


async def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.persist.worker")
    parser.add_argument("role", choices=("a", "b"))
    parser.add_argument("--url", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--prefix", default="livehandle:")
    parser.add_argument("--lease-ttl", type=float, default=2.0)
    parser.add_argument("--wait", type=float, default=15.0)
    args = parser.parse_args(argv)
    store = Watched(open_store(args.store, args.prefix))
    try:
        if args.role == "a":
            await worker_a(args.url, store, args.lease_ttl)
        else:
            await worker_b(args.url, store, args.lease_ttl, args.wait)
    finally:
        await store.aclose()


if __name__ == "__main__":
    trio.run(main)
