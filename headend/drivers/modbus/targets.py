"""Where a Modbus link goes: TCP, RTU on a serial port, or RTU through a transparent gateway.

Transparent DTU/serial servers pass RTU frames (with CRC) over TCP unchanged; they need RTU
framing on a TCP socket, which is neither plain Modbus TCP nor a serial port.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TcpTarget:
    """Modbus TCP (MBAP header) to a meter or a protocol-converting gateway."""

    host: str
    port: int = 502


@dataclass(frozen=True, slots=True)
class RtuOverTcpTarget:
    """RTU frames through a transparent TCP-to-RS-485 gateway."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class SerialTarget:
    """RTU on a local RS-485 port. Many meters default to 9600 8N1 or 8E1."""

    port: str
    baudrate: int = 9600
    parity: str = "N"
    bytesize: int = 8
    stopbits: int = 1


ModbusTarget = TcpTarget | RtuOverTcpTarget | SerialTarget
