"""The channel collector on its own: a real bus worker and link over an in-memory transport to
simulated DL/T 645 meters, the real DL/T 645 reader, and the real record writer in front of the
embedded SQLite store.

One request in flight per bus however many reads fall due together, each due slot read once
and stamped with its slot, a read counted received only once it is stored, failures counted
with their reasons (a silent meter going offline, a refusing one staying online, a bus that
cannot keep up), reads still waiting for the bus at a stop ending as ``shutdown`` gaps, and
meters added and removed while the collector runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from headend.bus.backoff import Backoff
from headend.bus.link import BusLink
from headend.bus.worker import BusPolicy, BusWorker
from headend.clock import WarpedClock
from headend.collection.collector import BusAction, ChannelCollector
from headend.collection.completeness import CompletenessTracker
from headend.collection.health import HealthChange, MeterHealth
from headend.collection.schedule import is_slot, slot_start
from headend.collection.writer import RecordWriter
from headend.config.fleet import FleetConfig, MeterConfig, parse_fleet_config
from headend.drivers.dlt645.reader import read_dlt645
from simulators.dlt645 import (
    ErrorReply,
    NoReply,
    ScheduledFault,
    SlowReply,
    TransportLink,
)
from storage.embedded import SqliteStore
from storage.records import Quality, Reading, ReadingKind
from tests.support.engine_rig import M1, M2, START, fast_bus
from transports import create_transport
from transports.memory import MemoryNetwork

M3 = "000000000003"
TIMEOUT = 0.3
"""Seconds a meter gets to answer (the channel's ``timeout``)."""
SPECS = (("voltage_a", "voltage_b", "voltage_c"), ("current_a",), ("energy_active_import_total",))
"""Three reads a minute per meter: the same interval, so the same offset and the same start."""
QUANTITIES = [q for spec in SPECS for q in spec]


def fleet() -> FleetConfig:
    meter = {"channel": "bus-1", "plan": "minutely", "transformer": "T1", "phase": "ABC"}
    document: dict[str, object] = {
        "site": {"name": "collector-test", "timezone": "Asia/Shanghai"},
        "channels": [{"name": "bus-1", "url": "memory://bus-1", "timeout": "300ms"}],
        "transformers": [{"name": "T1", "rated_kva": 400}],
        "plans": {
            "minutely": {"reads": [{"quantities": list(q), "interval": "1m"} for q in SPECS]}
        },
        "meters": [{**meter, "address": address} for address in (M1, M2, M3)],
    }
    return parse_fleet_config(document, "collector-test")


@dataclass
class InFlight:
    """What the bus saw: reads running at once, and reads waiting while one ran."""

    now: int = 0
    most: int = 0
    most_waiting: int = 0


@dataclass
class Collecting:
    collector: ChannelCollector
    worker: BusWorker[BusLink]
    writer: RecordWriter
    store: SqliteStore
    completeness: CompletenessTracker
    clock: WarpedClock
    meters: Mapping[str, MeterConfig]
    bus: InFlight
    handed: asyncio.Queue[list[Reading]]
    """Every group of readings the collector handed to storage, in order."""
    health: list[tuple[str, HealthChange]] = field(default_factory=list)
    reads: asyncio.Task[None] | None = None

    async def shut_down(self) -> list[list[Reading]]:
        """The engine's stop: no new reads, the bus closed (queued reads fail), the collector
        done; returns the reading groups handed to storage meanwhile."""
        assert self.reads is not None
        self.collector.stop()
        self.worker.close()
        async with asyncio.timeout(60):
            await self.reads
        groups = []
        while not self.handed.empty():
            groups.append(self.handed.get_nowait())
        return groups

    async def until(self, done: Callable[[list[Reading]], bool]) -> list[Reading]:
        """Readings handed to storage until ``done`` holds for all of them so far."""
        seen: list[Reading] = []
        async with asyncio.timeout(60):  # a broken collector fails the test instead of hanging
            while not done(seen):
                seen.extend(await self.handed.get())
        return seen


@asynccontextmanager
async def collecting(
    tmp_path: Path,
    faults: Sequence[ScheduledFault] = (),
    *,
    speed: float = 60,
    reading: Sequence[str] = (M1, M2),
    writer_running: bool = True,
) -> AsyncIterator[Collecting]:
    """A collector reading ``reading`` of the meters M1, M2, M3 on one simulated bus."""
    clock = WarpedClock(START, speed=speed)
    network = MemoryNetwork()
    bus = fast_bus(clock.now, faults, addresses=(M1, M2, M3))
    device_end = network.listen("bus-1")
    link = BusLink(create_transport("memory://bus-1", protocol="dlt645", memory=network), gap=0.001)
    policy = BusPolicy(retries=1, retry_backoff=Backoff(0.005, 0.05))
    worker = BusWorker("bus-1", link, policy)
    config = fleet()
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    writer = RecordWriter(store, interval=0.05)
    completeness = CompletenessTracker(config.timezone)
    seen = InFlight()
    handed: asyncio.Queue[list[Reading]] = asyncio.Queue()

    def read_factory(meter: MeterConfig, quantities: Sequence[str], slot: datetime) -> BusAction:
        async def read(connection: BusLink) -> list[Reading]:
            seen.now += 1
            seen.most = max(seen.most, seen.now)
            seen.most_waiting = max(seen.most_waiting, worker.depth())
            try:
                return await read_dlt645(connection, meter, quantities, slot, reply_timeout=TIMEOUT)
            finally:
                seen.now -= 1

        return read

    async def to_storage(
        readings: list[Reading], *, then: Callable[[bool], None] | None = None
    ) -> None:
        writer.put(readings, then)
        handed.put_nowait(readings)

    async def health_changed(meter: MeterConfig, change: HealthChange, detail: str) -> None:
        running.health.append((meter.id, change))

    collector = ChannelCollector(
        worker=worker,
        plans=dict(config.plans),
        clock=clock,
        read_factory=read_factory,
        on_readings=to_storage,
        on_health=health_changed,
        health=MeterHealth(offline_after=2),
        completeness=completeness,
        jitter=0,
    )
    for meter_id in reading:
        collector.set_meter(meter_id, config.meters[meter_id])
    running = Collecting(
        collector, worker, writer, store, completeness, clock, config.meters, seen, handed
    )
    try:
        async with asyncio.TaskGroup() as group:
            server = group.create_task(bus.serve(TransportLink(device_end)))
            serving = group.create_task(worker.run())
            storing = group.create_task(writer.run()) if writer_running else None
            reads = running.reads = group.create_task(collector.run())
            yield running
            collector.stop()
            await reads  # the reads already sent end first
            worker.close()
            await serving
            if storing is not None:
                storing.cancel()  # the writer flushes what it holds as it is cancelled
            server.cancel()
    finally:
        await store.aclose()


async def test_one_request_is_in_flight_on_a_bus_however_many_reads_fall_due(
    tmp_path: Path,
) -> None:
    async with collecting(tmp_path) as rig:
        readings = await rig.until(
            lambda seen: len({r.timestamp for r in seen if r.meter == M2}) >= 3
        )
    # Six reads fall due at the same instant every minute (three per meter): they wait their
    # turn in the worker's queue, one at a time on the line.
    assert rig.bus.most_waiting >= 1
    assert rig.bus.most == 1
    assert all(r.quality is Quality.ACTUAL for r in readings)


async def test_each_due_slot_is_read_once_and_stamped_with_its_slot(tmp_path: Path) -> None:
    async with collecting(tmp_path) as rig:
        first = rig.collector.first_slots()
        readings = await rig.until(
            lambda seen: (
                sum(r.meter == M1 and r.quantity == "current_a" for r in seen) >= 3
                and sum(r.meter == M2 and r.quantity == "current_a" for r in seen) >= 3
            )
        )
    next_minute = START.replace(second=0) + timedelta(minutes=1)
    assert first == {(m, i): next_minute for m in (M1, M2) for i in range(len(SPECS))}
    assert all(is_slot(r.timestamp, 60) for r in readings)
    for meter in (M1, M2):
        for quantity in QUANTITIES:
            slots = [r.timestamp for r in readings if (r.meter, r.quantity) == (meter, quantity)]
            assert slots == sorted(set(slots)), f"{meter} {quantity}: a slot read twice"
            if slots:
                assert slots[0] == next_minute
                assert slots[-1] - slots[0] == timedelta(minutes=len(slots) - 1), "slot skipped"
    voltage = next(r for r in readings if r.quantity == "voltage_b")
    assert voltage.value == pytest.approx(229.8)
    assert voltage.kind is ReadingKind.INSTANT
    stats = rig.collector.stats
    assert stats.sent == stats.succeeded + stats.failed  # every read sent has ended
    assert stats.failed == 0
    assert stats.scheduled == stats.sent + stats.skipped_offline + stats.overruns


async def test_a_read_counts_as_received_only_once_it_is_stored(tmp_path: Path) -> None:
    async with collecting(tmp_path, writer_running=False) as rig:
        handed = await rig.until(lambda seen: any(r.meter == M1 for r in seen))
        day = rig.completeness.local_day(handed[0].timestamp)
        before = rig.completeness.meter_day(M1, day)
        assert (before.expected, before.received) == (0, 0)  # read, not yet on disk
        await rig.writer.flush()
        after = rig.completeness.meter_day(M1, day)
        stored = await rig.store.stored_points(
            ReadingKind.INSTANT,
            [M1],
            ["voltage_a"],
            START,
            START + timedelta(hours=1),
        )
    assert after.received >= 1
    assert after.expected == after.received
    assert stored
    assert all(point.value == pytest.approx(231.2) for point in stored)


@pytest.mark.parametrize("faults", [[ScheduledFault(NoReply(), meter=M2)]])
async def test_a_silent_meter_fails_with_timeouts_then_goes_offline(
    tmp_path: Path, faults: list[ScheduledFault]
) -> None:
    async with collecting(tmp_path, faults) as rig:
        readings = await rig.until(
            lambda seen: (
                any(r.meter == M2 and r.reason == "meter_offline" for r in seen)
                and any(r.meter == M1 for r in seen)
            )
        )
        await rig.writer.flush()
        day = rig.completeness.local_day(START)
        m2 = rig.completeness.meter_day(M2, day)
        m1 = rig.completeness.meter_day(M1, day)
    silent = [r for r in readings if r.meter == M2]
    assert {r.quality for r in silent} == {Quality.MISSING}
    assert {r.reason for r in silent} >= {"timeout", "meter_offline"}
    # The neighbour only loses slots to the line time the silent meter's timeouts cost.
    neighbour = [r for r in readings if r.meter == M1]
    assert any(r.quality is Quality.ACTUAL for r in neighbour)
    assert {r.reason for r in neighbour if r.quality is Quality.MISSING} <= {"bus_overrun"}
    assert rig.health == [(M2, HealthChange.WENT_OFFLINE)]  # said once, not per slot
    assert m2.failures["timeout"] >= 2  # offline after two failed reads in a row
    assert m2.failures["meter_offline"] >= 1
    assert m2.received == 0
    assert set(m1.failures) <= {"bus_overrun"}
    assert rig.collector.stats.failed >= 2
    assert rig.collector.stats.skipped_offline >= 1


@pytest.mark.parametrize("faults", [[ScheduledFault(ErrorReply(error_word=0x02), meter=M1)]])
async def test_a_meter_refusing_every_read_is_counted_failed_but_stays_online(
    tmp_path: Path, faults: list[ScheduledFault]
) -> None:
    async with collecting(tmp_path, faults) as rig:
        readings = await rig.until(
            lambda seen: len({r.timestamp for r in seen if r.meter == M1}) >= 3
        )
        await rig.writer.flush()
        tally = rig.completeness.meter_day(M1, rig.completeness.local_day(START))
    refused = [r for r in readings if r.meter == M1]
    assert {(r.quality, r.reason) for r in refused} == {(Quality.MISSING, "error_response")}
    assert rig.health == []  # it answers: alive, only not giving values
    assert tally.received == 0
    assert tally.failures["error_response"] == tally.expected >= len(SPECS)
    assert rig.collector.stats.skipped_offline == 0


@pytest.mark.parametrize("faults", [[ScheduledFault(SlowReply(delay_ms=150), meter=M1)]])
async def test_a_slot_due_while_the_last_still_waits_for_the_bus_is_a_bus_overrun(
    tmp_path: Path, faults: list[ScheduledFault]
) -> None:
    # At 600x a minute lasts 0.1 s; M1 answers each request 0.15 s late, in time for its
    # timeout but too slowly for its next slot.
    async with collecting(tmp_path, faults, speed=600) as rig:
        readings = await rig.until(
            lambda seen: (
                any(r.meter == M1 and r.reason == "bus_overrun" for r in seen)
                and any(r.meter == M1 and r.quality is Quality.ACTUAL for r in seen)
            )
        )
        await rig.writer.flush()
        tally = rig.completeness.meter_day(M1, rig.completeness.local_day(START))
    assert rig.collector.stats.overruns >= 1
    assert tally.failures["bus_overrun"] >= 1
    keys = [(r.meter, r.quantity, r.timestamp) for r in readings]
    assert len(keys) == len(set(keys)), "a slot recorded missing was read after all"


async def test_meters_added_and_removed_while_running(tmp_path: Path) -> None:
    async with collecting(tmp_path) as rig:
        await rig.until(lambda seen: any(r.meter == M2 for r in seen))
        removed_at = rig.clock.now()
        rig.collector.set_meter(M2, None)
        rig.collector.set_meter(M3, rig.meters[M3])
        slots = rig.collector.first_slots()
        readings = await rig.until(
            lambda seen: len({r.timestamp for r in seen if r.meter == M3}) >= 2
        )
    assert {meter for meter, _ in slots} == {M1, M3}
    # A read of M2 already on the bus may still end, but nothing due after it left is sent.
    assert all(r.timestamp <= removed_at for r in readings if r.meter == M2)
    added = [r for r in readings if r.meter == M3]
    assert {r.quality for r in added} == {Quality.ACTUAL}
    assert min(r.timestamp for r in added) >= slot_start(removed_at, 60)
    assert {r.quantity for r in added} == set(QUANTITIES)


async def test_reads_still_waiting_for_the_bus_at_a_stop_end_as_shutdown_gaps(
    tmp_path: Path,
) -> None:
    async with collecting(tmp_path) as rig:
        first = await rig.handed.get()  # one read done: the other five due with it still wait
        rest = await rig.shut_down()
        await rig.writer.flush()
        tally = rig.completeness.rollup(rig.completeness.local_day(START), lambda meter: "bus")
    groups = [first, *rest]
    ended = [{(r.quality, r.reason) for r in group} for group in groups]
    assert {(Quality.MISSING, "shutdown")} in ended
    assert all(len(outcome) == 1 for outcome in ended)  # a read ends whole: values or a gap
    assert len(groups) == rig.collector.stats.sent  # every read sent ended as readings
    [bus] = tally
    assert bus.failures == {"shutdown": ended.count({(Quality.MISSING, "shutdown")})}
    assert bus.received + bus.failures["shutdown"] == bus.expected == len(groups)
