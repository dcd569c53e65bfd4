"""The byte transport contract shared by serial ports, TCP gateways and in-memory links.

Bus workers talk to meters through this protocol only, so the same worker drives an RS-485
adapter, a transparent DTU gateway or a test link with injected faults.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol, TypeVar, runtime_checkable


@runtime_checkable
class ByteTransport(Protocol):
    """Moves bytes, nothing else: no framing, no timeouts, no retries.

    Timeouts are the caller's (``asyncio.timeout`` around ``read``), because only the protocol
    layer knows how long a meter may take to answer.
    """

    @property
    def is_open(self) -> bool:
        """True between a successful ``open`` and ``aclose`` or a lost connection."""
        ...

    def describe(self) -> str:
        """A short human name for log lines and error messages, e.g. ``tcp 10.0.0.5:8899``."""
        ...

    async def open(self) -> None:
        """Open the port or connect; raises ``OpenFailed``. Opening an open transport is a no-op."""
        ...

    async def write(self, data: bytes) -> None:
        """Send bytes; returns once they are handed to the OS (not once they are on the wire)."""
        ...

    async def read(self, max_bytes: int) -> bytes:
        """Wait for at least one byte and return up to ``max_bytes`` of what has arrived.

        Raises ``ConnectionLost`` once the peer has gone and no buffered bytes are left.
        """
        ...

    def discard_input(self) -> int:
        """Drop bytes received so far (echoes, late replies); returns how many were dropped."""
        ...

    async def aclose(self) -> None:
        """Close and release the port; safe to call twice or after a lost connection."""
        ...


TransportT = TypeVar("TransportT", bound=ByteTransport)


@asynccontextmanager
async def opened(transport: TransportT) -> AsyncIterator[TransportT]:
    """Open ``transport`` for the duration of a block and always close it afterwards."""
    await transport.open()
    try:
        yield transport
    finally:
        await transport.aclose()
