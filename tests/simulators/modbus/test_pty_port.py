"""The Modbus RTU simulator on a pseudo-terminal, read through the head-end's serial adapter."""

from __future__ import annotations

import pytest

from headend.drivers.modbus import ModbusAdapter, ModbusTimeoutError, SerialTarget
from protocols.modbus import Ratios, builtin_register_map, decode_point, encode_point, plan_all
from simulators.modbus import ModbusPtyPort, SimulatedMeter
from storage.records import FailureReason

ADL400 = builtin_register_map("acrel_adl400")
DTSU666 = builtin_register_map("chint_dtsu666")
RATIOS = Ratios(ct=20.0, pt=1.0)


def _values(register_map_quantities: tuple[str, ...]) -> dict[str, float]:
    return {
        quantity: 0.9 if quantity.startswith("power_factor") else 150.0 + 3 * index
        for index, quantity in enumerate(register_map_quantities)
        if quantity not in ("ct_ratio", "pt_ratio")
    }


def _target(port: ModbusPtyPort) -> SerialTarget:
    return SerialTarget(port.path, baudrate=9600, parity="N")


async def test_two_meters_on_one_pty_bus_read_back_their_values() -> None:
    adl_values = _values(ADL400.quantities)
    dtsu_values = _values(DTSU666.quantities)
    meters = {
        1: SimulatedMeter(ADL400, adl_values, RATIOS),
        2: SimulatedMeter(DTSU666, dtsu_values, Ratios(ct=40.0)),
    }
    async with ModbusPtyPort(meters) as port, ModbusAdapter(_target(port), timeout=1.0) as link:
        ratios = await link.read_ratios(1, ADL400)
        outcome = await link.read_plan(1, plan_all(ADL400), ratios)
        dtsu = await link.read_points(2, plan_all(DTSU666), await link.read_ratios(2, DTSU666))
    assert ratios == RATIOS
    assert outcome.complete
    for quantity, value in adl_values.items():
        point = ADL400.point(quantity)
        truth = decode_point(point, encode_point(point, value, RATIOS), RATIOS).value
        assert outcome.results[quantity].value == pytest.approx(truth, rel=1e-9), quantity
    assert dtsu["voltage_a"].value == pytest.approx(dtsu_values["voltage_a"], rel=1e-6)


async def test_an_unknown_unit_is_silent_as_on_a_real_bus() -> None:
    meters = {1: SimulatedMeter(ADL400, _values(ADL400.quantities), RATIOS)}
    async with ModbusPtyPort(meters) as port, ModbusAdapter(_target(port), timeout=0.3) as link:
        with pytest.raises(ModbusTimeoutError) as caught:
            await link.read_registers(9, ADL400.point("voltage_a").table, 0x0061, 1)
        # the bus still answers the meter that is there
        answered = await link.read_plan(1, plan_all(ADL400), RATIOS)
    assert caught.value.reason is FailureReason.TIMEOUT
    assert answered.complete
