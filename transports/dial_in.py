"""The bus end of a DTU that dials in: a ``ByteTransport`` whose connection the listener attaches.

The head-end cannot open such a bus, only wait for the DTU to call, so ``open`` succeeds only
while a registered connection is attached and otherwise fails at once (``OpenFailed``): the bus
worker then fails its jobs fast with a reason, as for a gateway that is down. Bytes go through
the DTU's ``PacketFilter`` before anyone reads them, so registration and heartbeat packets never
reach the bus protocol's decoder.
"""

from __future__ import annotations

import asyncio
import logging

from transports.errors import ConnectionLost, OpenFailed, TransportNotOpen
from transports.inbound import InboundBuffer
from transports.packet_filter import PacketFilter
from transports.stream import StreamProtocol

log = logging.getLogger(__name__)


class FilteredProtocol(StreamProtocol):
    """A stream protocol that hands on bus bytes only; ``seen`` is the loop time of the last
    bytes of any kind (a heartbeat keeps the DTU alive)."""

    def __init__(self, inbound: InboundBuffer, packets: PacketFilter) -> None:
        super().__init__(inbound)
        self.packets = packets
        self.seen = asyncio.get_running_loop().time()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.seen = asyncio.get_running_loop().time()
        bus_bytes = self.packets.feed(data)
        if bus_bytes:
            self.inbound.feed(bus_bytes)


class DialInTransport:
    """One dial-in DTU's bus, named by its registration packet."""

    def __init__(self, name: str, registration: bytes, heartbeat: bytes | None) -> None:
        self.name = name
        self.registration = registration
        self.heartbeat = heartbeat
        self.filter = PacketFilter([registration] + ([heartbeat] if heartbeat else []))
        """One filter for the DTU's life, so its counts survive redials."""
        self._protocol: FilteredProtocol | None = None
        self.attached = asyncio.Event()

    def describe(self) -> str:
        return f"dial-in {self.name}"

    @property
    def is_open(self) -> bool:
        return self._protocol is not None and not self._protocol.inbound.is_lost

    @property
    def registrations(self) -> int:
        """Registration packets seen after the first (DTUs may repeat it with data)."""
        return self.filter.counts.of(self.registration)

    @property
    def heartbeats(self) -> int:
        return 0 if self.heartbeat is None else self.filter.counts.of(self.heartbeat)

    def new_protocol(self) -> FilteredProtocol:
        return FilteredProtocol(InboundBuffer(self.describe()), self.filter)

    def attach(self, protocol: FilteredProtocol, rest: bytes) -> bool:
        """Make ``protocol`` (registered, ``rest`` read after its registration) the bus's
        connection; True if it replaced a live one, which is closed."""
        old, self._protocol = self._protocol, protocol
        self.filter.reset()  # nothing held from the old connection belongs to the new one
        if rest:
            protocol.data_received(rest)
        self.attached.set()
        replaced = old is not None and not old.inbound.is_lost
        if old is not None:
            old.inbound.mark_lost("replaced by a new connection of the same DTU")
            if old.transport is not None:
                old.transport.close()
        return replaced

    def detach(self, protocol: FilteredProtocol) -> None:
        """The listener closed ``protocol`` (idle, shutdown); a newer connection stays."""
        if self._protocol is protocol:
            self._protocol = None
            self.attached.clear()

    async def open(self) -> None:
        if not self.is_open:
            raise OpenFailed(
                f"{self.describe()}: the DTU is not connected (waiting for it to dial in and "
                f"register as {self.registration!r})"
            )

    async def write(self, data: bytes) -> None:
        protocol = self._require_open("write")
        lost = protocol.inbound.lost_error()
        if lost is not None:
            raise lost
        transport = protocol.transport
        if transport is None or transport.is_closing():
            raise ConnectionLost(f"{self.describe()}: connection is closing")
        transport.write(data)
        if not protocol.writable:
            await protocol.drain()

    async def read(self, max_bytes: int) -> bytes:
        return await self._require_open("read").inbound.read(max_bytes)

    def discard_input(self) -> int:
        protocol = self._protocol
        return 0 if protocol is None else protocol.inbound.discard()

    async def aclose(self) -> None:
        """Hang up on the DTU (the worker gave up on the connection); it dials in again."""
        protocol, self._protocol = self._protocol, None
        self.attached.clear()
        if protocol is None:
            return
        protocol.inbound.mark_lost("closed by the head-end")
        if protocol.transport is not None:
            protocol.transport.close()

    def _require_open(self, operation: str) -> FilteredProtocol:
        if self._protocol is None:
            raise TransportNotOpen(f"{self.describe()}: {operation} while the DTU is not connected")
        return self._protocol
