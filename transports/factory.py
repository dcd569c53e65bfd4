"""Settings or URL -> an unopened transport, so bus workers never switch on the kind."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transports.base import ByteTransport
from transports.errors import OpenFailed
from transports.memory import MemoryNetwork
from transports.settings import (
    DialInSettings,
    MemorySettings,
    SerialSettings,
    TcpSettings,
    TransportSettings,
)
from transports.tcp import TcpTransport
from transports.urls import parse_transport_url

if TYPE_CHECKING:
    from transports.dial_in_listener import DialInListener


def create_transport(
    target: str | TransportSettings,
    *,
    protocol: str | None = None,
    memory: MemoryNetwork | None = None,
    dial_in: DialInListener | None = None,
) -> ByteTransport:
    """Build the transport for a URL or settings; call ``open()`` (or use ``opened``) next.

    ``protocol`` picks serial defaults for URLs (see ``parse_transport_url``). ``memory`` is
    the network that ``memory://`` names resolve in; memory ends come back already open.
    ``dial_in`` is the listener ``dialin://`` DTUs register with: their transport opens only
    while the DTU is connected.
    """
    settings = parse_transport_url(target, protocol=protocol) if isinstance(target, str) else target
    if isinstance(settings, SerialSettings):
        # pyserial loads only for a serial URL (see the package docstring).
        from transports.serial_port import SerialTransport

        return SerialTransport(settings)
    if isinstance(settings, TcpSettings):
        return TcpTransport(settings)
    if isinstance(settings, MemorySettings):
        if memory is None:
            raise OpenFailed(f"{settings.describe()}: no MemoryNetwork given to resolve the name")
        return memory.connect(settings.name)
    if isinstance(settings, DialInSettings):
        if dial_in is None:
            raise OpenFailed(f"{settings.describe()}: no dial-in listener configured")
        return dial_in.transport_for(settings)
    raise TypeError(f"create_transport: unsupported settings {settings!r}")
