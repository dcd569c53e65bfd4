"""Common machinery for transports built on an asyncio ``Protocol`` (TCP and serial).

Both get bytes through ``data_received`` callbacks and send through an asyncio transport with
write flow control, so they differ only in how the connection is made and described.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

from transports.errors import ConnectionLost, TransportNotOpen
from transports.inbound import InboundBuffer

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 2.0
"""How long ``aclose`` waits for a graceful close before aborting (a stuck peer must not
block a bus worker's shutdown)."""


class StreamProtocol(asyncio.Protocol):
    """Feeds received bytes into an ``InboundBuffer`` and tracks write pause and loss."""

    def __init__(self, inbound: InboundBuffer) -> None:
        self.inbound = inbound
        self.closed = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()

    def data_received(self, data: bytes) -> None:
        self.inbound.feed(data)

    def eof_received(self) -> bool:
        # Returning False lets the transport close itself, which ends in connection_lost.
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        reason = "peer closed the connection" if exc is None else f"connection lost ({exc})"
        self.inbound.mark_lost(reason, exc)
        self._writable.set()
        self.closed.set()

    @property
    def writable(self) -> bool:
        """The OS takes more data now: ``drain`` would return at once."""
        return self._writable.is_set() and not self.inbound.is_lost

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    async def drain(self) -> None:
        """Wait until the OS accepts more data; raises if the connection is gone meanwhile."""
        await self._writable.wait()
        lost = self.inbound.lost_error()
        if lost is not None:
            raise lost


class StreamTransport(ABC):
    """A ``ByteTransport`` over an asyncio transport; subclasses only know how to connect."""

    def __init__(self) -> None:
        self._inbound = InboundBuffer(self.describe())
        self._transport: asyncio.Transport | None = None
        self._protocol: StreamProtocol | None = None

    @abstractmethod
    def describe(self) -> str: ...

    @abstractmethod
    async def _connect(self, protocol: StreamProtocol) -> asyncio.Transport:
        """Open the port or connection with ``protocol`` attached; raise ``OpenFailed``."""

    @property
    def is_open(self) -> bool:
        return self._transport is not None and not self._inbound.is_lost

    async def open(self) -> None:
        if self.is_open:
            return
        if self._transport is not None:
            await self.aclose()
        self._inbound.reset()
        protocol = StreamProtocol(self._inbound)
        self._transport = await self._connect(protocol)
        self._protocol = protocol
        log.debug("%s: opened", self.describe())

    async def write(self, data: bytes) -> None:
        transport, protocol = self._require_open("write")
        lost = protocol.inbound.lost_error()
        if lost is not None:
            raise lost
        if transport.is_closing():
            raise ConnectionLost(f"{self.describe()}: connection is closing")
        transport.write(data)
        if not protocol.writable:  # the usual case needs no wait (and no coroutine for it)
            await protocol.drain()

    async def read(self, max_bytes: int) -> bytes:
        self._require_open("read")
        return await self._inbound.read(max_bytes)

    def discard_input(self) -> int:
        return self._inbound.discard()

    async def aclose(self) -> None:
        transport, protocol = self._transport, self._protocol
        self._transport = None
        self._protocol = None
        self._inbound.mark_closed()
        if transport is None or protocol is None:
            return
        transport.close()
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await protocol.closed.wait()
        except TimeoutError:
            log.warning("%s: close timed out; aborting", self.describe())
            transport.abort()
            await protocol.closed.wait()
        log.debug("%s: closed", self.describe())

    def _require_open(self, operation: str) -> tuple[asyncio.Transport, StreamProtocol]:
        if self._transport is None or self._protocol is None:
            raise TransportNotOpen(f"{self.describe()}: {operation} before open")
        return self._transport, self._protocol
