"""The bus as a protocol session sees it: bytes out and in, with the inter-frame gap kept and
every frame remembered.

The gap is enforced here, not in each protocol, because it is a property of the line: after
the last byte moved in either direction, slow meters need silence before the next frame.
The ring buffer of recent traffic is what a field engineer asks for first when a bus misbehaves.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from storage.records import utc_now
from transports.base import ByteTransport

DEFAULT_INTER_FRAME_GAP = 0.05
"""Seconds of silence between frames unless a channel says otherwise (``headend read`` too)."""


class Direction(enum.StrEnum):
    TX = "tx"
    RX = "rx"


@dataclass(frozen=True, slots=True)
class TrafficRecord:
    at: datetime
    direction: Direction
    data: bytes

    def __str__(self) -> str:
        return f"{self.at.isoformat()} {self.direction} {self.data.hex(' ')}"


class BusLink:
    """One open transport with the line discipline of a half-duplex bus."""

    def __init__(
        self, transport: ByteTransport, *, gap: float, history: int = 256, read_size: int = 512
    ) -> None:
        self.transport = transport
        self.gap = gap
        self.traffic: deque[TrafficRecord] = deque(maxlen=history)
        self._read_size = read_size
        self._last_activity = 0.0

    @property
    def is_open(self) -> bool:
        return self.transport.is_open

    def describe(self) -> str:
        return self.transport.describe()

    async def open(self) -> None:
        await self.transport.open()

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def send(self, data: bytes) -> None:
        """Wait out the inter-frame gap, drop stale input (echoes, late replies), then send."""
        loop = asyncio.get_running_loop()
        wait = self._last_activity + self.gap - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self.transport.discard_input()
        await self.transport.write(data)
        self._last_activity = loop.time()
        self.traffic.append(TrafficRecord(utc_now(), Direction.TX, data))

    async def receive(self) -> bytes:
        """Bytes as they arrive; the caller bounds the wait with ``asyncio.timeout``."""
        data = await self.transport.read(self._read_size)
        self._last_activity = asyncio.get_running_loop().time()
        self.traffic.append(TrafficRecord(utc_now(), Direction.RX, data))
        return data
