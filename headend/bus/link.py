"""The bus as a protocol session sees it: bytes out and in, with the inter-frame gap kept, the
reply deadline watched and every frame remembered.

The gap is enforced here, not in each protocol, because it is a property of the line: after
the last byte moved in either direction, slow meters need silence before the next frame.
The deadline is here too: one bus has one exchange at a time, so one timer per link can watch
every exchange's deadline (``receive_before``), where ``asyncio.timeout`` around each exchange
armed and cancelled a timer and built a timeout object per read.
The ring buffer of recent traffic is what a field engineer asks for first when a bus misbehaves.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

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


_Raw = tuple[float, Direction, bytes]
"""A frame as remembered on the hot path: UNIX time, direction, bytes (a ``TrafficRecord``
with its datetime is built only when someone looks)."""


class BusLink:
    """One open transport with the line discipline of a half-duplex bus."""

    def __init__(
        self, transport: ByteTransport, *, gap: float, history: int = 256, read_size: int = 512
    ) -> None:
        self.transport = transport
        self.gap = gap
        self._traffic: deque[_Raw] = deque(maxlen=history)
        self._read_size = read_size
        self._last_activity = 0.0
        self._deadline = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        self._waiter: asyncio.Task[Any] | None = None
        self._expired = False

    @property
    def traffic(self) -> tuple[TrafficRecord, ...]:
        """The recent frames, oldest first: a snapshot built when asked (a tuple, so that
        clearing it cannot look as if it cleared the link's own record; see forget_traffic)."""
        return tuple(
            TrafficRecord(datetime.fromtimestamp(t, UTC), d, b) for t, d, b in self._traffic
        )

    def forget_traffic(self) -> None:
        """Start the record of recent frames afresh (a bench or a CLI timing one exchange)."""
        self._traffic.clear()

    @property
    def is_open(self) -> bool:
        return self.transport.is_open

    def describe(self) -> str:
        return self.transport.describe()

    async def open(self) -> None:
        await self.transport.open()

    async def aclose(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
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
        self._traffic.append((time.time(), Direction.TX, data))

    async def receive(self) -> bytes:
        """Bytes as they arrive, however long that takes (``receive_before`` bounds it)."""
        data = await self.transport.read(self._read_size)
        self._last_activity = asyncio.get_running_loop().time()
        self._traffic.append((time.time(), Direction.RX, data))
        return data

    async def receive_before(self, deadline: float) -> bytes:
        """Bytes as they arrive; ``TimeoutError`` once the loop's time reaches ``deadline``.

        The link's one timer stays armed across exchanges at the earliest deadline it was
        given; when it fires it re-arms for the exchange then waiting (a fast bus re-arms it
        once per reply timeout, not once per read) or, if that one's deadline passed, cancels
        the waiting task, as ``asyncio.timeout`` does, and the cancellation becomes the
        ``TimeoutError`` here."""
        self._deadline = deadline
        watchdog = self._watchdog
        if watchdog is None or watchdog.when() > deadline:
            if watchdog is not None:
                watchdog.cancel()
            self._watchdog = asyncio.get_running_loop().call_at(deadline, self._watch)
        task = asyncio.current_task()
        self._waiter = task
        try:
            data = await self.transport.read(self._read_size)
        except asyncio.CancelledError:
            if self._expired:
                self._expired = False
                assert task is not None
                if task.uncancel() == 0:  # cancelled by the deadline alone
                    raise TimeoutError from None
            raise
        finally:
            self._waiter = None
        self._last_activity = asyncio.get_running_loop().time()
        self._traffic.append((time.time(), Direction.RX, data))
        return data

    def _watch(self) -> None:
        self._watchdog = None
        waiter = self._waiter
        if waiter is None or self._expired:
            return  # no exchange waiting: the next one arms the timer again
        loop = asyncio.get_running_loop()
        if loop.time() >= self._deadline:
            self._expired = True
            waiter.cancel()
        else:
            self._watchdog = loop.call_at(self._deadline, self._watch)
