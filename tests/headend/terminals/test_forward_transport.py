"""DL/T 645 through a concentrator: the driver over ``ForwardingTransport``, real TCP.

The real ``TerminalServer`` and a ``SimulatedConcentrator`` whose meter port holds simulated
DL/T 645 meters: what the driver reads is the meters' source, a meter the concentrator cannot
reach is a timeout naming terminal and meter, and an offline or hung terminal fails with the
terminal's errors, naming the meter too.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, timedelta, timezone

import pytest

from headend.bus.link import BusLink
from headend.commands.forwarded import ForwardedMeter
from headend.config.terminals import TerminalMeterConfig
from headend.drivers.dlt645.control import RelayState
from headend.drivers.dlt645.security_module import SoftwareSecurityModule
from headend.drivers.registry import driver_for
from headend.errors import ReadFailed
from headend.terminals import TerminalOffline, TerminalRequestFailed, TerminalServer
from headend.terminals.forward_transport import ForwardingTransport, ForwardSettings
from protocols.dlt645 import RelayAction
from protocols.gdw1376 import Address
from simulators.concentrator import FrozenStore, SimulatedConcentrator, StoreMeter
from simulators.concentrator.forwarding import MeterPort
from simulators.dlt645 import SimulatedMeter
from simulators.dlt645.esam import EsamConfig
from storage.records import FailureReason
from tests.simulators.dlt645.master import START, VALUES, SettableClock, meter

KEY = "4403-00012"
ADDRESSES = ("000000000001", "000000000002")
DRIVER = driver_for("dlt645-2007")
METER_NOW = START.astimezone(timezone(timedelta(hours=8)))
"""What the meters' clocks show (UTC+8): relay orders are valid from here."""


class Rig:
    def __init__(self, server: TerminalServer, concentrator: SimulatedConcentrator) -> None:
        self.server = server
        self.concentrator = concentrator
        port = concentrator.forward_to
        assert isinstance(port, MeterPort)
        self.port = port

    def link(self, key: str = KEY, reply_timeout: float = 5.0) -> BusLink:
        settings = ForwardSettings(reply_timeout=reply_timeout, meter_timeout=1.0)
        return BusLink(
            ForwardingTransport(self.server, key, name="jzq-T1", settings=settings), gap=0.0
        )


def _meter(pn: int, control: str = "plaintext") -> ForwardedMeter:
    return ForwardedMeter(
        TerminalMeterConfig(f"m{pn}", "jzq-T1", pn, ADDRESSES[pn - 1], control=control)
    )


def _concentrator() -> SimulatedConcentrator:
    stored = [StoreMeter(pn, f"m{pn}", address) for pn, address in enumerate(ADDRESSES, 1)]
    store = FrozenStore(stored, lambda meter_id, day: None, lambda: date(2026, 3, 10))
    meters = [SimulatedMeter(meter(a, meter_id=f"m{n}")) for n, a in enumerate(ADDRESSES, 1)]
    return SimulatedConcentrator(
        Address("4403", 12),
        store,
        lambda: START.replace(tzinfo=None),
        heartbeat_period=30,
        reconnect_delay=0.05,
        forward_to=MeterPort(meters, store, SettableClock()),
    )


@pytest.fixture
async def forward_rig() -> AsyncIterator[Rig]:
    async with TerminalServer(heartbeat_periods={KEY: 30}) as server:
        concentrator = _concentrator()
        task = asyncio.create_task(concentrator.run("127.0.0.1", server.port))
        try:
            async with asyncio.timeout(10):
                await server.wait_online(KEY)
                await concentrator.logged_in.wait()
            yield Rig(server, concentrator)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class _Channel:
    name = "terminal jzq-T1"
    url = "gdw1376://4403-00012/port/2"
    protocol = "dlt645-2007"
    timeout = 1.0
    inter_frame_gap = 0.0


async def test_the_driver_reads_a_meter_behind_the_concentrator(forward_rig: Rig) -> None:
    link = forward_rig.link()
    await link.open()
    quantities = ("energy_active_import_total", "voltage_a", "current_a")
    readings = await DRIVER.read_action(_Channel(), _meter(2), quantities, START)(link)
    assert {r.quantity: r.value for r in readings} == {q: VALUES[q] for q in quantities}
    assert all(r.meter == "m2" for r in readings)
    assert forward_rig.port.counters.answered == forward_rig.port.counters.frames >= 1


async def test_a_meter_the_concentrator_cannot_reach_is_a_timeout_naming_both(
    forward_rig: Rig,
) -> None:
    forward_rig.concentrator.store.unreachable.add(1)
    link = forward_rig.link()
    await link.open()
    with pytest.raises(ReadFailed) as caught:
        await DRIVER.read_action(_Channel(), _meter(1), ("voltage_a",), START)(link)
    assert caught.value.reason is FailureReason.TIMEOUT
    assert "jzq-T1" in caught.value.detail
    assert ADDRESSES[0] in caught.value.detail
    assert "did not answer the forwarded frame" in caught.value.detail
    # The next frame to another meter on the same port is answered as usual.
    readings = await DRIVER.read_action(_Channel(), _meter(2), ("voltage_a",), START)(link)
    assert readings[0].value == VALUES["voltage_a"]


async def test_an_offline_terminal_fails_at_once_naming_the_meter(forward_rig: Rig) -> None:
    link = forward_rig.link(key="4403-00099")
    await link.open()
    with pytest.raises(TerminalOffline) as caught:
        await DRIVER.read_action(_Channel(), _meter(1), ("voltage_a",), START)(link)
    assert caught.value.reason is FailureReason.CONNECTION_LOST
    assert "4403-00099" in caught.value.detail
    assert ADDRESSES[0] in caught.value.detail
    assert forward_rig.server.counters.requests == 0  # nothing was sent


async def test_a_hung_terminal_is_the_terminals_timeout_naming_the_meter(forward_rig: Rig) -> None:
    forward_rig.concentrator.faults.silent = True
    link = forward_rig.link(reply_timeout=0.2)
    await link.open()
    with pytest.raises(TerminalRequestFailed) as caught:
        await DRIVER.read_action(_Channel(), _meter(2), ("voltage_a",), START)(link)
    assert caught.value.reason is FailureReason.TIMEOUT
    assert KEY in caught.value.detail
    assert ADDRESSES[1] in caught.value.detail
    assert forward_rig.server.counters.retries == 0  # never twice on the meter's line


async def test_a_relay_order_is_carried_out_by_the_meter_behind_it(forward_rig: Rig) -> None:
    link = forward_rig.link()
    await link.open()
    result = await DRIVER.control_relay(
        link, _meter(1), RelayAction.TRIP, METER_NOW, reply_timeout=1.0
    )
    assert (result.state, result.verified) == (RelayState.OPEN, True)
    assert [m.relay_open for m in forward_rig.port.meters] == [True, False]


async def test_a_broadcast_goes_through_and_expects_no_reply(forward_rig: Rig) -> None:
    link = forward_rig.link()
    await link.open()
    await DRIVER.broadcast_time(link, METER_NOW)
    assert forward_rig.port.counters.unanswered == 1
    # The empty reply of a broadcast is not a timeout waiting for the next exchange.
    readings = await DRIVER.read_action(_Channel(), _meter(1), ("voltage_a",), START)(link)
    assert readings[0].value == VALUES["voltage_a"]


async def test_a_terminal_that_denies_forwarding_is_unsupported_naming_the_meter(
    forward_rig: Rig,
) -> None:
    forward_rig.concentrator.forward_to = None  # it has no meter port: AFN 00 F2
    link = forward_rig.link()
    await link.open()
    with pytest.raises(TerminalRequestFailed) as caught:
        await DRIVER.read_action(_Channel(), _meter(2), ("voltage_a",), START)(link)
    assert caught.value.reason is FailureReason.UNSUPPORTED
    assert ADDRESSES[1] in caught.value.detail
    assert "denied" in caught.value.detail


async def test_a_secured_relay_order_is_sealed_through_the_concentrator() -> None:
    """Identity authentication (03) and the sealed order (1C) are frames like any other: the
    ESAM behind the concentrator opens the order, and a plaintext one it refuses."""
    key = bytes.fromhex("00112233445566778899aabbccddeeff")
    stored = [StoreMeter(1, "m1", ADDRESSES[0])]
    store = FrozenStore(stored, lambda meter_id, day: None, lambda: date(2026, 3, 10))
    secured = SimulatedMeter(meter(ADDRESSES[0], meter_id="m1", esam=EsamConfig(key)))
    concentrator = SimulatedConcentrator(
        Address("4403", 12),
        store,
        lambda: START.replace(tzinfo=None),
        forward_to=MeterPort([secured], store, SettableClock()),
    )
    async with TerminalServer(heartbeat_periods={KEY: 30}) as server:
        task = asyncio.create_task(concentrator.run("127.0.0.1", server.port))
        try:
            async with asyncio.timeout(10):
                await server.wait_online(KEY)
            link = Rig(server, concentrator).link()
            await link.open()
            with pytest.raises(ReadFailed):  # the ESAM meter refuses a plaintext order
                await DRIVER.control_relay(
                    link, _meter(1), RelayAction.TRIP, METER_NOW, reply_timeout=1.0
                )
            assert not secured.relay_open
            result = await DRIVER.control_relay(
                link,
                _meter(1, control="secured"),
                RelayAction.TRIP,
                METER_NOW,
                reply_timeout=1.0,
                security=SoftwareSecurityModule(key),
            )
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert (result.state, result.verified) == (RelayState.OPEN, True)
    assert secured.relay_open
