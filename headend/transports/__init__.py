"""Byte transports: serial ports, TCP gateways and in-memory links that move bytes only.

Framing, timeouts and retries belong to the protocol layer and the bus worker; everything
here is the same ``ByteTransport`` contract over different wires.
"""

from __future__ import annotations

from headend.transports.base import ByteTransport, opened
from headend.transports.errors import (
    ConnectionLost,
    InvalidTransportUrl,
    OpenFailed,
    TransportError,
    TransportNotOpen,
    TransportUsageError,
)
from headend.transports.factory import create_transport
from headend.transports.faults import (
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
from headend.transports.memory import MemoryNetwork, MemoryTransport, memory_pair
from headend.transports.serial_port import SerialTransport
from headend.transports.settings import (
    Framing,
    MemorySettings,
    Parity,
    SerialSettings,
    TcpSettings,
    TransportSettings,
)
from headend.transports.tcp import TcpTransport
from headend.transports.urls import SERIAL_DEFAULTS, parse_transport_url
from headend.transports.wire_time import wire_time

__all__ = [
    "SERIAL_DEFAULTS",
    "ByteTransport",
    "ConnectionLost",
    "Delay",
    "DeliveryPlan",
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
    "SerialTransport",
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
