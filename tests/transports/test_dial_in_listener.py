"""The dial-in listener over loopback TCP: registration, unknown ids, replacement, redial."""

from __future__ import annotations

import asyncio

import pytest

from transports.dial_in import DialInTransport
from transports.dial_in_listener import DialInListener
from transports.errors import ConnectionLost, OpenFailed


async def listener() -> tuple[DialInListener, DialInTransport]:
    dtu = DialInTransport("bus-1", b"DTU-0001", b"HB")
    server = DialInListener("127.0.0.1", 0, [dtu], registration_timeout=2.0)
    await server.start()
    return server, dtu


async def test_unknown_registration_is_refused_and_counted() -> None:
    server, dtu = await listener()
    async with asyncio.TaskGroup() as group:
        task = group.create_task(server.run())
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"NOPE-9999")
        assert await reader.read() == b""  # closed by the listener
        writer.close()
        assert server.counters.unknown == 1
        with pytest.raises(OpenFailed, match="not connected"):
            await dtu.open()
        task.cancel()


async def test_registered_bytes_reach_the_bus_without_packets() -> None:
    server, dtu = await listener()
    async with asyncio.TaskGroup() as group:
        task = group.create_task(server.run())
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"DTU-00")
        writer.write(b"01")
        await asyncio.wait_for(dtu.attached.wait(), 2)
        await dtu.open()
        await dtu.write(b"ping")
        assert await reader.readexactly(4) == b"ping"
        writer.write(b"abHBcd")
        got = b""
        while len(got) < 4:
            got += await dtu.read(64)
        assert got == b"abcd"
        assert dtu.heartbeats == 1
        # a second connection replaces the first; a read on the first fails
        _reader2, writer2 = await asyncio.open_connection("127.0.0.1", server.port)
        pending = asyncio.ensure_future(dtu.read(64))
        writer2.write(b"DTU-0001xyz")
        with pytest.raises(ConnectionLost):
            await pending
        assert await dtu.read(64) == b"xyz"
        assert server.counters.replaced == 1
        assert await reader.read() == b""
        # drop and redial
        writer2.close()
        await writer2.wait_closed()
        with pytest.raises(ConnectionLost):
            await dtu.read(64)
        _, writer3 = await asyncio.open_connection("127.0.0.1", server.port)
        writer3.write(b"DTU-0001")
        dtu.attached.clear()
        await asyncio.wait_for(dtu.attached.wait(), 2)
        assert dtu.is_open
        writer3.close()
        writer.close()
        task.cancel()


async def test_transport_for_makes_one_dtu_per_registration() -> None:
    from transports.factory import create_transport
    from transports.settings import DialInSettings

    server = DialInListener("127.0.0.1", 0, [], registration_timeout=2.0)
    first = create_transport("dialin://DTU-7?heartbeat=HB-7", dial_in=server)
    again = create_transport("dialin://DTU-7?heartbeat=HB-7", dial_in=server)
    assert first is again
    assert server.transport(b"DTU-7") is first
    with pytest.raises(OpenFailed, match="heartbeat"):
        server.transport_for(DialInSettings(b"DTU-7", b"OTHER"))
    with pytest.raises(OpenFailed, match="no dial-in listener"):
        create_transport("dialin://DTU-7")
    await server.start()
    async with asyncio.TaskGroup() as group:
        task = group.create_task(server.run())
        _reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"DTU-7")
        async with asyncio.timeout(5):
            await server.transport(b"DTU-7").attached.wait()
        assert server.counters.registered == 1
        writer.close()
        task.cancel()
