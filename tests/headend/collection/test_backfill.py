"""Daily frozen values and backfill (补抄): the days of the window without a stored frozen value
are found and read from the meter's records, whatever the meter holds or does not hold, and
within the limits of the window and of the meter's history.

The first tests drive ``FrozenBackfill`` on its own: a real bus worker and link over an
in-memory transport to simulated DL/T 645 meters whose freezes are known exactly, and the real
record writer in front of the embedded store. The last ones go through the engine's pass
(the ``rig`` fixture, tests/support/engine_rig.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from headend.bus.backoff import Backoff
from headend.bus.lanes import Lane
from headend.bus.link import BusLink
from headend.bus.worker import BusPolicy, BusWorker
from headend.collection.backfill import FrozenBackfill
from headend.collection.completeness import CompletenessTracker
from headend.collection.writer import RecordWriter
from headend.config.fleet import MeterConfig, parse_fleet_config
from headend.drivers.base import FrozenDay
from simulators.dlt645 import (
    FaultScript,
    MeterBus,
    MissingFrozen,
    NoReply,
    ScheduledFault,
    SimulatedMeter,
    SimulatedMeterConfig,
    StaticSource,
    TransportLink,
)
from storage.embedded import SqliteStore
from storage.records import Quality, Reading, ReadingKind
from tests.support.engine_rig import M1, M2, START, Rig
from transports import create_transport
from transports.memory import MemoryNetwork
from transports.settings import Parity, SerialSettings

CHINA = ZoneInfo("Asia/Shanghai")
TODAY = START.astimezone(CHINA).date()  # 2026-11-23 (19:00 local)
TIMEOUT = 0.3
ENERGY = "energy_active_import_total"
FROZEN = {TODAY - timedelta(days=back): 5000.0 - 10 * back for back in range(-10, 30)}
"""What the meters with records froze each local midnight (kWh), from 30 days back on."""
WITHOUT = "000000000009"
"""A meter that keeps no daily freezes at all."""


def midnight(day: date) -> datetime:
    return datetime.combine(day, time(), CHINA)


def meters() -> Mapping[str, MeterConfig]:
    meter = {"channel": "bus-1", "plan": "daily", "transformer": "T1"}
    document: dict[str, object] = {
        "site": {"name": "backfill-test", "timezone": "Asia/Shanghai"},
        "channels": [{"name": "bus-1", "url": "memory://bus-1", "timeout": "300ms"}],
        "transformers": [{"name": "T1", "rated_kva": 400}],
        "plans": {
            "daily": {
                "daily_frozen": True,
                "backfill_days": 5,
                "reads": [{"quantities": ["voltage_a"], "interval": "15m"}],
            }
        },
        "meters": [{**meter, "address": address} for address in (M1, M2, WITHOUT)],
    }
    return parse_fleet_config(document, "backfill-test").meters


@dataclass
class Backfilling:
    backfill: FrozenBackfill
    completeness: CompletenessTracker
    worker: BusWorker[BusLink]
    writer: RecordWriter
    store: SqliteStore
    meters: Mapping[str, MeterConfig]
    now: list[datetime]
    """The one simulated moment, shared by the meters and the passes; tests move it."""

    async def run(
        self, meter: MeterConfig, action: Callable[[BusLink], Awaitable[FrozenDay]]
    ) -> FrozenDay:
        return await self.worker.call(Lane.BILLING, f"frozen {meter.id}", action)

    async def to_storage(
        self, readings: list[Reading], *, then: Callable[[bool], None] | None = None
    ) -> None:
        self.writer.put(readings, then)

    async def one_pass(self, window: Mapping[str, int]) -> list[Reading]:
        """One pass over the meters named in ``window``; returns once what it read is stored."""
        chosen = [self.meters[meter_id] for meter_id in window]
        readings = await self.backfill.run_pass(
            chosen, dict(window), self.now[0], self.run, self.to_storage
        )
        await self.writer.flush()
        return readings

    @property
    def requests(self) -> int:
        """Bus jobs so far (each one a frozen record asked for, retries included)."""
        return self.worker.stats.jobs_done + self.worker.stats.jobs_failed

    def tally(self, meter_id: str, day: date) -> tuple[int, int, int, dict[str, int]]:
        day_tally = self.completeness.meter_day(meter_id, day)
        return (
            day_tally.expected,
            day_tally.received,
            day_tally.backfilled,
            dict(day_tally.failures),
        )


@asynccontextmanager
async def backfilling(
    tmp_path: Path,
    faults: Sequence[ScheduledFault] = (),
    *,
    history: int | None = 12,
    frozen: Mapping[date, float] = FROZEN,
    kept_by: Mapping[str, int] | None = None,
) -> AsyncIterator[Backfilling]:
    """M1 and M2 hold the ``frozen`` records, ``WITHOUT`` none, on one simulated bus;
    ``kept_by``: how many daily freezes a meter keeps (62 by default)."""
    now = [START]
    script = FaultScript(list(faults))
    kept = StaticSource({"voltage_a": 230.0}, frozen=frozen)
    sources = {M1: kept, M2: kept, WITHOUT: StaticSource({"voltage_a": 230.0})}
    records = kept_by or {}
    simulated = [
        SimulatedMeter(
            SimulatedMeterConfig(
                address,
                source,
                meter_id=address,
                reply_delay=0.002,
                frozen_records=records.get(address, 62),
            ),
            faults=script,
        )
        for address, source in sources.items()
    ]
    settings = SerialSettings("sim", baud=115200, parity=Parity.NONE)
    bus = MeterBus(simulated, settings, clock=lambda: now[0], faults=script, name="bus-1")
    network = MemoryNetwork()
    device_end = network.listen("bus-1")
    link = BusLink(create_transport("memory://bus-1", protocol="dlt645", memory=network), gap=0.001)
    worker = BusWorker("bus-1", link, BusPolicy(retries=1, retry_backoff=Backoff(0.005, 0.05)))
    completeness = CompletenessTracker("Asia/Shanghai")
    backfill = FrozenBackfill(
        CHINA, completeness, timeout_of=lambda meter: TIMEOUT, history=history
    )
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    writer = RecordWriter(store, interval=0.05)
    try:
        async with asyncio.TaskGroup() as group:
            server = group.create_task(bus.serve(TransportLink(device_end)))
            serving = group.create_task(worker.run())
            storing = group.create_task(writer.run())
            yield Backfilling(backfill, completeness, worker, writer, store, meters(), now)
            worker.close()
            await serving
            storing.cancel()
            server.cancel()
    finally:
        await store.aclose()


def by_day(readings: list[Reading]) -> dict[date, Reading]:
    days = {r.timestamp.astimezone(CHINA).date(): r for r in readings}
    assert len(days) == len(readings), "one frozen value per day"
    return days


async def test_the_missing_days_of_the_window_are_read_once_and_stored(tmp_path: Path) -> None:
    async with backfilling(tmp_path) as rig:
        readings = await rig.one_pass({M1: 5})
        stored = await rig.store.stored_points(
            ReadingKind.FROZEN, [M1], [ENERGY], midnight(TODAY - timedelta(days=10)), START
        )
        asked = rig.requests
        again = await rig.one_pass({M1: 5})
        asked_again = rig.requests - asked
        tallies = {day: rig.tally(M1, day) for day in by_day(readings)}
    window = [TODAY - timedelta(days=back) for back in range(5)]
    frozen = by_day(readings)
    assert sorted(frozen) == sorted(window)
    for day, reading in frozen.items():
        assert (reading.meter, reading.quantity, reading.kind) == (M1, ENERGY, ReadingKind.FROZEN)
        assert reading.value == pytest.approx(FROZEN[day])
        assert reading.timestamp == midnight(day)  # stamped when the meter froze it
    assert frozen[TODAY].quality is Quality.ACTUAL  # today's freeze, read today
    assert {frozen[day].quality for day in window[1:]} == {Quality.BACKFILLED}
    assert {p.timestamp: p.value for p in stored} == {midnight(day): FROZEN[day] for day in window}
    assert tallies[TODAY] == (1, 1, 0, {})
    # A past day never attempted (the head-end was not running then) is late, then filled.
    assert [tallies[day] for day in window[1:]] == [(1, 1, 1, {"not_collected_in_time": 1})] * 4
    assert rig.backfill.collected(M1) == set(window)
    assert again == []
    assert asked_again == 0, "a pass with nothing missing must not use the bus"


async def test_days_already_stored_are_not_read_again(tmp_path: Path) -> None:
    async with backfilling(tmp_path) as rig:
        seeded = {TODAY, TODAY - timedelta(days=2)}
        for day in seeded:
            rig.backfill.mark_collected(M1, day)  # found in storage at start-up
        readings = await rig.one_pass({M1: 5})
    assert set(by_day(readings)) == {TODAY - timedelta(days=back) for back in (1, 3, 4)}


async def test_a_meter_without_frozen_records_gets_each_day_counted_missing_once(
    tmp_path: Path,
) -> None:
    async with backfilling(tmp_path) as rig:
        first = await rig.one_pass({WITHOUT: 3})
        asked = rig.requests
        second = await rig.one_pass({WITHOUT: 3})
        asked_again = rig.requests - asked
        tallies = [rig.tally(WITHOUT, TODAY - timedelta(days=back)) for back in range(3)]
        failures = rig.backfill.stats.failures
    assert first == second == []
    # Refused ("no requested data") for the latest freeze: every day of the window is missing,
    # counted once however many passes ask again.
    assert tallies == [(1, 0, 0, {"error_response": 1})] * 3
    assert failures == 6
    assert asked_again == 1, "one question per pass, not one per day"


async def test_the_window_is_bounded_by_the_records_a_meter_keeps(tmp_path: Path) -> None:
    async with backfilling(tmp_path, history=3) as rig:
        readings = await rig.one_pass({M1: 5, M2: 30})
    for meter in (M1, M2):
        days = by_day([r for r in readings if r.meter == meter])
        assert sorted(days) == [TODAY - timedelta(days=back) for back in (2, 1, 0)]


async def test_a_day_that_ages_out_of_the_window_is_given_up_and_the_rest_filled(
    tmp_path: Path,
) -> None:
    silent = ScheduledFault(NoReply(), meter=M1, end=START + timedelta(hours=1))
    async with backfilling(tmp_path, [silent]) as rig:
        assert await rig.one_pass({M1: 5}) == []
        unreachable = {back: rig.tally(M1, TODAY - timedelta(days=back)) for back in range(5)}
        rig.now[0] = START + timedelta(days=3)  # it answers again three days later
        readings = await rig.one_pass({M1: 5})
        later = TODAY + timedelta(days=3)
        tallies = {back: rig.tally(M1, TODAY - timedelta(days=back)) for back in range(-3, 5)}
        stats = rig.backfill.stats
    assert list(unreachable.values()) == [(1, 0, 0, {"timeout": 1})] * 5
    assert set(by_day(readings)) == {later - timedelta(days=back) for back in range(5)}
    assert stats.given_up == 3  # the three days before the new window's first day
    for back in (2, 3, 4):
        assert tallies[back] == (1, 0, 0, {"timeout": 1}), "a lost day stays missing"
    for back in (0, 1):  # failed before, read now: backfilled
        assert tallies[back] == (1, 1, 1, {"timeout": 1})
    assert tallies[-3] == (1, 1, 0, {})  # the new today, read on its day


@pytest.mark.parametrize(
    "faults", [[ScheduledFault(MissingFrozen(days=(TODAY - timedelta(days=2),)), meter=M2)]]
)
async def test_a_hole_in_the_records_is_skipped_and_not_asked_for_again(
    tmp_path: Path, faults: list[ScheduledFault]
) -> None:
    async with backfilling(tmp_path, faults) as rig:
        readings = await rig.one_pass({M2: 5})
        asked = rig.requests
        again = await rig.one_pass({M2: 5})
        asked_again = rig.requests - asked
        hole = rig.tally(M2, TODAY - timedelta(days=2))
    assert set(by_day(readings)) == {TODAY - timedelta(days=back) for back in (0, 1, 3, 4)}
    assert hole == (1, 0, 0, {"error_response": 1})
    assert again == []
    assert asked_again == 0
    assert rig.backfill.stats.given_up == 1


# -- through the engine's pass (moved here from tests/headend/engine/test_dlt645.py) ---------


async def test_daily_frozen_values_are_collected_for_the_window(rig: Rig) -> None:
    readings = await rig.engine.backfill_passes.run_pass()
    frozen = [r for r in readings if r.kind is ReadingKind.FROZEN and r.meter == M1]
    # One naming scheme: the register's name, told apart from interval reads by the kind.
    assert {r.quantity for r in frozen} == {"energy_active_import_total"}
    days = sorted(r.timestamp.astimezone(rig.engine.tz).date() for r in frozen)
    assert len(days) == 5
    assert days[-1] == date(2026, 11, 23)
    by_day = {r.timestamp.astimezone(rig.engine.tz).date(): r for r in frozen}
    assert by_day[date(2026, 11, 23)].quality is Quality.ACTUAL  # today's freeze, read today
    assert {by_day[day].quality for day in days[:-1]} == {Quality.BACKFILLED}
    values = [by_day[day].value or 0.0 for day in days]
    assert values == sorted(values)  # the register only grows
    again = await rig.engine.backfill_passes.run_pass()
    assert again == []  # nothing left to fill


@pytest.mark.parametrize(
    "rig",
    [[ScheduledFault(MissingFrozen(days=(date(2026, 11, 21), date(2026, 11, 20))), meter=M2)]],
    indirect=True,
)
async def test_missing_frozen_days_stay_missing_and_are_counted(rig: Rig) -> None:
    await rig.engine.backfill_passes.run_pass()
    have = rig.engine.backfill.collected(M2)
    assert len(have) == 3
    failures = sum(
        rig.engine.completeness.meter_day(M2, day).failures.get("error_response", 0)
        for day in (date(2026, 11, 21), date(2026, 11, 20), date(2026, 11, 22))
    )
    assert failures == 2


@pytest.mark.parametrize(
    "rig",
    [[ScheduledFault(MissingFrozen(days=(date(2026, 11, 21),)), meter=M2)]],
    indirect=True,
)
async def test_a_freeze_the_meter_does_not_hold_is_not_asked_for_again(rig: Rig) -> None:
    """ "No requested data" for a daily freeze is final (records only age): the next passes do
    not spend bus time on it, and billing keeps seeing it not collected."""
    await rig.engine.backfill_passes.run_pass()
    assert date(2026, 11, 21) not in rig.engine.backfill.collected(M2)
    asked = rig.engine.backfill.stats.failures
    again = await rig.engine.backfill_passes.run_pass()
    assert again == []
    assert rig.engine.backfill.stats.failures == asked, "the absent freeze was asked for again"
    assert rig.engine.backfill.stats.given_up >= 1


LONG_FROZEN = {TODAY - timedelta(days=back): 9000.0 - 7.5 * back for back in range(-3, 90)}
"""Freezes of 90 days back, more than any meter keeps."""


async def test_the_backfill_reaches_62_days_where_the_meter_keeps_them(tmp_path: Path) -> None:
    async with backfilling(tmp_path, history=None, frozen=LONG_FROZEN, kept_by={M2: 20}) as rig:
        readings = await rig.one_pass({M1: 70, M2: 70})
        asked = rig.requests
        again = await rig.one_pass({M1: 70, M2: 70})
        asked_again = rig.requests - asked
        given_up = rig.backfill.stats.given_up
    full = by_day([r for r in readings if r.meter == M1])
    assert sorted(full) == [TODAY - timedelta(days=back) for back in reversed(range(62))]
    assert {day: r.value for day, r in full.items()} == pytest.approx(
        {day: LONG_FROZEN[day] for day in full}
    )
    assert {r.quality for day, r in full.items() if day != TODAY} == {Quality.BACKFILLED}
    # A meter that keeps 20 freezes: those 20 read, the older 42 answered "no requested data"
    # once and not asked again.
    short = by_day([r for r in readings if r.meter == M2])
    assert sorted(short) == [TODAY - timedelta(days=back) for back in reversed(range(20))]
    assert given_up == 42
    assert again == []
    assert asked_again == 0
