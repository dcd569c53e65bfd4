"""Priority lanes in front of a half-duplex bus.

An RS-485 bus carries one request at a time, so who goes next matters: an operator waiting on a
relay command or an on-demand read must not queue behind a thousand telemetry polls, but
telemetry must still progress when billing backfill is heavy. Lanes are served by weighted
round robin: each turn, a lane may take up to ``weight`` jobs before the next lane's turn.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Mapping
from typing import Generic, TypeVar

from headend.errors import BusClosed

T = TypeVar("T")


class Lane(enum.IntEnum):
    """Lower value = more urgent."""

    CONTROL = 0
    """Operator on-demand reads, relay control, time sync on demand."""
    BILLING = 1
    """Energy registers, daily frozen values, backfill."""
    TELEMETRY = 2
    """Instantaneous values for live monitoring and anomaly detection."""


DEFAULT_WEIGHTS: Mapping[Lane, int] = {Lane.CONTROL: 16, Lane.BILLING: 4, Lane.TELEMETRY: 1}


class LaneQueue(Generic[T]):
    """A queue with one FIFO per lane, drained by weighted round robin.

    Weights 16:4:1 mean: with all lanes busy, telemetry still gets one slot in 21, so it
    never starves; with control empty, its share goes to the others at once.
    """

    def __init__(self, weights: Mapping[Lane, int] = DEFAULT_WEIGHTS) -> None:
        for lane in Lane:
            if weights.get(lane, 0) < 1:
                raise ValueError(f"lane {lane.name}: weight must be >= 1")
        self._weights = dict(weights)
        self._queues: dict[Lane, deque[T]] = {lane: deque() for lane in Lane}
        self._order: tuple[tuple[Lane, deque[T]], ...] = tuple(self._queues.items())
        """The lanes most urgent first, with their FIFOs (iterating the enum per job was a
        visible share of a fast bus's CPU)."""
        self._size = 0
        self._credit: dict[Lane, int] = dict(self._weights)
        self._not_empty = asyncio.Event()
        self._closed = False

    def __len__(self) -> int:
        return self._size

    @property
    def closed(self) -> bool:
        return self._closed

    def depth(self, lane: Lane) -> int:
        return len(self._queues[lane])

    def put(self, lane: Lane, item: T) -> None:
        if self._closed:
            raise RuntimeError("lane queue is closed")
        self._queues[lane].append(item)
        self._size += 1
        self._not_empty.set()

    def close(self) -> None:
        """No more puts; ``get`` drains what is queued, then raises ``QueueClosed``."""
        self._closed = True
        self._not_empty.set()

    def drain(self) -> list[T]:
        """Remove and return everything queued (for shutdown: each job gets cancelled)."""
        items = [item for _, queue in self._order for item in queue]
        for queue in self._queues.values():
            queue.clear()
        self._size = 0
        return items

    def get_nowait(self) -> tuple[Lane, T] | None:
        """The next job by weighted round robin, or None when every lane is empty."""
        if not self._size:
            return None
        credit = self._credit
        first: tuple[Lane, deque[T]] | None = None
        for lane, queue in self._order:
            if queue:
                if credit[lane] > 0:
                    break
                if first is None:
                    first = (lane, queue)
        else:
            # Every busy lane spent its turn: a new round starts.
            assert first is not None
            self._credit = credit = dict(self._weights)
            lane, queue = first
        credit[lane] -= 1
        self._size -= 1
        return lane, queue.popleft()

    async def get(self) -> tuple[Lane, T]:
        while True:
            item = self.get_nowait()
            if item is not None:
                return item
            if self._closed:
                raise QueueClosed
            self._not_empty.clear()
            await self._not_empty.wait()


class QueueClosed(BusClosed):
    """The queue was closed and is empty: the worker should stop."""
