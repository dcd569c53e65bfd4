"""搜表 against a simulated RS-485 bus whose meters really collide: every address found, none
invented, the wildcard never taken for a meter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from headend.bus.link import BusLink
from headend.drivers.dlt645.search import Heard, Progress, probe, search
from protocols.dlt645 import Address, Standard
from simulators.dlt645 import (
    EchoesWildcard,
    MeterBus,
    ScheduledFault,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    TransportLink,
)
from simulators.dlt645.faults import FaultScript
from transports import Parity, SerialSettings, memory_pair

LINE = SerialSettings("sim", baud=115200, parity=Parity.NONE)
NOW = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
TIMEOUT = 0.08
SETTLE = 0.03
# Clusters that share trailing digits (the search has to narrow up to four digits deep).
ADDRESSES = [
    *(f"3201030{n:05d}" for n in (1, 2, 3, 11, 21, 31, 101, 201, 1001, 2001)),
    *(f"4400000{n:05d}" for n in range(40, 60)),
    "000000000007",
]


@asynccontextmanager
async def bus_of(
    addresses: Sequence[str],
    standard: Standard = Standard.DLT645_2007,
    echo: bool = False,
) -> AsyncIterator[tuple[BusLink, MeterBus]]:
    faults = FaultScript([ScheduledFault(EchoesWildcard())] if echo else [])
    meters = [
        SimulatedMeter(
            SimulatedMeterConfig(a, StaticSource({}), standard=standard, reply_delay=0.002),
            faults,
        )
        for a in addresses
    ]
    bus = MeterBus(meters, LINE, clock=lambda: NOW, faults=faults)
    master_end, device_end = memory_pair("search")
    async with asyncio.TaskGroup() as group:
        task = group.create_task(bus.serve(TransportLink(device_end)))
        try:
            yield BusLink(master_end, gap=0), bus
        finally:
            await master_end.aclose()
            await task


async def test_every_meter_of_a_crowded_bus_is_found_and_no_other() -> None:
    steps: list[Progress] = []
    async with bus_of(ADDRESSES) as (link, _):
        found, unresolved = await search(
            link,
            Standard.DLT645_2007,
            reply_timeout=TIMEOUT,
            settle=SETTLE,
            on_progress=steps.append,
        )
    assert [str(a) for a in found] == sorted(ADDRESSES)
    assert unresolved == []
    assert [s.asked for s in steps] == list(range(1, len(steps) + 1))  # one line per request
    assert steps[-1].found == tuple(found)
    assert steps[-1].pending == 0
    assert any(s.probe.heard is Heard.SEVERAL for s in steps)  # collisions did the narrowing
    assert len(steps) < 10 * len(ADDRESSES)


async def test_several_meters_answering_one_wildcard_garble_each_other() -> None:
    async with bus_of(ADDRESSES[:3]) as (link, _):
        heard = await probe(
            link, Address.WILDCARD, Standard.DLT645_2007, reply_timeout=TIMEOUT, settle=SETTLE
        )
    assert heard.heard is Heard.SEVERAL
    assert heard.address is None


@pytest.mark.parametrize("echo", [False, True])
async def test_a_1997_meter_echoing_the_wildcard_is_found_by_its_data(echo: bool) -> None:
    addresses = ["000000123456", "000000654321", "000000000456"]
    async with bus_of(addresses, Standard.DLT645_1997, echo=echo) as (link, _):
        found, unresolved = await search(
            link, Standard.DLT645_1997, reply_timeout=TIMEOUT, settle=SETTLE
        )
    assert [str(a) for a in found] == sorted(addresses)
    assert Address.WILDCARD not in found
    assert unresolved == []


async def test_an_empty_bus_finds_nothing_after_one_request() -> None:
    steps: list[Progress] = []
    async with bus_of([]) as (link, _):
        found, _ = await search(
            link, Standard.DLT645_2007, reply_timeout=TIMEOUT, on_progress=steps.append
        )
    assert found == []
    assert [s.probe.heard for s in steps] == [Heard.NOTHING]
