"""One call, two workers: the second carries the conversation on from the first one's snapshot.

Worker A answers the start of call ``call-42``: it sets some State and takes two turns, saving a
snapshot at each turn boundary.  While A holds the call, a second worker that tries to open it
gets ``SessionOwned``.  Then A goes away (a redeploy), and worker B opens the same call id: it
finds the State and the transcript, resumes the Gemini session from A's handle, and answers
the next turn::

    python examples/many_workers.py                                 # a FileStore (temp dir)
    python examples/many_workers.py --redis redis://127.0.0.1:6379/0  # livehandle[redis]

With no API key it talks to the in-process emulator; set ``GEMINI_API_KEY`` (or pass
``--endpoint wss://...``) to talk to Gemini instead.  In production, A and B are separate
processes on separate machines, sharing one Redis.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import trio

from livehandle import (
    FileStore,
    LiveConfig,
    LiveEvent,
    RedisStore,
    SessionOwned,
    open_live_session,
)
from livehandle.testing import LiveEmulator

if TYPE_CHECKING:
    from livehandle import LiveHandle, SessionStore

CALL = "call-42"
CONFIG = LiveConfig(response_modality="TEXT", session_resumption=True, instruction="Be brief.")


async def ask(handle: LiveHandle, text: str) -> str:
    """Send one typed turn and return the model's answer."""
    events = handle.stream()
    await handle.send_text(text)
    answer = ""
    async for event in events:
        match event:
            case LiveEvent.TextComplete(text=part):
                answer += part
            case LiveEvent.TurnComplete():
                break
    print(f"  you: {text}\n  model: {answer}")
    return answer


async def worker_a(store: SessionStore, endpoint: str | None) -> None:
    """The first worker: State and two turns; a second opener is refused meanwhile."""
    print("worker A opens", CALL)
    async with open_live_session(CONFIG, endpoint=endpoint, session_id=CALL, store=store) as a:
        a.state.set("caller", "Ada")
        await ask(a, "I would like a table for two.")
        await ask(a, "Tomorrow at eight.")
        try:
            async with open_live_session(CONFIG, endpoint=endpoint, session_id=CALL, store=store):
                raise AssertionError("a held call must not open twice")
        except SessionOwned as exc:
            print(f"another worker is refused: {exc}")
    print("worker A goes away (its final snapshot is saved and its lease released)")


async def worker_b(store: SessionStore, endpoint: str | None) -> dict[str, object]:
    """The second worker: restores the call and answers the next turn."""
    print("worker B opens", CALL)
    async with open_live_session(
        CONFIG, endpoint=endpoint, session_id=CALL, store=store, wait=30.0
    ) as b:
        restored = None
        async for event in b.events():  # Restored comes first: a new subscription sees it
            if isinstance(event, LiveEvent.Restored):
                restored = event
                break
        assert restored is not None
        how = "a fresh session with the context" if restored.fresh else "resumed from the handle"
        transcript = [turn.user for turn in b.transcript]
        print(f"restored after {restored.turn_count} turn(s): {how}")
        print(f"State: caller={b.state.get('caller')!r}")
        print(f"transcript: {transcript}")
        answer = await ask(b, "Can you confirm it?")
        return {
            "fresh": restored.fresh,
            "turn_count": restored.turn_count,
            "caller": b.state.get("caller"),
            "transcript": transcript,
            "answer": answer,
        }


async def main(redis_url: str | None = None, endpoint: str | None = None) -> dict[str, object]:
    """Run worker A, then worker B, on one store; returns what B found and answered."""
    async with AsyncExitStack() as stack:
        if endpoint is None and not os.environ.get("GEMINI_API_KEY"):
            endpoint = (await stack.enter_async_context(LiveEmulator().running())).url
        store: SessionStore
        if redis_url is not None:
            store = RedisStore(redis_url)
        else:
            store = FileStore(stack.enter_context(tempfile.TemporaryDirectory()))
        stack.push_async_callback(store.aclose)
        await worker_a(store, endpoint)
        return await worker_b(store, endpoint)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", help="a redis:// URL (default: a FileStore in a temp dir)")
    parser.add_argument("--endpoint", help="a ws:// or wss:// Live API URL (default: emulator)")
    args = parser.parse_args()
    trio.run(main, args.redis, args.endpoint)
