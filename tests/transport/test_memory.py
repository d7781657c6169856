from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

from livehandle._errors import (
    ConnectFailed,
    ConnectionClosed,
    ConnectionLost,
    InvalidArgument,
    NormalClosure,
    ServerError,
)
from livehandle._transport import (
    Endpoint,
    MemoryConnection,
    MemoryTransport,
    memory_connection_pair,
)

KEY = "AIzaSy-memory-test-key"


async def test_messages_arrive_in_order_with_their_type():
    client, server = memory_connection_pair()
    sent = ["a", b"b", "c", b"", ""]

    for message in sent:
        await client.send(message)

    assert [await server.receive() for _ in sent] == sent


async def test_both_directions_are_independent():
    client, server = memory_connection_pair()

    await client.send("ping")
    await server.send("pong")

    assert await server.receive() == "ping"
    assert await client.receive() == "pong"


async def test_send_waits_while_peer_buffer_is_full(autojump_clock):
    client, server = memory_connection_pair(capacity=2)
    await client.send("1")
    await client.send("2")

    with trio.move_on_after(10) as scope:
        await client.send("3")
    assert scope.cancelled_caught

    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.send, "3")
        assert [await server.receive() for _ in range(3)] == ["1", "2", "3"]


async def test_send_rejects_other_types():
    client, _ = memory_connection_pair()

    with pytest.raises(TypeError, match="str or bytes"):
        await client.send(42)  # type: ignore[arg-type]


async def test_peer_close_drains_delivered_messages_then_raises_classified_error():
    client, server = memory_connection_pair()
    await server.send("last words")

    await server.aclose(1011, "Deadline expired before operation could complete.")

    assert await client.receive() == "last words"
    with pytest.raises(ServerError) as info:
        await client.receive()
    assert info.value.code == 1011
    assert info.value.deadline_expired


async def test_peer_close_wakes_a_waiting_receive():
    client, server = memory_connection_pair()

    async with trio.open_nursery() as nursery:

        async def close_soon():
            await trio.testing.wait_all_tasks_blocked()
            await server.aclose(1000, "bye")

        nursery.start_soon(close_soon)
        with pytest.raises(NormalClosure, match="bye"):
            await client.receive()


async def test_peer_close_makes_send_raise_at_once():
    client, server = memory_connection_pair()

    await server.aclose(1008, "policy")

    with pytest.raises(ConnectionClosed) as info:
        await client.send("x")
    assert info.value.code == 1008
    assert client.close_code == 1008
    assert client.close_reason == "policy"


async def test_peer_close_wakes_a_sender_blocked_on_full_buffer():
    client, server = memory_connection_pair(capacity=0)

    async with trio.open_nursery() as nursery:

        async def close_soon():
            await trio.testing.wait_all_tasks_blocked()
            await server.aclose(1000)

        nursery.start_soon(close_soon)
        with pytest.raises(NormalClosure):
            await client.send("never read")


async def test_closer_gets_its_own_close_error_and_discards_unread_messages():
    client, server = memory_connection_pair()
    await server.send("unread")

    await client.aclose(1000, "done")

    with pytest.raises(NormalClosure, match="done"):
        await client.receive()
    with pytest.raises(NormalClosure):
        await client.send("x")
    assert (client.close_code, client.close_reason) == (1000, "done")


async def test_close_is_idempotent_and_first_close_wins():
    client, server = memory_connection_pair()

    await server.aclose(1011, "first")
    await client.aclose(1000, "second")
    await client.aclose(1000, "third")

    for end in (client, server):
        assert (end.close_code, end.close_reason) == (1011, "first")
    with pytest.raises(ServerError, match="first"):
        await client.receive()


async def test_close_code_is_none_while_open():
    client, server = memory_connection_pair()

    assert client.close_code is None
    assert server.close_reason == ""


async def test_abort_makes_both_ends_raise_connection_lost():
    client, server = memory_connection_pair()
    await client.send("in flight")

    server.abort()

    for end in (client, server):
        assert end.close_code == 1006
        with pytest.raises(ConnectionLost):
            await end.receive()
        with pytest.raises(ConnectionLost):
            await end.send("x")


async def test_abort_wakes_a_waiting_receive():
    client, server = memory_connection_pair()

    async with trio.open_nursery() as nursery:

        async def abort_soon():
            await trio.testing.wait_all_tasks_blocked()
            server.abort()

        nursery.start_soon(abort_soon)
        with pytest.raises(ConnectionLost):
            await client.receive()


async def test_abort_after_close_keeps_close_code():
    client, server = memory_connection_pair()

    await client.aclose(1000)
    server.abort()

    assert client.close_code == 1000
    assert server.close_code == 1000


async def test_transport_records_endpoints_and_runs_handler(nursery):
    received: list[str | bytes] = []

    async def echo(end: MemoryConnection) -> None:
        message = await end.receive()
        received.append(message)
        await end.send(message)

    transport = MemoryTransport(echo)
    endpoint = Endpoint.google_ai(KEY, base_url="ws://127.0.0.1:1234")

    client = await transport.connect(endpoint, nursery)
    await client.send("hello")

    assert await client.receive() == "hello"
    assert received == ["hello"]
    assert len(transport.connections) == 1
    assert transport.connections[0].headers == (("x-goog-api-key", KEY),)
    assert transport.connections[0].url.startswith("ws://127.0.0.1:1234/ws/")


async def test_transport_closes_normally_when_handler_returns(nursery):
    async def greet_and_return(end: MemoryConnection) -> None:
        await end.send("hi")

    transport = MemoryTransport(greet_and_return)
    client = await transport.connect(Endpoint.from_url("ws://test.invalid"), nursery)

    assert await client.receive() == "hi"
    with pytest.raises(NormalClosure):
        await client.receive()


async def test_transport_gives_each_connect_a_fresh_pair(nursery):
    async def hold(end: MemoryConnection) -> None:
        await end.send("ready")
        await end.receive()

    transport = MemoryTransport(hold)
    endpoint = Endpoint.from_url("ws://test.invalid")
    first = await transport.connect(endpoint, nursery)
    second = await transport.connect(endpoint, nursery)

    await first.aclose()

    assert await second.receive() == "ready"
    assert second.close_code is None
    assert len(transport.connections) == 2


async def test_crashing_handler_aborts_connection_without_crashing_nursery(caplog):
    async def crash(end: MemoryConnection) -> None:
        raise RuntimeError("fake server bug")

    transport = MemoryTransport(crash)
    async with trio.open_nursery() as nursery:
        client = await transport.connect(Endpoint.from_url("ws://test.invalid"), nursery)
        with pytest.raises(ConnectionLost):
            await client.receive()

    records = [r for r in caplog.records if r.name == "livehandle.transport"]
    assert [r.levelno for r in records] == [logging.WARNING]
    # The traceback is in the message as text (scrubbed of credentials), not as exc_info.
    message = records[0].getMessage()
    assert "Traceback" in message
    assert "RuntimeError: fake server bug" in message


async def test_crashing_handler_log_never_shows_the_key(caplog):
    async def crash(end: MemoryConnection) -> None:
        raise RuntimeError(f"fake server saw key {end.endpoint.headers[0][1]}")

    transport = MemoryTransport(crash)
    endpoint = Endpoint.google_ai(KEY, base_url="ws://127.0.0.1:1234")
    async with trio.open_nursery() as nursery:
        client = await transport.connect(endpoint, nursery)
        with pytest.raises(ConnectionLost):
            await client.receive()

    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "fake server saw key ***" in text
    assert KEY not in text


async def test_client_end_scrubs_an_echoed_key_from_frames_and_close_reason():
    async def echo(end: MemoryConnection) -> None:
        await end.send(f"text {KEY}")
        await end.send(f"bytes {KEY}".encode())
        await end.aclose(1007, f"API key {KEY} not valid")

    transport = MemoryTransport(echo)
    endpoint = Endpoint.google_ai(KEY, base_url="ws://127.0.0.1:1234")
    async with trio.open_nursery() as nursery:
        client = await transport.connect(endpoint, nursery)
        assert await client.receive() == "text ***"
        assert await client.receive() == b"bytes ***"
        with pytest.raises(InvalidArgument) as info:
            await client.receive()

    assert info.value.reason == "API key *** not valid"
    assert client.close_reason == "API key *** not valid"
    assert KEY not in str(info.value)
    assert info.value.__context__ is None


async def test_refusing_transport_raises_connect_failed_without_key(nursery):
    transport = MemoryTransport(lambda end: end.aclose(), refuse=True)
    endpoint = Endpoint.google_ai(KEY, key_in_query=True, base_url="ws://127.0.0.1:1234")

    with pytest.raises(ConnectFailed) as info:
        await transport.connect(endpoint, nursery)

    assert KEY not in str(info.value)
    assert KEY not in info.value.url
    assert info.value.url.endswith("key=***")
    assert len(transport.connections) == 1


async def test_refuse_can_be_turned_off_between_connects(nursery):
    transport = MemoryTransport(lambda end: end.aclose(), refuse=True)
    endpoint = Endpoint.from_url("ws://test.invalid")
    with pytest.raises(ConnectFailed):
        await transport.connect(endpoint, nursery)

    transport.refuse = False
    client = await transport.connect(endpoint, nursery)

    with pytest.raises(NormalClosure):
        await client.receive()


async def test_both_ends_carry_the_endpoint_the_client_asked_for(nursery):
    seen = []

    async def look(end: MemoryConnection) -> None:
        seen.append(end.endpoint)

    transport = MemoryTransport(look)
    endpoint = Endpoint.google_ai(KEY, key_in_query=True, base_url="ws://127.0.0.1:1234")
    client = await transport.connect(endpoint, nursery)
    with pytest.raises(NormalClosure):
        await client.receive()

    assert seen == [client.endpoint] == transport.connections
    assert seen[0].url.endswith(f"?key={KEY}")  # the handler can check the credential
    assert KEY not in repr(client.endpoint)
    bare, _ = memory_connection_pair()
    assert bare.endpoint is None


async def test_a_gate_refuses_with_an_http_status_and_no_credential(nursery):
    gated = []

    def gate(resolved):
        gated.append(resolved)
        return (404, f"no such path; you sent {resolved.url}") if "nope" in resolved.url else None

    transport = MemoryTransport(lambda end: end.aclose(), gate=gate)
    with pytest.raises(ConnectFailed) as info:
        await transport.connect(Endpoint.from_url(f"ws://test.invalid/nope?key={KEY}"), nursery)
    assert info.value.status_code == 404
    assert str(info.value) == (
        "ws://test.invalid/nope?key=*** rejected the WebSocket upgrade with HTTP 404: "
        "no such path; you sent ws://test.invalid/nope?key=***"
    )

    client = await transport.connect(Endpoint.from_url("ws://test.invalid/yes"), nursery)
    with pytest.raises(NormalClosure):
        await client.receive()
    assert len(gated) == len(transport.connections) == 2


async def test_a_refusing_transport_does_not_consult_its_gate(nursery):
    def gate(resolved):
        raise AssertionError("the gate must not be called")

    transport = MemoryTransport(lambda end: end.aclose(), refuse=True, gate=gate)
    with pytest.raises(ConnectFailed) as info:
        await transport.connect(Endpoint.from_url("ws://test.invalid"), nursery)
    assert info.value.status_code is None


async def test_serve_in_runs_the_handler_beyond_the_client_nursery(nursery, autojump_clock):
    served = trio.Event()

    async def outlive(end: MemoryConnection) -> None:
        await end.send("hi")
        await trio.sleep(1)  # the client's nursery is gone by now
        served.set()

    transport = MemoryTransport(outlive, serve_in=nursery)
    async with trio.open_nursery() as client_nursery:
        client = await transport.connect(Endpoint.from_url("ws://test.invalid"), client_nursery)
        assert await client.receive() == "hi"
        client_nursery.cancel_scope.cancel()
    with trio.fail_after(5):
        await served.wait()
