"""Meters as pymodbus simulator devices: register blocks laid out from a register map, and a
read hook that encodes the meter's current values through the same map on every request.

Values are pulled at read time (a dict, or a callback returning one), so a community load model
can feed live values without the simulator knowing about it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pymodbus.constants import ExcCodes
from pymodbus.simulator import DataType, SimAction, SimData, SimDevice

from protocols.modbus import (
    ModbusProtocolError,
    Point,
    Ratios,
    RegisterMap,
    Table,
    ValueType,
    encode_point,
)

log = logging.getLogger(__name__)

ValueSource = Mapping[str, float] | Callable[[], Mapping[str, float]]
"""Primary-side values by quantity; a missing quantity is served as "not available"."""

_HOLDING_CODES = frozenset({3, 6, 16, 22, 23})
_INPUT_CODES = frozenset({4})


@dataclass
class SimulatedMeter:
    """One meter on the simulated bus. Mutable on purpose: tests and fault injection change
    ``values``, ``ratios`` or ``exception_code`` while the server runs."""

    register_map: RegisterMap
    values: ValueSource = field(default_factory=dict)
    ratios: Ratios = field(default_factory=Ratios)
    exception_code: int | None = None
    """When set, every request is answered with this Modbus exception code."""

    def current_values(self) -> dict[str, float]:
        """Values to serve now, including the CT/PT ratio points the map declares."""
        values = dict(self.values() if callable(self.values) else self.values)
        if self.register_map.ct_quantity is not None:
            values.setdefault(self.register_map.ct_quantity, self.ratios.ct)
        if self.register_map.pt_quantity is not None:
            values.setdefault(self.register_map.pt_quantity, self.ratios.pt)
        return values


def meter_device(unit_id: int, meter: SimulatedMeter) -> SimDevice:
    """A pymodbus device for ``meter``: one block per table, spanning its first to last point
    (gaps read as zero, like most meters), everything else an illegal address."""
    points = meter.register_map.points
    action = _meter_action(meter)
    return SimDevice(id=unit_id, simdata=_blocks(points), action=action)


def catch_all_device(maps: Iterable[RegisterMap]) -> SimDevice:
    """Device id 0 answers units nobody configured with exception 0x0B, as a Modbus gateway
    does for an RS-485 meter that does not reply."""

    async def no_such_unit(
        _fc: int,
        _start: int,
        _address: int,
        _count: int,
        _registers: list[int],
        _values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        return ExcCodes.GATEWAY_NO_RESPONSE

    points = [point for register_map in maps for point in register_map.points]
    return SimDevice(id=0, simdata=_blocks(points), action=no_such_unit)


def _blocks(
    points: Iterable[Point],
) -> tuple[list[SimData], list[SimData], list[SimData], list[SimData]]:
    spans: dict[Table, tuple[int, int]] = {}
    for point in points:
        start, end = spans.get(point.table, (point.address, point.end))
        spans[point.table] = (min(start, point.address), max(end, point.end))

    def registers(table: Table) -> list[SimData]:
        if table not in spans:
            return [SimData(address=0, datatype=DataType.INVALID)]
        start, end = spans[table]
        return [SimData(address=start, values=[0] * (end - start), datatype=DataType.REGISTERS)]

    # Meters here have no coils or discrete inputs, but pymodbus needs a block for each table.
    no_bits = [SimData(address=0, values=[False] * 16, datatype=DataType.BITS)]
    return (no_bits, list(no_bits), registers(Table.HOLDING), registers(Table.INPUT))


def _meter_action(meter: SimulatedMeter) -> SimAction:
    async def refresh(
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if meter.exception_code is not None:
            return ExcCodes(meter.exception_code)
        if set_values is not None:
            return None
        table = _table_for(function_code)
        if table is None:
            return None
        try:
            _write_points(meter, table, start_address, address, count, registers)
        except (ModbusProtocolError, ValueError, TypeError, ArithmeticError):
            log.exception("simulated %s cannot encode its values", meter.register_map.name)
            return ExcCodes.DEVICE_FAILURE
        return None

    return refresh


def _table_for(function_code: int) -> Table | None:
    if function_code in _HOLDING_CODES:
        return Table.HOLDING
    if function_code in _INPUT_CODES:
        return Table.INPUT
    return None


def _write_points(
    meter: SimulatedMeter,
    table: Table,
    start_address: int,
    address: int,
    count: int,
    registers: list[int],
) -> None:
    values = meter.current_values()
    for point in meter.register_map.points:
        if point.table is not table or point.end <= address or point.address >= address + count:
            continue
        value = values.get(point.quantity, math.nan)
        if math.isnan(value) and point.value_type is not ValueType.FLOAT32:
            words = [0] * point.width
        else:
            ratios = Ratios() if _is_ratio_point(meter, point) else meter.ratios
            words = encode_point(point, value, ratios)
        offset = point.address - start_address
        registers[offset : offset + point.width] = words


def _is_ratio_point(meter: SimulatedMeter, point: Point) -> bool:
    return point.quantity in (meter.register_map.ct_quantity, meter.register_map.pt_quantity)
