"""A transparent TCP gateway (DTU / serial server) in front of one simulated bus.

Like a real DTU it serves one client at a time: a new connection replaces the old one (a
head-end that reconnects after a silent drop must not be locked out by its own half-open
socket). While a gateway_disconnect fault is active the gateway drops its client on the next
bytes it receives and refuses new connections, which the head-end sees as a lost connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType

from simulators.dlt645.bus import MeterBus
from simulators.dlt645.links import StreamLink
from simulators.errors import SimulatorError

log = logging.getLogger(__name__)


class FaultAwareLink(StreamLink):
    """Ends the session as soon as bytes arrive while the gateway is meant to be down."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, bus: MeterBus
    ) -> None:
        super().__init__(reader, writer)
        self._bus = bus

    async def read(self) -> bytes:
        data = await super().read()
        if data and self._bus.gateway_down():
            log.info("gateway for bus %s: dropping the client (fault)", self._bus.name)
            return b""
        return data


class TcpGateway:
    """Serve ``bus`` on ``host:port`` (port 0 picks a free one; read ``port`` after start)."""

    def __init__(self, bus: MeterBus, host: str = "127.0.0.1", port: int = 0) -> None:
        self.bus = bus
        self.host = host
        self._requested_port = port
        self._server: asyncio.Server | None = None
        self._client: StreamLink | None = None
        self._serving = asyncio.Lock()
        self.connections = 0
        """Clients accepted so far (refused ones not counted)."""

    @property
    def port(self) -> int:
        if self._server is None:
            raise SimulatorError(f"gateway for bus {self.bus.name}: not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._on_client, self.host, self._requested_port)

    async def drop_client(self) -> None:
        """Drop the current client, as a DTU losing its cellular link does."""
        if self._client is not None:
            await self._client.aclose()

    async def aclose(self) -> None:
        if self._server is None:
            return
        self._server.close()
        await self.drop_client()
        await self._server.wait_closed()
        self._server = None

    async def __aenter__(self) -> TcpGateway:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = FaultAwareLink(reader, writer, self.bus)
        if self.bus.gateway_down():
            await link.aclose()
            return
        await self.drop_client()
        self._client = link
        self.connections += 1
        try:
            async with self._serving:
                await self.bus.serve(link)
        finally:
            if self._client is link:
                self._client = None
            with contextlib.suppress(Exception):
                await link.aclose()
