"""Modbus meters: the driver, and the head-end's link (one pymodbus adapter behind typed errors).

``ModbusAdapter`` is loaded on first use (module ``__getattr__``): it imports pymodbus, which
the driver's checks and ``headend`` commands that read no Modbus meter do not need.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from headend.drivers.modbus.driver import ModbusDriver
from headend.drivers.modbus.errors import (
    ModbusAdapterError,
    ModbusConnectionError,
    ModbusExceptionResponseError,
    ModbusMalformedResponseError,
    ModbusPeerError,
    ModbusTimeoutError,
    ModbusUsageError,
)
from headend.drivers.modbus.targets import ModbusTarget, RtuOverTcpTarget, SerialTarget, TcpTarget

if TYPE_CHECKING:
    from headend.drivers.modbus.adapter import ModbusAdapter

__all__ = [
    "ModbusAdapter",
    "ModbusAdapterError",
    "ModbusConnectionError",
    "ModbusDriver",
    "ModbusExceptionResponseError",
    "ModbusMalformedResponseError",
    "ModbusPeerError",
    "ModbusTarget",
    "ModbusTimeoutError",
    "ModbusUsageError",
    "RtuOverTcpTarget",
    "SerialTarget",
    "TcpTarget",
]


def __getattr__(name: str) -> Any:
    if name == "ModbusAdapter":
        return importlib.import_module("headend.drivers.modbus.adapter").ModbusAdapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
