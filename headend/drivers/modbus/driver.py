"""The Modbus driver: meters addressed by unit id, read through a register map.

The register maps (``protocols.modbus``) answer every check; pymodbus is imported only when a
channel's connection is built, so loading a fleet file (or ``headend read --help``) does not
pay for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING

from headend.drivers.base import Capability, Driver, MeterProblem, ReadAction
from headend.drivers.settings import ChannelSettings, MeterSettings
from protocols.modbus import ENERGY_BASE, RegisterMap, builtin_map_names, builtin_register_map
from protocols.modbus.errors import ModbusProtocolError
from storage.records import Reading, ReadingKind

if TYPE_CHECKING:
    from headend.drivers.modbus.reader import ModbusLink
    from transports.dial_in_listener import DialInListener
    from transports.memory import MemoryNetwork


class ModbusDriver(Driver["ModbusLink"]):
    protocol = "modbus"
    family = "modbus"
    transport_protocol = "modbus-rtu"
    """Serial defaults of RTU (9600 8N1); ``tcp://`` URLs are Modbus TCP."""
    meter_keys = ("unit_id", "register_map")
    capabilities = frozenset({Capability.BLOCK_READS})

    def meter_problem(self, meter: MeterSettings) -> MeterProblem | None:
        for key in self.meter_keys:
            if getattr(meter, key) is None:
                return MeterProblem(key, f"{key}: a Modbus meter needs one")
        if meter.energy_base is not None and meter.register_map in builtin_map_names():
            problem = _energy_base_problem(
                builtin_register_map(meter.register_map), meter.energy_base
            )
            if problem is not None:
                return MeterProblem("energy_base", f"energy_base: {problem}")
        return None

    def quantity_problem(
        self, meter: MeterSettings, quantities: Sequence[str]
    ) -> MeterProblem | None:
        if meter.register_map not in builtin_map_names():
            return MeterProblem(
                "register_map",
                f"register_map: unknown map {meter.register_map!r} "
                f"(known: {', '.join(sorted(builtin_map_names()))})",
            )
        register_map = builtin_register_map(meter.register_map)
        unknown = [q for q in quantities if q not in register_map.quantities]
        if unknown:
            return MeterProblem("quantities", f"map {meter.register_map} has no {unknown[0]!r}")
        return None

    def unit_and_kind(self, meter: MeterSettings, quantity: str) -> tuple[str, ReadingKind] | None:
        if meter.register_map is None:
            return None
        return _unit_and_kind(meter.register_map, quantity)

    def connection(
        self,
        channel: ChannelSettings,
        memory: MemoryNetwork | None,
        dial_in: DialInListener | None = None,
    ) -> ModbusLink:
        from headend.drivers.modbus.adapter import ModbusAdapter
        from headend.drivers.modbus.reader import ModbusLink, modbus_target

        return ModbusLink(ModbusAdapter(modbus_target(channel.url), timeout=channel.timeout))

    def read_action(
        self,
        channel: ChannelSettings,
        meter: MeterSettings,
        quantities: Sequence[str],
        slot: datetime,
    ) -> ReadAction[ModbusLink]:
        from headend.drivers.modbus.reader import read_modbus

        async def action(link: ModbusLink) -> list[Reading]:
            return await read_modbus(link, meter, quantities, slot)

        return action


def _energy_base_problem(register_map: RegisterMap, energy_base: int) -> str | None:
    if ENERGY_BASE not in register_map.bases:
        movable = sorted(register_map.bases)
        return f"map {register_map.name} has no movable energy block (bases: {movable})"
    try:
        register_map.with_bases({ENERGY_BASE: energy_base})
    except ModbusProtocolError as exc:
        return str(exc)
    return None


@cache
def _unit_and_kind(map_name: str, quantity: str) -> tuple[str, ReadingKind] | None:
    try:
        point = builtin_register_map(map_name).point(quantity)
        return point.unit, ReadingKind(point.kind)
    except (ModbusProtocolError, ValueError):
        return None
