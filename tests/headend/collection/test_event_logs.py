"""A meter's event log (DL/T 645 03xxxxxx, relay operations) read from a simulated meter and
stored as events with their start and end, compared with what the simulated meter holds
(its ``StoredRegisters``: a pure function of its address), and stored once however often the
log is read."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from headend.bus.link import BusLink
from headend.config.errors import ConfigError
from headend.config.fleet import MeterConfig, parse_fleet_config
from headend.config.meters import check_meters
from headend.drivers.dlt645.events import event_kinds, read_event_log
from protocols.dlt645 import catalogue
from simulators.dlt645 import (
    MeterBus,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    TransportLink,
)
from simulators.dlt645.sources import StoredRegisters
from tests.support.engine_rig import M1, M2, running_rig, two_meter_fleet
from transports import Parity, SerialSettings, memory_pair

CHINA = ZoneInfo("Asia/Shanghai")
LINE = SerialSettings("sim", baud=115200, parity=Parity.NONE)
SLOT = datetime(2026, 6, 10, 4, 0, tzinfo=UTC)
ADDRESS = "000000000163"
METER = MeterConfig(id="m1", channel="bus-1", protocol="dlt645-2007", plan="-", address=ADDRESS)
TABLE = catalogue()


def held(address: str, kind: str, record: int) -> tuple[datetime, datetime | None]:
    """The start and end (in the meter's zone) of record ``record`` of log ``kind``."""
    stored = StoredRegisters(address)
    item = TABLE.by_name(kind)
    names = dict(zip(item.value_names(), [*item.parts] * len(item.value_names()), strict=False))
    if names.keys() == {kind}:
        start = stored.value(kind, record, item.format)
        assert isinstance(start, datetime)
        return start.replace(tzinfo=CHINA), None
    start_name = next(n for n in (kind + "_start", kind + "_time") if n in item.value_names())
    fmt = item.format if item.is_block else item.part_of(start_name).format
    start = stored.value(start_name, record, fmt)
    assert isinstance(start, datetime)
    if kind + "_end" not in item.value_names():
        return start.replace(tzinfo=CHINA), None
    end = stored.value(kind + "_end", record, fmt)
    assert isinstance(end, datetime)
    return start.replace(tzinfo=CHINA), end.replace(tzinfo=CHINA)


@asynccontextmanager
async def simulated() -> AsyncIterator[tuple[MeterBus, BusLink]]:
    config = SimulatedMeterConfig(ADDRESS, StaticSource({}), reply_delay=0.002)
    bus = MeterBus([SimulatedMeter(config)], LINE, clock=lambda: SLOT)
    master_end, device_end = memory_pair("events")
    async with asyncio.TaskGroup() as group:
        task = group.create_task(bus.serve(TransportLink(device_end)))
        try:
            yield bus, BusLink(master_end, gap=0)
        finally:
            await master_end.aclose()
            await task


@pytest.mark.parametrize("kind", ["cover_open", "power_outage_last", "loss_of_voltage_a"])
async def test_an_event_log_is_every_record_with_its_start_and_end(kind: str) -> None:
    async with simulated() as (_, link):
        logged = await read_event_log(
            link, METER, kind, CHINA, known=lambda start: False, reply_timeout=0.3
        )
    history = TABLE.by_name(kind).history
    assert [(e.start, e.end) for e in logged] == [
        held(ADDRESS, kind, record) for record in range(1, history + 1)
    ]
    for event in logged:
        assert event.over
        opened, closed = event.records
        assert (opened.event, opened.timestamp, opened.active) == (kind, event.start, True)
        assert (closed.event, closed.timestamp, closed.active) == (kind, event.end, False)
        assert event.end is not None
        assert closed.value == (event.end - event.start).total_seconds()
        assert opened.meter == "m1"


async def test_a_point_event_is_one_stored_event_at_its_time() -> None:
    async with simulated() as (_, link):
        logged = await read_event_log(
            link, METER, "meter_clear", CHINA, known=lambda start: False, reply_timeout=0.3
        )
    first = logged[0]
    assert (first.start, first.end) == held(ADDRESS, "meter_clear", 1)
    assert first.over
    assert len(first.records) == 1
    assert "import_total=" in first.records[0].detail  # the energies at the clear


async def test_the_read_stops_at_the_first_record_already_stored() -> None:
    known_start, _ = held(ADDRESS, "cover_open", 3)
    async with simulated() as (bus, link):
        logged = await read_event_log(
            link, METER, "cover_open", CHINA, known=lambda s: s == known_start, reply_timeout=0.3
        )
        frames = bus.frames_received
    assert [e.start for e in logged] == [held(ADDRESS, "cover_open", r)[0] for r in (1, 2)]
    assert frames == 3  # records 1, 2 and the known 3: no older ones asked for


def test_every_event_log_of_the_catalogue_is_known() -> None:
    assert {
        "cover_open",
        "meter_clear",
        "event_clear",
        "programming",
        "power_outage_last",
        "loss_of_voltage_a",
        "relay_trip_time",
        "relay_close_time",
    } <= event_kinds(TABLE.standard)
    assert "settlement_energy_active_import" not in event_kinds(TABLE.standard)


def with_events(events: list[str]) -> dict[str, Any]:
    fleet: dict[str, Any] = two_meter_fleet()
    fleet["plans"]["flat"]["events"] = events
    return fleet


def test_an_unknown_event_log_in_a_plan_is_a_config_error_naming_it() -> None:
    config = parse_fleet_config(with_events(["cover_opened"]), "fleet.toml")
    with pytest.raises(ConfigError, match="plan flat: events: 'cover_opened' is not an event log"):
        check_meters(config)


async def test_the_engine_stores_each_logged_event_once(tmp_path: Path) -> None:
    async with running_rig(tmp_path, fleet=with_events(["cover_open", "relay_trip_time"])) as rig:
        passes = rig.engine.backfill_passes
        await passes.run_event_pass()
        await rig.engine.writer.flush()
        first = await rig.store.events(meter=M1)
        await passes.run_event_pass()
        await rig.engine.writer.flush()
        again = await rig.store.events(meter=M1)
        others = await rig.store.events(meter=M2)
    expected = set()
    for record in range(1, 11):
        start, end = held(M1, "cover_open", record)
        expected |= {("cover_open", start, True), ("cover_open", end, False)}
        expected.add(("relay_trip_time", held(M1, "relay_trip_time", record)[0], True))
    assert {(e.event, e.timestamp, e.active) for e in first} == expected
    assert len(first) == len(expected)
    assert again == first  # a second read stores nothing new
    assert {e.meter for e in others} == {M2}
    assert len(others) == len(expected)
