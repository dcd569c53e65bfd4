"""Interval values a meter missed, re-read from its load profile by the head-end's driver.

A simulated meter that does not answer for an hour (a ``no_reply`` window) fails the live
reads of those slots; once it answers again, ``read_load_profile`` gets each slot's value
from the meter's records, stamped at the slot with quality ``backfilled``, equal to the
meter's source at that slot (the simulator's ground truth).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from headend.bus.link import BusLink
from headend.config.fleet import MeterConfig
from headend.drivers.dlt645.load_profile import profile_class_for, read_load_profile
from headend.drivers.dlt645.reader import read_dlt645
from headend.errors import ReadFailed
from simulators.dlt645 import (
    MeterBus,
    NoReply,
    RampingSource,
    ScheduledFault,
    SimulatedMeter,
    SimulatedMeterConfig,
    TransportLink,
)
from simulators.dlt645.faults import FaultScript
from storage.records import FailureReason, Quality, ReadingKind
from transports import Parity, SerialSettings, memory_pair

LINE = SerialSettings("sim", baud=115200, parity=Parity.NONE)
TZ = ZoneInfo("Asia/Shanghai")
OUTAGE_START = datetime(2026, 3, 10, 1, 0, tzinfo=UTC)
OUTAGE_END = OUTAGE_START + timedelta(hours=1)
BACK = OUTAGE_END + timedelta(minutes=20)
ADDRESS = "000000000171"
METER = MeterConfig(id="m1", channel="bus-1", protocol="dlt645-2007", plan="-", address=ADDRESS)
SOURCE = RampingSource(OUTAGE_START - timedelta(days=1), 42.0, 3.6, {"voltage_a": 228.4})
WANTED = ("energy_active_import_total", "voltage_a")


class Clock:
    def __init__(self) -> None:
        self.now = OUTAGE_START

    def __call__(self) -> datetime:
        return self.now


@asynccontextmanager
async def simulated(clock: Clock, **options: object) -> AsyncIterator[BusLink]:
    faults = FaultScript([ScheduledFault(NoReply(), "m1", OUTAGE_START, OUTAGE_END)])
    config = SimulatedMeterConfig(
        ADDRESS,
        SOURCE,
        meter_id="m1",
        reply_delay=0.002,
        **options,  # type: ignore[arg-type]
    )
    bus = MeterBus([SimulatedMeter(config, faults)], LINE, clock=clock, faults=faults)
    master_end, device_end = memory_pair("profile")
    async with asyncio.TaskGroup() as group:
        task = group.create_task(bus.serve(TransportLink(device_end)))
        try:
            yield BusLink(master_end, gap=0)
        finally:
            await master_end.aclose()
            await task


async def test_missed_slots_come_back_from_the_load_profile_at_their_slot_times() -> None:
    clock = Clock()
    slots = [OUTAGE_START + timedelta(minutes=15 * i) for i in range(4)]
    async with simulated(clock) as link:
        for slot in slots:  # the live reads of the outage fail
            clock.now = slot
            with pytest.raises(ReadFailed) as failed:
                await read_dlt645(link, METER, list(WANTED), slot, reply_timeout=0.05)
            assert failed.value.reason is FailureReason.TIMEOUT
        clock.now = BACK
        profile = await read_load_profile(
            link, METER, slots[0], len(slots), TZ, WANTED, reply_timeout=0.3
        )
    assert profile.slots == tuple(slots)
    assert profile.bad_blocks == 0
    by_key = {(r.quantity, r.timestamp): r for r in profile.readings}
    assert len(by_key) == len(profile.readings) == 2 * len(slots)
    for slot in slots:
        energy = by_key["energy_active_import_total", slot]
        assert energy.value == pytest.approx(SOURCE.energy(slot), abs=0.005)
        assert energy.quality is Quality.BACKFILLED
        assert energy.kind is ReadingKind.ENERGY
        assert energy.unit == "kWh"
        voltage = by_key["voltage_a", slot]
        assert voltage.value == 228.4
        assert voltage.kind is ReadingKind.INSTANT
    # the energy grows with the source: not one value repeated
    assert len({by_key["energy_active_import_total", s].value for s in slots}) == len(slots)


async def test_values_the_meter_does_not_hold_give_no_reading() -> None:
    clock = Clock()
    clock.now = BACK
    async with simulated(clock) as link:
        profile = await read_load_profile(
            link, METER, OUTAGE_START, 2, TZ, ("voltage_b",), reply_timeout=0.3
        )
    assert len(profile.slots) == 2
    assert profile.readings == ()


async def test_a_meter_without_load_profile_is_a_refusal() -> None:
    clock = Clock()
    clock.now = BACK
    async with simulated(clock, load_profile_interval=None) as link:
        with pytest.raises(ReadFailed) as failed:
            await read_load_profile(link, METER, OUTAGE_START, 2, TZ, WANTED, reply_timeout=0.3)
    assert failed.value.reason is FailureReason.ERROR_RESPONSE


def test_one_class_is_asked_for_when_it_holds_every_wanted_quantity() -> None:
    assert profile_class_for(["voltage_a", "current_b"]) == 1
    assert profile_class_for(["energy_active_import_total"]) == 4
    assert profile_class_for(WANTED) == 0
