"""Real meter behaviour against the reader: block refusals learned per meter, odd lengths
failing one item, each against a simulated meter (``simulators.dlt645.behaviours``) that
behaves that way, compared with the values the simulated meter holds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from headend.bus.link import BusLink
from headend.config.fleet import MeterConfig
from headend.drivers.block_support import BlockSupport, BlockSupportBook
from headend.drivers.dlt645.reader import read_dlt645
from simulators.dlt645 import (
    ErrorReply,
    MeterBus,
    MoreTariffs,
    RefusalStyle,
    RefusesBlocks,
    ScheduledFault,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    TransportLink,
    WideValue,
    WireFault,
)
from simulators.dlt645.faults import FaultScript
from storage.records import Quality, Reading
from transports import Parity, SerialSettings, memory_pair

LINE = SerialSettings("sim", baud=115200, parity=Parity.NONE)
SLOT = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
ADDRESS = "000000000161"
METER = MeterConfig(id="m1", channel="bus-1", protocol="dlt645-2007", plan="-", address=ADDRESS)
TIMEOUT = 0.3
TRUTH = {
    "voltage_a": 230.1,
    "voltage_b": 229.9,
    "voltage_c": 231.2,
    "current_a": 5.123,
    "current_b": 1.5,
    "current_c": 0.25,
    "energy_active_import_total": 1234.56,
    "energy_active_import_t1": 600.5,
    "energy_active_import_t2": 300.06,
    "energy_active_import_t3": 200.0,
    "energy_active_import_t4": 134.0,
    "frequency": 50.01,
}
WANTED = tuple(TRUTH)


class Rig:
    def __init__(self, bus: MeterBus, link: BusLink) -> None:
        self.bus = bus
        self.link = link
        self.book = BlockSupportBook()

    async def read(self, quantities: Sequence[str] = WANTED) -> dict[str, Reading]:
        readings = await read_dlt645(
            self.link, METER, quantities, SLOT, reply_timeout=TIMEOUT, support=self.book
        )
        return {r.quantity: r for r in readings}


@asynccontextmanager
async def meter_with(*quirks: WireFault) -> AsyncIterator[Rig]:
    faults = FaultScript(ScheduledFault(q, meter=ADDRESS) for q in quirks)
    config = SimulatedMeterConfig(ADDRESS, StaticSource(TRUTH), reply_delay=0.002)
    bus = MeterBus([SimulatedMeter(config, faults)], LINE, clock=lambda: SLOT, faults=faults)
    master_end, device_end = memory_pair("interop")
    async with asyncio.TaskGroup() as group:
        task = group.create_task(bus.serve(TransportLink(device_end)))
        try:
            yield Rig(bus, BusLink(master_end, gap=0))
        finally:
            await master_end.aclose()
            await task


def values(readings: dict[str, Reading]) -> dict[str, float | None]:
    return {name: reading.value for name, reading in readings.items()}


async def test_a_meter_that_answers_blocks_reads_them_and_is_remembered_as_supporting() -> None:
    async with meter_with() as rig:
        readings = await rig.read()
        frames = rig.bus.frames_received
    assert values(readings) == pytest.approx(TRUTH)
    assert frames == 4  # voltage, current, energy blocks and frequency
    assert rig.book.of_meter("m1") == {
        "0201FF00": BlockSupport(True),
        "0202FF00": BlockSupport(True),
        "0001FF00": BlockSupport(True),
    }


@pytest.mark.parametrize(
    ("style", "why"),
    [
        (RefusalStyle.ERROR_WORD, "refused with error word 0x02"),
        (RefusalStyle.EMPTY, "an empty reply"),
        (RefusalStyle.SILENT, "no reply to the block while single items answer"),
    ],
)
async def test_a_meter_that_refuses_blocks_is_read_item_by_item_and_remembered(
    style: RefusalStyle, why: str
) -> None:
    async with meter_with(RefusesBlocks(style)) as rig:
        first = await rig.read()
        frames_first = rig.bus.frames_received
        second = await rig.read()
        frames_second = rig.bus.frames_received - frames_first
    for readings in (first, second):
        assert all(r.quality is Quality.ACTUAL for r in readings.values()), readings
        assert values(readings) == pytest.approx(TRUTH)
    learned = rig.book.of_meter("m1")
    assert set(learned) == {"0201FF00", "0202FF00", "0001FF00"}
    assert all(s == BlockSupport(False, why) for s in learned.values())
    assert frames_first == 3 + len(TRUTH)  # three refused blocks, then every item singly
    assert frames_second == len(TRUTH)  # the plan no longer asks for blocks


async def test_a_meter_refusing_everything_says_nothing_about_blocks() -> None:
    async with meter_with(ErrorReply(0x02)) as rig:
        readings = await rig.read(("voltage_a", "voltage_b", "voltage_c"))
    assert {r.reason for r in readings.values()} == {"error_response"}
    assert rig.book.of_meter("m1") == {}


async def test_a_value_sent_in_too_many_bytes_fails_that_item_with_its_reason() -> None:
    async with meter_with(WideValue(0x02800002, 3)) as rig:  # frequency in 3 bytes, not 2
        readings = await rig.read()
    frequency = readings.pop("frequency")
    assert frequency.quality is Quality.MISSING
    assert frequency.reason is not None
    assert frequency.reason.startswith("malformed: DI 02800002 (frequency)")
    assert "3" in frequency.reason
    assert values(readings) == pytest.approx({k: v for k, v in TRUTH.items() if k != "frequency"})


async def test_an_energy_block_with_more_tariffs_still_yields_every_value() -> None:
    async with meter_with(MoreTariffs(8)) as rig:
        readings = await rig.read()
    assert all(r.quality is Quality.ACTUAL for r in readings.values()), readings
    assert values(readings) == pytest.approx(TRUTH)
