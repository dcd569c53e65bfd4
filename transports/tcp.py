"""TCP to a transparent gateway (serial server, cellular DTU) in front of an RS-485 bus.

Reconnecting is the bus worker's policy; this module only connects once per ``open`` and
turns every way a gateway can disappear into ``ConnectionLost``.
"""

from __future__ import annotations

import asyncio
import socket

from transports.errors import OpenFailed
from transports.settings import TcpSettings
from transports.stream import StreamProtocol, StreamTransport


class TcpTransport(StreamTransport):
    """One TCP connection to ``settings.host:settings.port``."""

    def __init__(self, settings: TcpSettings) -> None:
        self.settings = settings
        super().__init__()

    def describe(self) -> str:
        return self.settings.describe()

    async def _connect(self, protocol: StreamProtocol) -> asyncio.Transport:
        loop = asyncio.get_running_loop()
        timeout = self.settings.connect_timeout
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_connection(
                    lambda: protocol, self.settings.host, self.settings.port
                )
        except TimeoutError as exc:
            raise OpenFailed(f"{self.describe()}: connect timed out after {timeout:g} s") from exc
        except OSError as exc:
            raise OpenFailed(f"{self.describe()}: connect failed ({exc})") from exc
        sock = transport.get_extra_info("socket")
        if sock is not None:
            configure_socket(sock, self.settings)
        return transport


def configure_socket(sock: socket.socket, settings: TcpSettings) -> None:
    """No Nagle delay (requests are small and latency-bound) and keepalive probes.

    Keepalive matters because a DTU that loses its cellular link sends no FIN: without probes a
    read would wait for a reply that can never come until the caller's timeout, every time.
    """
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (
        ("TCP_KEEPIDLE", settings.keepalive_idle),
        ("TCP_KEEPINTVL", settings.keepalive_interval),
        ("TCP_KEEPCNT", settings.keepalive_count),
    ):
        if hasattr(socket, option):  # Linux has all three; other systems keep OS defaults.
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
