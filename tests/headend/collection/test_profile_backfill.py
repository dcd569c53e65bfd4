"""Interval backfill from the load profile with the engine rig: a meter that did not answer
misses a 15-minute slot; once it answers again a backfill pass re-reads that slot from the
meter's load profile, stores the values at the slot time as ``backfilled``, and completeness
counts the slot once (a second pass finds nothing to do)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from headend.collection.completeness import CompletenessTracker
from headend.collection.profile_backfill import ProfileBackfill
from headend.config.errors import ConfigError
from headend.config.fleet import MeterConfig, parse_fleet_config
from headend.drivers.dlt645.load_profile import ProfileRead
from simulators.dlt645 import NoReply, RampingSource, ScheduledFault
from simulators.dlt645.faults import NO_FAULTS
from storage.records import Quality, Reading
from tests.support.engine_rig import M1, M2, START, VOLTAGES, collect, running_rig, two_meter_fleet

SOURCE = RampingSource(START - timedelta(days=10), 1000.0, 2.0, values=VOLTAGES)
"""The rig's meters' source (tests/support/engine_rig.py ``fast_bus``)."""
VOLTAGE_READ = ("voltage_a", "voltage_b", "voltage_c", "current_a")


def fleet(hours: int) -> dict[str, Any]:
    document = two_meter_fleet()
    plan = document["plans"]["flat"]  # type: ignore[index]
    plan["load_profile_hours"] = hours
    plan["reads"] = [
        {"quantities": list(VOLTAGE_READ), "interval": "15m"},
        {"quantities": ["energy_active_import_total"], "interval": "15m", "lane": "billing"},
    ]
    return document


def test_load_profile_hours_is_parsed_and_checked() -> None:
    assert parse_fleet_config(fleet(6), "test").plans["flat"].load_profile_hours == 6
    assert parse_fleet_config(two_meter_fleet(), "test").plans["flat"].load_profile_hours == 0
    with pytest.raises(ConfigError, match="load_profile_hours"):
        parse_fleet_config(fleet(-1), "test")


async def test_a_missed_slot_is_backfilled_from_the_load_profile_once(tmp_path: Path) -> None:
    async with running_rig(tmp_path, [ScheduledFault(NoReply(), meter=M2)], fleet(6)) as rig:
        seen = await collect(
            rig.live,
            lambda got: (
                {r.quantity for r in got if r.meter == M2 and r.quality is Quality.MISSING}
                >= {"voltage_a", "energy_active_import_total"}
            ),
        )
        missed = {r.timestamp for r in seen if r.meter == M2 and r.quality is Quality.MISSING}
        assert len(missed) == 1
        (slot,) = missed
        for meter in rig.bus.meters:  # the meter answers again
            meter.faults = NO_FAULTS
        rig.bus.faults = NO_FAULTS
        passes = rig.engine.backfill_passes
        filled = await passes.run_profile_pass()
        again = await passes.run_profile_pass()
        completeness = rig.engine.completeness
        day = completeness.local_day(slot)
        tally = completeness.meter_day(M2, day)
    assert {r.meter for r in filled} == {M2}
    assert {r.timestamp for r in filled} == {slot}
    assert {r.quality for r in filled} == {Quality.BACKFILLED}
    by_name = {r.quantity: r.value for r in filled}
    assert set(by_name) == {*VOLTAGE_READ, "energy_active_import_total"}
    assert by_name["energy_active_import_total"] == pytest.approx(SOURCE.energy(slot), abs=0.005)
    assert {name: by_name[name] for name in VOLTAGE_READ} == {n: VOLTAGES[n] for n in VOLTAGE_READ}
    assert again == []
    assert passes.profile.stats.slots == 2  # the voltage read and the energy read of the slot
    assert tally.backfilled == 2
    assert M1 not in {r.meter for r in filled}


async def test_slots_past_the_window_are_forgotten_but_not_the_frozen_days() -> None:
    completeness = CompletenessTracker("Asia/Shanghai")
    meter = MeterConfig(id="m9", channel="bus-1", protocol="dlt645-2007", plan="flat")
    now = START + timedelta(days=1)
    old = START.replace(minute=0, second=0)
    completeness.record_failure("m9", "voltage_a", old, "timeout", backfillable=True)
    completeness.record_failure("m9", "daily_frozen", old, "timeout", backfillable=True)
    completeness.record_failure("m9", "power_outage_count", now, "timeout", backfillable=True)

    async def run(meter: MeterConfig, action: object) -> ProfileRead:
        raise AssertionError("nothing within the window is a load profile quantity")

    async def emit(readings: list[Reading], *, then: object = None) -> None:
        raise AssertionError("nothing to store")

    backfill = ProfileBackfill(ZoneInfo("Asia/Shanghai"), completeness)
    assert await backfill.run_pass([meter], {"m9": 6}, now, run, emit) == []
    assert completeness.failed_slots("m9") == [("daily_frozen", old), ("power_outage_count", now)]
