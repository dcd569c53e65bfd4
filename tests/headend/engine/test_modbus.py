"""The engine collects a Modbus meter from a real pymodbus server and stores every reading."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.config.meters import RegistryError
from headend.engine import Engine, EngineOptions
from headend.errors import ReadFailed
from protocols.modbus import builtin_register_map
from simulators.modbus import ModbusMeterSimulator, SimulatedMeter
from storage.embedded import SqliteStore
from storage.records import Quality, Reading, ReadingKind
from tests.support.modbus_fleet import START, modbus_fleet


async def next_readings(queue: asyncio.Queue[Reading], count: int) -> list[Reading]:
    return [await queue.get() for _ in range(count)]


async def test_scheduled_modbus_reads_reach_storage(tcp_port: int, tmp_path: Path) -> None:
    values = {
        "voltage_a": 229.5,
        "current_a": 31.25,
        "power_active_total": 7.1,
        "energy_active_import_total": 1234.5,
    }
    meter = SimulatedMeter(builtin_register_map("chint_dtsu666"), values=values)
    config = parse_fleet_config(modbus_fleet(tcp_port), "test")
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    clock = WarpedClock(START, speed=120)
    async with ModbusMeterSimulator({1: meter}, port=tcp_port):
        engine = Engine(config, store, clock=clock, options=EngineOptions(jitter=0))
        live = engine.live.subscribe()
        async with asyncio.TaskGroup() as group:
            task = group.create_task(engine.run())
            first = await next_readings(live, 3)
            on_demand = await engine.operations.read_now("pile-1", ["energy_active_import_total"])
            task.cancel()
    by_quantity = {r.quantity: r for r in first}
    assert by_quantity["voltage_a"].value == pytest.approx(229.5, abs=0.05)
    assert by_quantity["current_a"].value == pytest.approx(31.25, abs=0.001)
    assert by_quantity["voltage_a"].quality is Quality.ACTUAL
    assert by_quantity["voltage_a"].tags["transformer"] == "T1"
    slot = by_quantity["voltage_a"].timestamp
    assert slot.second == 0  # stamped with its 1-minute slot, not the moment of reading
    assert on_demand[0].value == pytest.approx(1234.5, abs=0.01)
    stored = await store.stored_points(
        ReadingKind.INSTANT,
        ["pile-1"],
        ["voltage_a"],
        START - timedelta(days=1),
        START + timedelta(days=1),
    )
    await store.aclose()
    assert stored, "the writer flushed on shutdown"
    assert stored[0].value == pytest.approx(229.5, abs=0.05)
    tally = engine.completeness.meter_day("pile-1", slot.date())
    assert tally.received >= 1


async def test_unanswered_meter_is_recorded_missing_and_goes_offline(
    tcp_port: int, tmp_path: Path
) -> None:
    meter = SimulatedMeter(builtin_register_map("chint_dtsu666"), values={}, exception_code=0x04)
    config = parse_fleet_config(modbus_fleet(tcp_port), "test")
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    clock = WarpedClock(START, speed=600)
    async with ModbusMeterSimulator({1: meter}, port=tcp_port):
        engine = Engine(
            config, store, clock=clock, options=EngineOptions(jitter=0, offline_after=2)
        )
        live = engine.live.subscribe()
        async with asyncio.TaskGroup() as group:
            task = group.create_task(engine.run())
            missing: list[Reading] = []
            while len({r.timestamp for r in missing if r.quantity == "voltage_a"}) < 3:
                missing.append(await live.get())
            task.cancel()
    await store.aclose()
    assert all(r.quality is Quality.MISSING for r in missing)
    reasons = {r.reason for r in missing}
    assert "error_response" in reasons
    assert "meter_offline" in reasons  # after 2 failures the meter is probed, not polled
    open_kinds = {(a.kind, a.subject) for a in engine.alarms.open_alarms()}
    assert ("meter_offline", "pile-1") in open_kinds


async def test_fleet_changes_at_run_time(tcp_port: int, tmp_path: Path) -> None:
    config = parse_fleet_config(modbus_fleet(tcp_port), "test")
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(config, store, options=EngineOptions(jitter=0))
    old = engine.registry.get("pile-1")
    with pytest.raises(RegistryError, match="already used by meter pile-1"):
        engine.registry.add(replace(old, id="pile-2"))
    with pytest.raises(RegistryError, match="pile-3: unit_id"):
        engine.registry.add(replace(old, id="pile-3", unit_id=None))
    engine.registry.add(replace(old, id="pile-2", unit_id=2))
    assert "pile-2" in engine.registry
    assert "pile-2" in engine.detector.layout.meter_index
    engine.registry.remove("pile-2")
    assert "pile-2" not in engine.detector.layout.meter_index
    with pytest.raises(RegistryError, match="no 'voltage_z'"):
        await engine.operations.read_now("pile-1", ["voltage_z"])
    with pytest.raises(KeyError, match="nope"):
        await engine.operations.read_now("nope")
    await store.aclose()


async def test_on_demand_read_of_a_dead_gateway_fails_with_reason(
    tcp_port: int, tmp_path: Path
) -> None:
    config = parse_fleet_config(modbus_fleet(tcp_port), "test")  # nothing listens on the port
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(config, store, options=EngineOptions(jitter=0))
    async with asyncio.TaskGroup() as group:
        task = group.create_task(engine.run())
        await engine.ready.wait()
        with pytest.raises(ReadFailed) as info:
            await engine.operations.read_now("pile-1", ["voltage_a"])
        task.cancel()
    await store.aclose()
    assert info.value.reason.value == "connection_lost"


async def test_a_clock_stepped_back_skips_sweeps_instead_of_failing(
    tcp_port: int, tmp_path: Path
) -> None:
    class SteppedClock(WarpedClock):
        def __init__(self) -> None:
            super().__init__(START, speed=1)
            self.offset = timedelta()

        def now(self) -> datetime:
            return super().now() + self.offset

    clock = SteppedClock()
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    engine = Engine(parse_fleet_config(modbus_fleet(tcp_port), "test"), store, clock=clock)
    engine.sweeps.sweep()
    clock.offset = timedelta(minutes=-10)  # an NTP step backwards
    assert engine.sweeps.sweep() == []
    clock.offset = timedelta(minutes=1)
    engine.sweeps.sweep()  # time moves on: sweeps resume without an error
    await store.aclose()
    assert engine.sweeps.last_sweep is not None
    assert engine.sweeps.last_sweep > START
