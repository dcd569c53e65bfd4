"""Issue 11, units: every Modbus map reads in the canonical unit of its quantity.

The register maps fold each meter's raw scaling into the canonical unit (a DTSU666 power
register counts tenths of a watt; the head-end stores kW), so a value read from the pymodbus
meter simulator comes back in V, A, kW, kvar, kWh, and the raw register still holds what the
meter's manual says it holds.
"""

from __future__ import annotations

import asyncio
import struct
from datetime import timedelta
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from headend.clock import WarpedClock
from headend.config.fleet import parse_fleet_config
from headend.drivers.modbus import ModbusAdapter, TcpTarget
from headend.drivers.modbus.reader import point_reading
from headend.engine import Engine, EngineOptions
from headend.units import canonical_unit
from protocols.modbus import Ratios, builtin_map_names, builtin_register_map, plan_all
from simulators.modbus import ModbusMeterSimulator, SimulatedMeter
from storage.embedded import SqliteStore
from storage.records import ReadingKind
from tests.support.modbus_fleet import START, modbus_fleet

DTSU_POWER_TOTAL = 0x2012
"""Pt, float32 high word first, in units of 0.1 W on the secondary side (Chint manual)."""


def _plausible(quantity: str) -> float:
    return 3.0 if quantity.startswith(("ct_", "pt_")) else 12.5


@pytest.mark.parametrize("name", builtin_map_names())
async def test_every_map_point_reads_in_its_quantitys_canonical_unit(
    tcp_port: int, name: str
) -> None:
    register_map = builtin_register_map(name)
    values = {point.quantity: _plausible(point.quantity) for point in register_map.points}
    meters = {1: SimulatedMeter(register_map, values, Ratios())}
    async with (
        ModbusMeterSimulator(meters, port=tcp_port),
        ModbusAdapter(TcpTarget("127.0.0.1", tcp_port), timeout=2.0) as link,
    ):
        results = await link.read_points(1, plan_all(register_map))
    for quantity, result in results.items():
        reading = point_reading(result, "m", START)
        wanted = canonical_unit(quantity)
        if wanted is not None:
            assert reading.unit == wanted, f"{name}: {quantity} reads in {reading.unit!r}"


async def test_dtsu666_register_holds_tenths_of_a_watt_for_a_reading_in_kw(
    tcp_port: int,
) -> None:
    """The map's scale is checked against the manual, not against itself: 7.1 kW on the
    meter is 71000 (x 0.1 W) in its register, and the head-end reads 7.1 kW back."""
    register_map = builtin_register_map("chint_dtsu666")
    meters = {1: SimulatedMeter(register_map, {"power_active_total": 7.1}, Ratios())}
    async with ModbusMeterSimulator(meters, port=tcp_port):
        client = AsyncModbusTcpClient("127.0.0.1", port=tcp_port, timeout=2.0)
        await client.connect()
        try:
            raw = await client.read_holding_registers(DTSU_POWER_TOTAL, count=2, device_id=1)
        finally:
            client.close()
        async with ModbusAdapter(TcpTarget("127.0.0.1", tcp_port), timeout=2.0) as link:
            results = await link.read_points(1, plan_all(register_map))
    assert not raw.isError()
    (tenths_of_watt,) = struct.unpack(">f", struct.pack(">HH", *raw.registers))
    assert tenths_of_watt == pytest.approx(71000.0, rel=1e-6)
    reading = point_reading(results["power_active_total"], "m", START)
    assert reading.value == pytest.approx(7.1, rel=1e-6)
    assert reading.unit == "kW"


async def test_engine_stores_dtsu666_power_in_kw(tcp_port: int, tmp_path: Path) -> None:
    register_map = builtin_register_map("chint_dtsu666")
    # The register holds 71000 counts of 0.1 W (the manual), whatever the map under test says.
    counts = 71000.0 * register_map.point("power_active_total").scale
    values = {"voltage_a": 229.5, "current_a": 31.25, "power_active_total": counts}
    config = parse_fleet_config(modbus_fleet(tcp_port), "test")
    store = await SqliteStore.open(tmp_path / "store.sqlite")
    clock = WarpedClock(START, speed=1)
    async with ModbusMeterSimulator({1: SimulatedMeter(register_map, values)}, port=tcp_port):
        engine = Engine(config, store, clock=clock, options=EngineOptions(jitter=0))
        async with asyncio.TaskGroup() as group:
            task = group.create_task(engine.run())
            await engine.ready.wait()
            await engine.operations.read_now("pile-1", ["power_active_total"])
            task.cancel()
    stored = await store.stored_points(
        ReadingKind.INSTANT,
        ["pile-1"],
        ["power_active_total"],
        START - timedelta(days=1),
        START + timedelta(days=1),
    )
    await store.aclose()
    [point] = stored
    assert point.value == pytest.approx(7.1, rel=1e-6)
    assert point.unit == "kW"
    assert engine.live.latest["pile-1", "power_active_total"].unit == "kW"
