"""Record items (demand: value and time; an event: start, end, energies) read by the
collector's reader from a simulated meter: each numeric field is its own reading in its own
unit, the record's times ride on them as ``record_*`` tags, compared with the meter's stored
registers (the simulator's ground truth)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime

import pytest

from headend.bus.link import BusLink
from headend.config.fleet import MeterConfig
from headend.drivers.dlt645.reader import read_dlt645
from protocols.dlt645 import catalogue
from simulators.dlt645 import (
    MeterBus,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    TransportLink,
)
from storage.records import Quality, Reading
from transports import Parity, SerialSettings, memory_pair

LINE = SerialSettings("sim", baud=115200, parity=Parity.NONE)
SLOT = datetime(2026, 3, 10, 4, 0, tzinfo=UTC)
ADDRESS = "000000000162"
METER = MeterConfig(id="m1", channel="bus-1", protocol="dlt645-2007", plan="-", address=ADDRESS)
TABLE = catalogue()


@asynccontextmanager
async def simulated(tariffs: int = 4) -> AsyncIterator[tuple[SimulatedMeter, BusLink]]:
    config = SimulatedMeterConfig(ADDRESS, StaticSource({}), reply_delay=0.002, tariffs=tariffs)
    meter = SimulatedMeter(config)
    bus = MeterBus([meter], LINE, clock=lambda: SLOT)
    master_end, device_end = memory_pair("records")
    async with asyncio.TaskGroup() as group:
        task = group.create_task(bus.serve(TransportLink(device_end)))
        try:
            yield meter, BusLink(master_end, gap=0)
        finally:
            await master_end.aclose()
            await task


async def read(quantities: Sequence[str], tariffs: int = 4) -> tuple[SimulatedMeter, list[Reading]]:
    async with simulated(tariffs) as (meter, link):
        readings = await read_dlt645(link, METER, quantities, SLOT, reply_timeout=0.3)
    return meter, readings


def truth(meter: SimulatedMeter, name: str, period: int = 0) -> dict[str, object]:
    """What the meter holds for every field of record ``name`` (its stored registers)."""
    item = TABLE.by_name(name)
    return {
        name + part.suffix: meter.stored.value(name + part.suffix, period, part.format)
        for part in item.parts
    }


async def test_a_demand_item_is_its_value_in_kw_tagged_with_the_time_it_occurred() -> None:
    meter, readings = await read(["demand_active_import_total"])
    held = truth(meter, "demand_active_import_total")
    [reading] = readings
    assert reading.quantity == "demand_active_import_total"
    assert reading.quality is Quality.ACTUAL
    assert reading.unit == "kW"
    assert reading.timestamp == SLOT
    assert reading.value == pytest.approx(held["demand_active_import_total"])
    moment = held["demand_active_import_total_time"]
    assert isinstance(moment, datetime)
    assert reading.tags["record_time"] == moment.isoformat()


async def test_a_block_of_demand_records_gives_each_tariff_its_value_and_time() -> None:
    wanted = ["demand_active_import_total", "demand_active_import_t1", "demand_active_import_t2"]
    meter, readings = await read(wanted)
    by_name = {r.quantity: r for r in readings}
    assert sorted(by_name) == sorted(wanted)
    for name in wanted:
        held = truth(meter, name)
        moment = held[name + "_time"]
        assert isinstance(moment, datetime)
        assert by_name[name].value == pytest.approx(held[name])
        assert by_name[name].tags["record_time"] == moment.isoformat()


async def test_a_tariff_the_meter_does_not_have_is_a_missing_reading_not_a_wrong_one() -> None:
    _, readings = await read(["demand_active_import_total", "demand_active_import_t3"], 2)
    by_name = {r.quantity: r for r in readings}
    assert by_name["demand_active_import_total"].quality is Quality.ACTUAL
    assert by_name["demand_active_import_t3"].quality is Quality.MISSING
    assert "not_available" in (by_name["demand_active_import_t3"].reason or "")


async def test_an_event_record_gives_its_energies_with_its_start_and_end() -> None:
    meter, readings = await read(["cover_open"])
    held = truth(meter, "cover_open", 1)
    item = TABLE.by_name("cover_open")
    numeric = [f"cover_open{p.suffix}" for p in item.parts if p.format.is_numeric]
    by_name = {r.quantity: r for r in readings}
    assert sorted(by_name) == sorted(numeric)
    for name in numeric:
        assert by_name[name].value == pytest.approx(held[name])
        assert by_name[name].unit == item.part_of(name).unit
    start, end = held["cover_open_start"], held["cover_open_end"]
    assert isinstance(start, datetime)
    assert isinstance(end, datetime)
    tags = by_name["cover_open_import_before"].tags
    assert tags["record_start"] == start.isoformat()
    assert tags["record_end"] == end.isoformat()
