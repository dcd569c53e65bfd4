"""Slots due while the head-end was down become ``headend_down`` gaps, and completeness survives
a restart: one engine collects and stops, a second starts on the same store later in time."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from headend.clock import WarpedClock
from headend.collection.schedule import is_slot, slots_between
from headend.config.fleet import parse_fleet_config
from headend.engine import Engine, EngineOptions
from simulators.dlt645 import TransportLink
from storage.embedded import SqliteStore
from storage.outbox import open_outbox
from storage.records import Quality, Reading, ReadingKind
from storage.sink import Sink
from tests.support.engine_rig import M1, M2, fast_bus, two_meter_fleet
from tests.support.fake_target import FakeTarget
from transports.memory import MemoryNetwork

START = datetime(2026, 11, 23, 11, 0, 30, tzinfo=UTC)
GAP = timedelta(minutes=10)
"""Simulated time the head-end is down between the two runs."""
SPEED = 60.0


@asynccontextmanager
async def running_engine(
    store: SqliteStore,
    clock: WarpedClock,
    tmp_path: Path,
    *,
    maintenance: bool = False,
    sink: Sink | None = None,
) -> AsyncIterator[Engine]:
    """An engine reading history from ``store`` and writing to ``sink`` (default: ``store``)."""
    network = MemoryNetwork()
    bus = fast_bus(clock.now, [])
    device_end = network.listen("bus-1")
    engine = Engine(
        parse_fleet_config(two_meter_fleet(), "test"),
        sink or store,
        clock=clock,
        memory=network,
        history=store,
        options=EngineOptions(
            jitter=0,
            maintenance=maintenance,
            writer_interval=0.05,
            audit_path=tmp_path / "audit.jsonl",
        ),
    )
    async with asyncio.TaskGroup() as group:
        server = group.create_task(bus.serve(TransportLink(device_end)))
        runner = group.create_task(engine.run())
        await engine.ready.wait()
        yield engine
        engine.stop()
        await runner
        server.cancel()


async def telemetry_slots(live: asyncio.Queue[Reading], count: int) -> None:
    slots: set[datetime] = set()
    async with asyncio.timeout(60):  # a broken engine fails the test instead of hanging it
        while len(slots) < count:
            reading = await live.get()
            if (reading.meter, reading.quantity, reading.quality) == (
                M1,
                "voltage_a",
                Quality.ACTUAL,
            ):
                slots.add(reading.timestamp)


async def test_slots_due_while_down_are_headend_down_and_completeness_survives(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    first_run = WarpedClock(START, SPEED)
    async with running_engine(store, first_run, tmp_path) as engine:
        await telemetry_slots(engine.live.subscribe(), 2)
        frozen = await engine.backfill_passes.run_pass()  # the daily frozen values, counted per day
    assert any(r.meter == M1 for r in frozen)
    day = engine.completeness.local_day(START)
    before = engine.completeness.meter_day(M1, day)
    earlier_days = {d: engine.completeness.meter_day(M1, d) for d in engine.completeness.days()}
    assert len(earlier_days) > 1  # the backfill filled in frozen values of past days
    stored = await store.stored_points(
        ReadingKind.INSTANT, [M1], ["voltage_a"], START - GAP, START + 2 * GAP
    )
    last_slot = max(point.timestamp for point in stored)

    restart = WarpedClock(first_run.now() + GAP, SPEED)
    async with running_engine(store, restart, tmp_path, maintenance=True) as engine:
        first_slot = engine.collectors["bus-1"].first_slots()[(M1, 0)]
        after = engine.completeness.meter_day(M1, day)
        restored = {d: engine.completeness.meter_day(M1, d) for d in earlier_days}
    points = await store.stored_points(
        ReadingKind.INSTANT, [M1], ["voltage_a"], last_slot, first_slot
    )
    await store.aclose()

    down = sorted(p.timestamp for p in points if p.reason == "headend_down")
    expected = []
    slot = last_slot + timedelta(minutes=1)
    while slot < first_slot:
        expected.append(slot)
        slot += timedelta(minutes=1)
    assert len(expected) >= 8  # the 10-minute gap, less the slots either run took
    assert down == expected
    assert all(p.quality is Quality.MISSING for p in points if p.timestamp in down)
    # The day's figures before the restart are still there, plus the gap as failures.
    assert after.received >= before.received > 0
    for earlier, tally in earlier_days.items():  # the frozen days count again
        assert restored[earlier].received >= tally.received, earlier
        assert restored[earlier].backfilled >= tally.backfilled, earlier
    assert after.failures["headend_down"] == len(expected)
    assert after.expected >= before.expected + len(expected)


async def test_no_headend_down_gap_overwrites_readings_still_in_the_outbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behind an outbox, storage is the server: what the outbox still holds from the last run
    is not there yet. A gap recorded from the server's view would replay after those readings
    and turn them ``missing`` (InfluxDB merges the fields of one series and timestamp)."""
    monkeypatch.setattr("headend.collection.downtime.OUTBOX_SETTLE_SECONDS", 0.2)
    server = await SqliteStore.open(tmp_path / "server.sqlite")  # what the server holds
    clock = WarpedClock(START, SPEED)
    async with running_engine(server, clock, tmp_path) as engine:
        await telemetry_slots(engine.live.subscribe(), 2)
    target = FakeTarget()
    target.up = False  # the server is unreachable for the second run and after it
    outbox_path = tmp_path / "outbox.sqlite"
    clock = WarpedClock(clock.now() + GAP, SPEED)
    async with (
        open_outbox(outbox_path, target, drain_timeout_s=0.1) as outbox,
        running_engine(server, clock, tmp_path, sink=outbox) as engine,
    ):
        await telemetry_slots(engine.live.subscribe(), 2)
    clock = WarpedClock(clock.now() + GAP, SPEED)
    async with open_outbox(outbox_path, target, drain_timeout_s=0.1) as outbox:
        assert outbox.stats().pending_points > 0
        async with running_engine(server, clock, tmp_path, sink=outbox):
            pass
    await server.aclose()

    with sqlite3.connect(outbox_path) as connection:
        payloads = [row[0] for row in connection.execute("SELECT payload FROM outbox")]
    lines = [line for payload in payloads for line in bytes(payload).decode().split("\n")]
    actual = {line.split(" ")[-1] for line in lines if "voltage_a" in line and "value=" in line}
    missing = {line.split(" ")[-1] for line in lines if 'quality="missing"' in line}
    assert actual  # the second run's readings wait in the outbox
    assert missing  # the second run recorded the gap after the first (the outbox was empty)
    assert not actual & missing


async def test_a_full_disk_at_start_still_restores_every_meters_completeness(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.sqlite"
    store = await SqliteStore.open(path)
    first_run = WarpedClock(START, SPEED)
    async with running_engine(store, first_run, tmp_path) as engine:
        await telemetry_slots(engine.live.subscribe(), 2)
    day = engine.completeness.local_day(START)
    before = {meter: engine.completeness.meter_day(meter, day) for meter in (M1, M2)}
    await store.aclose()

    full = await SqliteStore.open(path, max_bytes=1)  # no page more: every new row is refused
    restart = WarpedClock(first_run.now() + GAP, SPEED)
    async with running_engine(full, restart, tmp_path) as engine:
        after = {meter: engine.completeness.meter_day(meter, day) for meter in (M1, M2)}
    await full.aclose()
    for meter in (M1, M2):  # before the fix: the first refused write ended the recovery
        assert after[meter].received >= before[meter].received > 0, meter
        assert after[meter].failures["headend_down"] >= 8, meter


def test_slots_between_excludes_both_ends_and_on_demand_stamps_are_not_slots() -> None:
    last = datetime(2026, 7, 15, 16, 15, tzinfo=UTC)
    first = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)
    assert slots_between(last, first, 900) == [last + timedelta(minutes=15 * k) for k in (1, 2)]
    assert slots_between(last + timedelta(seconds=7), first, 900)[0] == last + timedelta(minutes=15)
    assert is_slot(last, 900)
    assert not is_slot(last + timedelta(seconds=12.5), 900)  # an operator's on-demand read
