"""Sans-IO Modbus meter support: register maps as data, read coalescing, decoding, encoding.

No sockets here: :mod:`headend.drivers.modbus` moves the registers, :mod:`simulators.modbus`
serves them.
"""

from __future__ import annotations

from protocols.modbus.codec import PointResult, decode_point, encode_point, missing_result
from protocols.modbus.errors import (
    ModbusProtocolError,
    RegisterDecodeError,
    RegisterEncodeError,
    RegisterMapError,
    UnknownQuantityError,
)
from protocols.modbus.maps import (
    ENERGY_BASE,
    RegisterMap,
    builtin_map_description,
    builtin_map_names,
    builtin_register_map,
    load_register_map,
    parse_register_map,
)
from protocols.modbus.planning import (
    ReadPlan,
    ReadRequest,
    plan_all,
    plan_ratio_read,
    plan_reads,
    ratios_from_results,
)
from protocols.modbus.points import NO_RATIOS, Point, Ratios, RatioUse
from protocols.modbus.registers import MAX_READ_REGISTERS, Table, ValueType, WordOrder

__all__ = [
    "ENERGY_BASE",
    "MAX_READ_REGISTERS",
    "NO_RATIOS",
    "ModbusProtocolError",
    "Point",
    "PointResult",
    "RatioUse",
    "Ratios",
    "ReadPlan",
    "ReadRequest",
    "RegisterDecodeError",
    "RegisterEncodeError",
    "RegisterMap",
    "RegisterMapError",
    "Table",
    "UnknownQuantityError",
    "ValueType",
    "WordOrder",
    "builtin_map_description",
    "builtin_map_names",
    "builtin_register_map",
    "decode_point",
    "encode_point",
    "load_register_map",
    "missing_result",
    "parse_register_map",
    "plan_all",
    "plan_ratio_read",
    "plan_reads",
    "ratios_from_results",
]
