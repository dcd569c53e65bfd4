"""The bus served over TCP (transparent gateway), a pseudo-terminal, and from a community."""

from __future__ import annotations

from datetime import timedelta

import pytest

from protocols.dlt645 import (
    Address,
    FrameDecoder,
    ReadRequest,
    ReadResponse,
    catalogue,
    decode_value,
    parse_response,
)
from simulators.community.model import Community
from simulators.dlt645 import (
    FaultScript,
    GatewayDisconnect,
    PtyPort,
    ScheduledFault,
    TcpGateway,
)
from simulators.dlt645.community_adapter import bus_from_community
from simulators.scenario import load_scenario
from tests.simulators.dlt645.master import (
    FAST,
    START,
    VALUES,
    Master,
    SettableClock,
    make_bus,
    meter,
)
from transports import (
    ConnectionLost,
    Parity,
    SerialSettings,
    TcpSettings,
    TcpTransport,
    opened,
)
from transports.serial_port import SerialTransport

A1 = Address.parse("000000000001")
VOLTAGE_A = catalogue().by_name("voltage_a").di


async def test_tcp_gateway_serves_reads() -> None:
    bus = make_bus([meter("000000000001")])
    async with TcpGateway(bus) as gateway:
        link = TcpTransport(TcpSettings("127.0.0.1", gateway.port))
        async with opened(link):
            reply = await Master(link).ask(ReadRequest(A1, VOLTAGE_A).to_frame())
    assert isinstance(reply, ReadResponse)
    assert decode_value(reply.di, reply.payload) == VALUES["voltage_a"]


async def test_gateway_disconnect_drops_the_client_and_reconnect_works_after_it() -> None:
    clock = SettableClock(START)
    outage = ScheduledFault(GatewayDisconnect(), None, START, START + timedelta(minutes=1))
    bus = make_bus([meter("000000000001")], clock=clock, faults=FaultScript([outage]))
    clock.now = START - timedelta(seconds=1)
    async with TcpGateway(bus) as gateway:
        settings = TcpSettings("127.0.0.1", gateway.port)
        transport = TcpTransport(settings)
        await transport.open()
        master = Master(transport)
        assert isinstance(await master.ask(ReadRequest(A1, VOLTAGE_A).to_frame()), ReadResponse)
        clock.now = START  # the outage begins
        await master.send(ReadRequest(A1, VOLTAGE_A).to_frame())
        with pytest.raises(ConnectionLost):
            await master.frame()
        await transport.aclose()
        clock.now = START + timedelta(minutes=1)  # over
        async with opened(TcpTransport(settings)) as again:
            reply = await Master(again).ask(ReadRequest(A1, VOLTAGE_A).to_frame())
    assert isinstance(reply, ReadResponse)
    assert gateway.connections == 2


async def test_new_client_replaces_the_old_one() -> None:
    bus = make_bus([meter("000000000001")])
    async with TcpGateway(bus) as gateway:
        settings = TcpSettings("127.0.0.1", gateway.port)
        first, second = TcpTransport(settings), TcpTransport(settings)
        async with opened(first), opened(second):
            reply = await Master(second).ask(ReadRequest(A1, VOLTAGE_A).to_frame())
            with pytest.raises(ConnectionLost):
                await first.read(1)
    assert isinstance(reply, ReadResponse)


async def test_pty_serves_a_serial_head_end() -> None:
    bus = make_bus([meter("000000000001")])
    async with PtyPort(bus) as port:
        settings = SerialSettings(port.path, baud=FAST.baud, parity=Parity.NONE)
        async with opened(SerialTransport(settings)) as serial:
            master = Master(serial)
            first = await master.ask(ReadRequest(A1, VOLTAGE_A).to_frame())
            second = await master.ask(ReadRequest(A1, VOLTAGE_A).to_frame())
    for reply in (first, second):
        assert isinstance(reply, ReadResponse)
        assert decode_value(reply.di, reply.payload) == VALUES["voltage_a"]


def test_community_bus_serves_the_model_values() -> None:
    scenario = load_scenario("smoke")
    community = Community.from_scenario(scenario, seed=1)
    bus_id = scenario.meters[0].bus
    bus = bus_from_community(community, bus_id, FAST)
    spec = scenario.meters[0]
    address = Address.parse(spec.address)
    later = community.now + timedelta(hours=2)
    bus.clock = lambda: later
    energy_di = catalogue().by_name("energy_active_import_total").di
    [burst] = bus.on_frame(ReadRequest(address, energy_di).to_frame(), 0.0)
    decoder = FrameDecoder()
    decoder.feed(burst.data)
    frame = decoder.next_frame()
    assert frame is not None
    reply = parse_response(frame)
    assert isinstance(reply, ReadResponse)
    assert community.now == later
    expected = community.meter_values(spec.id).energy_active_import_total
    assert decode_value(reply.di, reply.payload) == round(expected, 2)
    assert {m.meter_id for m in bus.meters} == {m.id for m in scenario.meters if m.bus == bus_id}
