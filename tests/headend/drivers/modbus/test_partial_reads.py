"""A meter that refuses one block: the collector's read keeps the other blocks' values.

The simulated DTSU666 keeps its energy block at 0x101E (the public manuals' address) while
the map's default is 0x401E, as on real units of that firmware.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from headend.config.fleet import MeterConfig
from headend.drivers.modbus import ModbusAdapter, TcpTarget
from headend.drivers.modbus.reader import ModbusLink, read_modbus
from headend.errors import ReadFailed
from protocols.modbus import Ratios, builtin_register_map, decode_point, encode_point
from simulators.modbus import ModbusMeterSimulator, SimulatedMeter
from storage.records import FailureReason, Quality, Reading

DTSU666 = builtin_register_map("chint_dtsu666")
MOVED = DTSU666.with_bases({"energy": 0x101E})
RATIOS = Ratios(ct=40.0, pt=1.0)
QUANTITIES = [q for q in DTSU666.quantities if q not in ("ct_ratio", "pt_ratio")]
VALUES = {quantity: 200.0 + index for index, quantity in enumerate(QUANTITIES)}
ENERGY = {"energy_active_import_total", "energy_active_export_total"}
SLOT = datetime(2026, 7, 15, 12, 0, tzinfo=UTC)


def _meter(energy_base: int | None = None) -> MeterConfig:
    return MeterConfig(
        id="T1-LV",
        channel="lv",
        protocol="modbus",
        plan="p",
        unit_id=3,
        register_map="chint_dtsu666",
        energy_base=energy_base,
        ct_ratio=RATIOS.ct,
        pt_ratio=RATIOS.pt,
    )


def _truth(quantity: str) -> float:
    point = MOVED.point(quantity)
    value = decode_point(point, encode_point(point, VALUES[quantity], RATIOS), RATIOS).value
    assert value is not None
    return value


async def _read(port: int, meter: MeterConfig, simulated: SimulatedMeter) -> list[Reading]:
    async with ModbusMeterSimulator({3: simulated}, port=port):
        link = ModbusLink(ModbusAdapter(TcpTarget("127.0.0.1", port), timeout=1.0))
        await link.open()
        try:
            return await read_modbus(link, meter, QUANTITIES, SLOT)
        finally:
            await link.aclose()


async def test_one_refused_block_leaves_the_other_values(tcp_port: int) -> None:
    readings = await _read(tcp_port, _meter(), SimulatedMeter(MOVED, dict(VALUES), RATIOS))
    by_quantity = {reading.quantity: reading for reading in readings}
    assert list(by_quantity) == QUANTITIES
    for quantity, reading in by_quantity.items():
        if quantity in ENERGY:
            assert reading.quality is Quality.MISSING
            assert reading.reason == FailureReason.ERROR_RESPONSE
        else:
            assert reading.quality is Quality.ACTUAL
            assert reading.value == pytest.approx(_truth(quantity), rel=1e-6)
    assert sum(r.quality is Quality.ACTUAL for r in readings) == 16


async def test_the_meter_energy_base_reads_its_block(tcp_port: int) -> None:
    readings = await _read(tcp_port, _meter(0x101E), SimulatedMeter(MOVED, dict(VALUES), RATIOS))
    assert {r.quantity: r.value for r in readings} == {
        q: pytest.approx(_truth(q), rel=1e-6) for q in QUANTITIES
    }


async def test_a_meter_that_answers_nothing_fails_the_read(tcp_port: int) -> None:
    refusing = SimulatedMeter(MOVED, dict(VALUES), RATIOS, exception_code=0x04)
    with pytest.raises(ReadFailed) as caught:
        await _read(tcp_port, _meter(), refusing)
    assert caught.value.reason is FailureReason.ERROR_RESPONSE
    assert "T1-LV" in str(caught.value)
