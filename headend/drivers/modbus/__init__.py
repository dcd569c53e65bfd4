"""The head-end's Modbus link: one pymodbus adapter behind typed errors."""

from __future__ import annotations

from headend.drivers.modbus.adapter import ModbusAdapter
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

__all__ = [
    "ModbusAdapter",
    "ModbusAdapterError",
    "ModbusConnectionError",
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
