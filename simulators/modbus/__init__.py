"""Simulated Modbus meters served by a pymodbus server, encoded through our register maps."""

from __future__ import annotations

from simulators.modbus.devices import SimulatedMeter, ValueSource
from simulators.modbus.pty_port import ModbusPtyPort
from simulators.modbus.server import ModbusMeterSimulator, ModbusSimulatorError, SimulatorFraming

__all__ = [
    "ModbusMeterSimulator",
    "ModbusPtyPort",
    "ModbusSimulatorError",
    "SimulatedMeter",
    "SimulatorFraming",
    "ValueSource",
]
