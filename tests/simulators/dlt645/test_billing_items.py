"""The billing-grade items (settlement, demand, events, nameplate, 62 daily records, many
tariffs, replies over 200 bytes) as a simulated meter answers them, read by a codec master.

The expected values are the meter's ``StoredRegisters`` asked by name, the same ground truth
the system test compares ``headend read`` with.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import pytest

from protocols.dlt645 import (
    Address,
    DataItem,
    ErrorResponse,
    ErrorWord,
    FrameDecoder,
    ReadFollowUpRequest,
    ReadRequest,
    ReadResponse,
    catalogue,
)
from protocols.dlt645.frame import MAX_DATA_LENGTH
from simulators.dlt645 import RampingSource, StaticSource
from simulators.dlt645.sources import StoredRegisters
from tests.simulators.dlt645.master import LOCAL_START, START, VALUES, make_bus, meter, serving

ADDRESS = "000000000007"
A = Address.parse(ADDRESS)

STORED_ITEMS = [
    ("settlement_energy_active_import", 1),
    ("settlement_energy_active_import", 12),
    ("settlement_energy_active_export", 3),
    ("settlement_energy_reactive_1", 2),
    ("settlement_energy_reactive_2", 2),
    ("settlement_energy_active_import_t2", 5),
    ("demand_active_import", 0),
    ("demand_active_import_total", 0),
    ("demand_active_export", 0),
    ("demand_reactive_1", 0),
    ("settlement_demand_active_import", 4),
    ("power_apparent", 0),
    ("temperature", 0),
    ("battery_voltage_clock", 0),
    ("battery_voltage_reading", 0),
    ("loss_of_voltage_a", 1),
    ("loss_of_voltage_c", 10),
    ("programming", 1),
    ("meter_clear", 2),
    ("event_clear", 1),
    ("cover_open", 1),
    ("power_outage_last", 3),
    ("relay_trip_time", 1),
    ("relay_close_time", 2),
    ("programming_count", 0),
    ("cover_open_count", 0),
    ("tariff_count", 0),
    ("meter_number", 0),
    ("asset_number", 0),
    ("settlement_day", 0),
    ("prepaid_balance", 0),
    ("meter_status", 0),
]


def expected(item: DataItem, period: int, stored: StoredRegisters) -> object:
    """What the meter holds, asked of its stored registers value by value."""
    values: dict[str, object] = {}
    for base in item.members or (item.name,):
        fields = {
            base + part.suffix: stored.value(base + part.suffix, period, part.format)
            for part in item.parts
        }
        if None in fields.values():
            break
        values |= fields
    if item.members or item.is_record:
        return values
    return values[item.name]


async def read(di: int, **options: object) -> object:
    bus = make_bus([meter(ADDRESS, **options)])
    async with serving(bus) as master:
        master.decoder = FrameDecoder(max_data_length=MAX_DATA_LENGTH)
        reply = await master.ask(ReadRequest(A, di).to_frame())
        if isinstance(reply, ErrorResponse):
            return reply
        assert isinstance(reply, ReadResponse)
        payload, seq = reply.payload, 0
        while reply.more:
            seq += 1
            reply = await master.ask(ReadFollowUpRequest(A, di, seq).to_frame())
            assert isinstance(reply, ReadResponse)
            payload += reply.payload
    return catalogue().lookup(di).decode(payload)


@pytest.mark.parametrize(
    ("name", "period"), STORED_ITEMS, ids=[f"{n}[{p}]" for n, p in STORED_ITEMS]
)
async def test_every_stored_item_is_answered_with_its_ground_truth(name: str, period: int) -> None:
    item = catalogue().by_name(name)
    di = item.di_for(period) if period else item.di
    value = await read(di)
    if name == "meter_status":  # the meter's own state, not stored: relay closed, all zero
        assert value == {f"meter_status_{n}": 0 for n in range(1, 8)}
        return
    assert value == expected(item, period, StoredRegisters(ADDRESS))


async def test_records_mix_times_and_numbers() -> None:
    demand = await read(catalogue().by_name("demand_active_import_t1").di)
    assert isinstance(demand, Mapping)
    assert isinstance(demand["demand_active_import_t1"], float)
    assert isinstance(demand["demand_active_import_t1_time"], datetime)
    cover = await read(catalogue().by_name("cover_open").di_for(1))
    assert isinstance(cover, Mapping)
    assert cover["cover_open_end"] > cover["cover_open_start"]
    assert set(cover) >= {"cover_open_import_before", "cover_open_q4_after"}


async def test_nameplate_numbers() -> None:
    assert await read(catalogue().by_name("meter_number").di) == int(ADDRESS)
    asset = await read(catalogue().by_name("asset_number").di)
    assert isinstance(asset, str)
    assert asset.endswith(ADDRESS)
    assert await read(catalogue().by_name("settlement_day").di) == {
        "settlement_day_hour": 0,
        "settlement_day": 1,
    }


async def test_tariff_blocks_go_up_to_the_count_the_meter_reports() -> None:
    tariffs = {f"energy_active_import_t{n}": 100.0 + n for n in range(1, 13)}
    source = StaticSource({**VALUES, **tariffs})
    assert await read(catalogue().by_name("tariff_count").di, source=source, tariffs=8) == 8
    block = await read(catalogue().by_name("energy_active_import").di, source=source, tariffs=8)
    assert isinstance(block, Mapping)
    assert list(block) == [
        "energy_active_import_total",
        *(f"energy_active_import_t{n}" for n in range(1, 9)),
    ]
    assert block["energy_active_import_t8"] == 108.0
    single = await read(catalogue().by_name("energy_active_import_t7").di, source=source, tariffs=8)
    assert single == 107.0
    beyond = await read(catalogue().by_name("energy_active_import_t9").di, source=source, tariffs=8)
    assert isinstance(beyond, ErrorResponse)
    assert beyond.flags == ErrorWord.NO_DATA
    demand = await read(catalogue().by_name("demand_active_import").di, tariffs=14)
    assert isinstance(demand, Mapping)
    assert len(demand) == 2 * 15  # total + 14 tariffs, value and time each


async def test_a_reply_over_200_data_bytes_is_one_frame_from_a_meter_that_sends_them() -> None:
    item = catalogue().by_name("demand_active_import")  # 31 records of 8 bytes: 248 + DI
    value = await read(item.di, tariffs=30, max_data_length=MAX_DATA_LENGTH)
    assert value == expected(item, 0, StoredRegisters(ADDRESS, tariffs=30))
    bus = make_bus([meter(ADDRESS, tariffs=30, max_data_length=MAX_DATA_LENGTH)])
    async with serving(bus) as master:
        master.decoder = FrameDecoder(max_data_length=MAX_DATA_LENGTH)
        reply = await master.ask(ReadRequest(A, item.di).to_frame())
    assert isinstance(reply, ReadResponse)
    assert not reply.more
    assert len(reply.payload) == 31 * 8


@pytest.mark.parametrize("days_ago", [1, 30, 62])
async def test_62_daily_frozen_records(days_ago: int) -> None:
    source = RampingSource(START - timedelta(days=70), energy_at_start=1000.0, power_kw=1.0)
    table = catalogue()
    day = LOCAL_START.date() - timedelta(days=days_ago - 1)
    frozen_time = await read(table.by_name("frozen_time").di_for(days_ago), source=source)
    assert frozen_time == datetime.combine(day, datetime.min.time())
    energy = await read(
        table.by_name("frozen_energy_active_import").di_for(days_ago), source=source
    )
    assert energy == {"frozen_energy_active_import_total": pytest.approx(source.frozen_energy(day))}
    export = table.by_name("frozen_energy_active_export")
    value = await read(export.di_for(days_ago), source=source)
    assert value == expected(export, day.toordinal(), StoredRegisters(ADDRESS))
    demand = table.by_name("frozen_demand_active_import")
    record = await read(demand.di_for(days_ago), source=source)
    assert isinstance(record, Mapping)
    assert len(record) == 2 * 5  # total + the meter's 4 tariffs, value and time each
