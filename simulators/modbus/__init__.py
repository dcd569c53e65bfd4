"""Simulated Modbus meters served by a pymodbus server, encoded through our register maps."""

from __future__ import annotations

from simulators.modbus.devices import SimulatedMeter, ValueSource
from simulators.modbus.server import ModbusMeterSimulator, ModbusSimulatorError, SimulatorFraming

__all__ = [
    "ModbusMeterSimulator",
    "ModbusSimulatorError",
    "SimulatedMeter",
    "SimulatorFraming",
    "ValueSource",
]
