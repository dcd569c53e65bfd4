"""Unit and kind of a quantity as a given meter reports it, for readings the meter never sent.

A missing reading must land in the same series as the values (storage keys a series by
measurement = kind, and by unit), so its unit and kind come from the same catalogue or
register map the reader uses, not from a guess, and in the canonical unit of
``headend.units`` that every stored value of the quantity carries.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from headend.drivers.dlt645.reader import standard_of
from headend.units import canonical_unit
from protocols.dlt645 import UnknownIdentifier, catalogue
from protocols.modbus import builtin_register_map
from protocols.modbus.errors import ModbusProtocolError
from storage.records import ReadingKind

if TYPE_CHECKING:
    from headend.config.fleet import MeterConfig


def unit_and_kind(meter: MeterConfig, quantity: str) -> tuple[str, ReadingKind]:
    unit, kind = _lookup(meter.protocol, meter.register_map, quantity)
    return canonical_unit(quantity) or unit, kind


@cache
def _lookup(protocol: str, register_map: str | None, quantity: str) -> tuple[str, ReadingKind]:
    try:
        if protocol.startswith("dlt645"):
            item = catalogue(standard_of(protocol)).by_name(quantity)
            return item.unit, ReadingKind(item.kind)
        if register_map is not None:
            point = builtin_register_map(register_map).point(quantity)
            return point.unit, ReadingKind(point.kind)
    except (UnknownIdentifier, ModbusProtocolError, ValueError):
        pass
    return "", ReadingKind.INSTANT
