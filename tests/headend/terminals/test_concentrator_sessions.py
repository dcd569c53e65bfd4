"""The simulated concentrator dialling in to the real terminal server over TCP."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import pytest

from headend.terminals import TerminalServer
from protocols.gdw1376 import Address
from simulators.concentrator import (
    ConcentratorFaults,
    FrozenStore,
    SimulatedConcentrator,
    StoreMeter,
    tariff_split,
)

TODAY = date(2026, 12, 2)
CLOCK = datetime(2026, 12, 2, 1, 15, 30)  # noqa: DTZ001 - a terminal's wall clock
KEY = "4403-00012"
METERS = [StoreMeter(pn, f"m{pn}", f"0000000000{pn:02d}") for pn in range(1, 11)]


def _total(meter_id: str, day: date) -> float:
    return 1000.0 + int(meter_id[1:]) * 10.0 + (day - date(2026, 11, 1)).days * 3.1234


def _concentrator(faults: ConcentratorFaults | None = None) -> SimulatedConcentrator:
    store = FrozenStore(METERS, _total, lambda: TODAY, keeps_days=10)
    return SimulatedConcentrator(
        Address("4403", 12),
        store,
        lambda: CLOCK,
        heartbeat_period=30,
        reconnect_delay=0.05,
        units_per_frame=4,
        faults=faults,
    )


@pytest.fixture
async def server() -> AsyncIterator[TerminalServer]:
    async with TerminalServer(heartbeat_periods={KEY: 30}) as running:
        yield running


async def _online(server: TerminalServer, concentrator: SimulatedConcentrator) -> None:
    async with asyncio.timeout(10):
        await server.wait_online(KEY)
        await concentrator.logged_in.wait()


def _day_request(points: range, day: date) -> list[tuple[int, int, dict[str, object]]]:
    return [(p, 161, {"td_d": day}) for p in points]


async def test_it_logs_in_and_answers_its_clock(server: TerminalServer) -> None:
    concentrator = _concentrator()
    async with asyncio.TaskGroup() as group:
        task = group.create_task(concentrator.run("127.0.0.1", server.port))
        await _online(server, concentrator)
        reply = await server.request(KEY, 0x0C, [(0, 2, {})], reply_timeout=5)
        task.cancel()
    assert reply.units[0].values["clock"] == CLOCK
    assert concentrator.logins_confirmed == 1


async def test_a_days_frozen_values_come_in_several_frames_equal_to_its_store(
    server: TerminalServer,
) -> None:
    concentrator = _concentrator()
    day = TODAY - timedelta(days=1)
    async with asyncio.TaskGroup() as group:
        task = group.create_task(concentrator.run("127.0.0.1", server.port))
        await _online(server, concentrator)
        reply = await server.request(KEY, 0x0D, _day_request(range(1, 11), day), reply_timeout=5)
        task.cancel()
    assert reply.frames == 3  # 10 units, 4 per frame
    got = {u.point: tuple(u.values["forward_active"]) for u in reply.units}
    assert got == {m.point: concentrator.store.frozen(m.point, day) for m in METERS}
    assert got[3] == tariff_split(_total("m3", day))
    assert all(u.values["td_d"] == day for u in reply.units)


async def test_missing_days_and_unreachable_meters_have_no_record(server: TerminalServer) -> None:
    concentrator = _concentrator()
    missing = TODAY - timedelta(days=2)
    concentrator.store.missing.add(missing)
    concentrator.store.unreachable.add(2)
    async with asyncio.TaskGroup() as group:
        task = group.create_task(concentrator.run("127.0.0.1", server.port))
        await _online(server, concentrator)
        gone = await server.request(KEY, 0x0D, _day_request(range(1, 4), missing), reply_timeout=5)
        old = TODAY - timedelta(days=11)
        too_old = await server.request(KEY, 0x0D, _day_request(range(1, 2), old), reply_timeout=5)
        held = await server.request(
            KEY, 0x0D, _day_request(range(1, 4), TODAY - timedelta(days=3)), reply_timeout=5
        )
        task.cancel()
    assert gone.denied
    assert too_old.denied  # older than the 10 days it keeps
    assert [u.point for u in held.units] == [1, 3]


async def test_after_a_dropped_connection_it_dials_and_logs_in_again(
    server: TerminalServer,
) -> None:
    concentrator = _concentrator(ConcentratorFaults(drop_after_requests=1))
    async with asyncio.TaskGroup() as group:
        task = group.create_task(concentrator.run("127.0.0.1", server.port))
        await _online(server, concentrator)
        first = server.sessions[KEY]
        await server.request(KEY, 0x0C, [(0, 2, {})], reply_timeout=5)
        async with asyncio.timeout(10):
            while server.sessions.get(KEY) in (None, first):
                await server.wait_change()
        await concentrator.logged_in.wait()
        reply = await server.request(KEY, 0x0C, [(0, 2, {})], reply_timeout=5)
        task.cancel()
    assert reply.units[0].values["clock"] == CLOCK
    assert concentrator.connections == 2
    assert server.counters.logins == 2


async def test_its_archive_names_each_meters_point_and_address(server: TerminalServer) -> None:
    concentrator = _concentrator()
    async with asyncio.TaskGroup() as group:
        task = group.create_task(concentrator.run("127.0.0.1", server.port))
        await _online(server, concentrator)
        reply = await server.request(
            KEY, 0x0A, [(0, 10, {"count": 2, "seqs": [3, 7]})], reply_timeout=5
        )
        task.cancel()
    records = reply.units[0].values["meters"]
    assert [(r["point"], r["address"]) for r in records] == [
        (3, "000000000003"),
        (7, "000000000007"),
    ]


async def test_a_connection_reset_by_the_master_is_redialled_not_a_crash() -> None:
    """A reset arrives inside the connection's TaskGroup (as an ExceptionGroup): it must end
    that connection only, as a clean close does, and the terminal dials again."""
    connected: list[asyncio.StreamWriter] = []
    second = asyncio.Event()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connected.append(writer)
        await reader.read(64)  # its login
        if len(connected) == 1:
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()  # linger 0: RST, not FIN
        else:
            second.set()

    listener = await asyncio.start_server(accept, "127.0.0.1", 0)
    concentrator = _concentrator()
    task = asyncio.create_task(concentrator.run("127.0.0.1", listener.sockets[0].getsockname()[1]))
    try:
        async with asyncio.timeout(10):
            await second.wait()
        assert not task.done()
        assert concentrator.connections == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        for writer in connected:
            writer.close()
        listener.close()


async def test_forwarding_carries_a_meter_frame_and_an_unreachable_meter_gives_length_0(
    server: TerminalServer,
) -> None:
    from protocols.dlt645 import Address as MeterAddress
    from protocols.dlt645 import ReadRequest
    from protocols.dlt645 import encode as encode_meter_frame
    from protocols.gdw1376 import parse_units
    from protocols.gdw1376.forwarding import forward, inner_frame

    answering = MeterAddress.parse("000000000001")
    seen: list[bytes] = []

    def meter(frame: bytes) -> bytes | None:
        seen.append(frame)
        request = inner_frame(frame)
        if request.address != answering:
            return None
        return encode_meter_frame(request, preamble=0)  # an echo stands in for the meter

    concentrator = _concentrator()
    concentrator.forward_to = meter
    async with asyncio.TaskGroup() as group:
        task = group.create_task(concentrator.run("127.0.0.1", server.port))
        await _online(server, concentrator)
        for address, expect in ((answering, True), (MeterAddress.parse("000000000099"), False)):
            (unit,) = parse_units(
                forward(Address("4403", 12), 31, ReadRequest(address, 0x00010000).to_frame(), seq=0)
            )
            reply = await server.request(KEY, 0x10, [(0, 1, unit.values)])
            values = reply.units[0].values
            assert values["port"] == 31
            if expect:
                assert inner_frame(values["frame"]).address == answering
            else:
                assert values["length"] == 0
        task.cancel()
    assert len(seen) == 2
