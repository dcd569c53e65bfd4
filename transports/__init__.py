"""Byte transports: serial ports, TCP gateways and in-memory links that move bytes only.

Framing, timeouts and retries belong to the protocol layer and the bus worker; everything
here is the same ``ByteTransport`` contract over different wires.

``SerialTransport`` is imported from ``transports.serial_port``, not from here: pyserial loads
only where a serial port is opened, so the simulators and TCP-only tools never import it.
"""

from __future__ import annotations

from transports.base import ByteTransport, opened
from transports.errors import (
    ConnectionLost,
    InvalidTransportUrl,
    OpenFailed,
    TransportError,
    TransportNotOpen,
    TransportUsageError,
)
from transports.factory import create_transport
from transports.faults import (
    Delay,
    DeliveryPlan,
    Disconnect,
    Drop,
    Duplicate,
    Fault,
    FaultInjector,
    FlipBits,
    ReplaceBytes,
    Split,
    Truncate,
)
from transports.memory import MemoryNetwork, MemoryTransport, memory_pair
from transports.settings import (
    DialInSettings,
    Framing,
    MemorySettings,
    Parity,
    SerialSettings,
    TcpSettings,
    TransportSettings,
)
from transports.tcp import TcpTransport
from transports.urls import SERIAL_DEFAULTS, parse_transport_url
from transports.wire_time import wire_time

__all__ = [
    "SERIAL_DEFAULTS",
    "ByteTransport",
    "ConnectionLost",
    "Delay",
    "DeliveryPlan",
    "DialInSettings",
    "Disconnect",
    "Drop",
    "Duplicate",
    "Fault",
    "FaultInjector",
    "FlipBits",
    "Framing",
    "InvalidTransportUrl",
    "MemoryNetwork",
    "MemorySettings",
    "MemoryTransport",
    "OpenFailed",
    "Parity",
    "ReplaceBytes",
    "SerialSettings",
    "Split",
    "TcpSettings",
    "TcpTransport",
    "TransportError",
    "TransportNotOpen",
    "TransportSettings",
    "TransportUsageError",
    "Truncate",
    "create_transport",
    "memory_pair",
    "opened",
    "parse_transport_url",
    "wire_time",
]
