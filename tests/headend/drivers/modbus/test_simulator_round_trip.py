"""End to end: the simulator serves each register map, the adapter reads it back."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable

import pytest

from headend.drivers.modbus import (
    ModbusAdapter,
    ModbusExceptionResponseError,
    RtuOverTcpTarget,
    TcpTarget,
)
from protocols.modbus import (
    Ratios,
    RegisterMap,
    Table,
    builtin_map_names,
    builtin_register_map,
    decode_point,
    encode_point,
    plan_all,
    plan_reads,
)
from simulators.modbus import ModbusMeterSimulator, SimulatedMeter, SimulatorFraming
from storage.records import FailureReason

TargetFactory = Callable[[str, int], TcpTarget | RtuOverTcpTarget]
FRAMINGS: list[tuple[SimulatorFraming, TargetFactory]] = [
    (SimulatorFraming.TCP, TcpTarget),
    (SimulatorFraming.RTU_OVER_TCP, RtuOverTcpTarget),
]


def _plausible_values(register_map: RegisterMap, ratios: Ratios, seed: int) -> dict[str, float]:
    """Random primary-side values every register type of the map can hold."""
    rng = random.Random(seed)
    ratio_points = {register_map.ct_quantity, register_map.pt_quantity}
    return {
        point.quantity: rng.uniform(0, 3000) * point.scale * ratios.factor(point.ratio)
        for point in register_map.points
        if point.quantity not in ratio_points
    }


def _expected(
    register_map: RegisterMap, values: dict[str, float], ratios: Ratios
) -> dict[str, float]:
    """What a perfect link returns: each value after one trip through its registers."""
    expected: dict[str, float] = {}
    for quantity, value in values.items():
        point = register_map.point(quantity)
        decoded = decode_point(point, encode_point(point, value, ratios), ratios).value
        assert decoded is not None
        expected[quantity] = decoded
    return expected


@pytest.mark.parametrize(("framing", "target"), FRAMINGS)
@pytest.mark.parametrize("name", builtin_map_names())
async def test_every_map_reads_back_what_the_simulator_serves(
    tcp_port: int, framing: SimulatorFraming, target: TargetFactory, name: str
) -> None:
    register_map = builtin_register_map(name)
    ratios = Ratios(ct=40.0, pt=10.0) if register_map.ct_quantity else Ratios()
    values = _plausible_values(register_map, ratios, seed=tcp_port)
    other_map = builtin_register_map("eastron_sdm120")
    other_values = _plausible_values(other_map, Ratios(), seed=tcp_port + 1)
    meters = {
        7: SimulatedMeter(register_map, values, ratios),
        8: SimulatedMeter(other_map, other_values),
    }
    async with (
        ModbusMeterSimulator(meters, port=tcp_port, framing=framing),
        ModbusAdapter(target("127.0.0.1", tcp_port), timeout=2.0) as link,
    ):
        read_ratios = await link.read_ratios(7, register_map)
        results = await link.read_points(7, plan_all(register_map), read_ratios)
        other = await link.read_points(8, plan_all(other_map))

    assert (read_ratios.ct, read_ratios.pt) == pytest.approx((ratios.ct, ratios.pt))
    for quantity, value in _expected(register_map, values, ratios).items():
        assert results[quantity].value == pytest.approx(value), quantity
    for quantity, value in _expected(other_map, other_values, Ratios()).items():
        assert other[quantity].value == pytest.approx(value), quantity


async def test_callback_values_are_read_live(tcp_port: int) -> None:
    register_map = builtin_register_map("eastron_sdm630")
    served: list[float] = []

    def live() -> dict[str, float]:
        served.append(200.0 + len(served))
        return {"voltage_a": served[-1]}

    plan = plan_reads(register_map, ["voltage_a"])
    meters = {1: SimulatedMeter(register_map, live)}
    async with (
        ModbusMeterSimulator(meters, port=tcp_port),
        ModbusAdapter(TcpTarget("127.0.0.1", tcp_port)) as link,
    ):
        first = (await link.read_points(1, plan))["voltage_a"].value
        second = (await link.read_points(1, plan))["voltage_a"].value
    assert [first, second] == served


async def test_unserved_float_quantity_is_not_available(tcp_port: int) -> None:
    register_map = builtin_register_map("eastron_sdm630")
    meters = {1: SimulatedMeter(register_map, {"voltage_a": 230.0})}
    async with (
        ModbusMeterSimulator(meters, port=tcp_port),
        ModbusAdapter(TcpTarget("127.0.0.1", tcp_port)) as link,
    ):
        results = await link.read_points(1, plan_reads(register_map, ["voltage_a", "voltage_c"]))
    assert results["voltage_a"].value == 230.0
    assert results["voltage_c"].value is None
    assert results["voltage_c"].reason == FailureReason.NOT_AVAILABLE


async def test_simulator_uses_no_deprecated_pymodbus_api(
    tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    meters = {1: SimulatedMeter(builtin_register_map("eastron_sdm120"))}
    with caplog.at_level(logging.WARNING):
        async with ModbusMeterSimulator(meters, port=tcp_port):
            pass
    assert not [r for r in caplog.records if "deprecated" in r.getMessage()]


@pytest.mark.parametrize(("framing", "target"), FRAMINGS)
async def test_unknown_unit_gets_gateway_exception(
    tcp_port: int, framing: SimulatorFraming, target: TargetFactory
) -> None:
    meters = {1: SimulatedMeter(builtin_register_map("eastron_sdm630"))}
    async with (
        ModbusMeterSimulator(meters, port=tcp_port, framing=framing),
        ModbusAdapter(target("127.0.0.1", tcp_port)) as link,
    ):
        with pytest.raises(ModbusExceptionResponseError) as caught:
            await link.read_registers(2, Table.INPUT, 0, 2)
    assert caught.value.exception_code == 0x0B
    assert caught.value.unit_id == 2
    assert caught.value.reason is FailureReason.ERROR_RESPONSE


async def test_address_outside_the_map_is_illegal_address(tcp_port: int) -> None:
    register_map = builtin_register_map("eastron_sdm630")
    last = max(point.end for point in register_map.points)
    meters = {1: SimulatedMeter(register_map)}
    async with (
        ModbusMeterSimulator(meters, port=tcp_port),
        ModbusAdapter(TcpTarget("127.0.0.1", tcp_port)) as link,
    ):
        with pytest.raises(ModbusExceptionResponseError) as beyond:
            await link.read_registers(1, Table.INPUT, last, 2)
        with pytest.raises(ModbusExceptionResponseError) as wrong_table:
            await link.read_registers(1, Table.HOLDING, 0, 2)
    assert beyond.value.exception_code == 0x02
    assert wrong_table.value.exception_code == 0x02
    assert wrong_table.value.function_code == 3


async def test_injected_exception_fails_or_marks_missing(tcp_port: int) -> None:
    register_map = builtin_register_map("eastron_sdm630")
    meter = SimulatedMeter(register_map, {"voltage_a": 230.0}, exception_code=0x06)
    plan = plan_all(register_map)
    async with (
        ModbusMeterSimulator({1: meter}, port=tcp_port),
        ModbusAdapter(TcpTarget("127.0.0.1", tcp_port)) as link,
    ):
        with pytest.raises(ModbusExceptionResponseError) as caught:
            await link.read_points(1, plan)
        marked = await link.read_points(1, plan, missing_on_peer_error=True)
        meter.exception_code = None
        recovered = await link.read_points(1, plan)
    assert caught.value.exception_code == 0x06
    assert set(marked) == set(register_map.quantities)
    assert {result.reason for result in marked.values()} == {FailureReason.ERROR_RESPONSE}
    assert recovered["voltage_a"].value == 230.0


async def test_dtsu666_energy_base_override_reads_the_moved_block(tcp_port: int) -> None:
    moved = builtin_register_map("chint_dtsu666", bases={"energy": 0x101E})
    default = builtin_register_map("chint_dtsu666")
    meters = {1: SimulatedMeter(moved, {"energy_active_import_total": 4321.0})}
    wanted = ["energy_active_import_total"]
    async with (
        ModbusMeterSimulator(meters, port=tcp_port),
        ModbusAdapter(TcpTarget("127.0.0.1", tcp_port)) as link,
    ):
        results = await link.read_points(1, plan_reads(moved, wanted))
        with pytest.raises(ModbusExceptionResponseError) as caught:
            await link.read_points(1, plan_reads(default, wanted))
    assert results["energy_active_import_total"].value == 4321.0
    assert caught.value.exception_code == 0x02
