"""In-memory byte links for tests and simulators, with fault injection on each direction.

A pair behaves like a stream socket: bytes keep their order, a write can be dropped, delayed,
corrupted, split, duplicated or end in a disconnect, all decided by a seeded
``FaultInjector`` so runs repeat exactly. Delays use the event loop's timers, so tests that
need them still synchronise on reads, never on sleeps.
"""

from __future__ import annotations

import asyncio
from collections import deque

from transports.errors import OpenFailed, TransportNotOpen
from transports.faults import FaultInjector
from transports.inbound import InboundBuffer


class MemoryLink:
    """The wire between the two ends of a pair: up, or cut."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.up = True
        self.ends: list[MemoryTransport] = []

    def cut(self, reason: str) -> None:
        """Take the link down; both ends read what they had, then get ``ConnectionLost``."""
        if not self.up:
            return
        self.up = False
        for end in self.ends:
            end._link_down(reason)

    def restore(self) -> None:
        """Bring the link back with empty buffers (the gateway accepted a new connection)."""
        self.up = True
        for end in self.ends:
            end._link_up()


class MemoryTransport:
    """One end of an in-memory link. ``faults`` shapes what this end sends."""

    def __init__(self, link: MemoryLink, side: str, faults: FaultInjector) -> None:
        self.link = link
        self.side = side
        self.faults = faults
        self.peer: MemoryTransport | None = None
        self._inbound = InboundBuffer(self.describe())
        self._open = True
        self._outbox: deque[tuple[float, bytes | None]] = deque()
        self._timer: asyncio.TimerHandle | None = None
        self._last_delivery_at = 0.0

    def describe(self) -> str:
        return f"memory {self.link.name}/{self.side}"

    @property
    def is_open(self) -> bool:
        return self._open and self.link.up

    @property
    def in_flight(self) -> int:
        """Deliveries queued on this direction (delayed or split bytes not yet arrived)."""
        return len(self._outbox)

    async def open(self) -> None:
        """Reopen after ``aclose`` or a disconnect; a cut link is restored for both ends."""
        if self.is_open:
            return
        if self.peer is None:
            raise OpenFailed(f"{self.describe()}: not part of a pair")
        if not self.link.up:
            self.link.restore()
        self._inbound.reset()
        self._open = True

    async def write(self, data: bytes) -> None:
        if not self._open:
            raise TransportNotOpen(f"{self.describe()}: write on a closed transport")
        lost = self._inbound.lost_error()
        if lost is not None:
            raise lost
        plan = self.faults.plan(bytes(data))
        now = asyncio.get_running_loop().time()
        at = max(now, self._last_delivery_at)
        for chunk in plan.chunks:
            at += chunk.gap
            self._outbox.append((at, chunk.data))
        if plan.disconnect:
            self._outbox.append((at, None))
        self._last_delivery_at = at
        self._pump()

    async def read(self, max_bytes: int) -> bytes:
        if not self._open:
            raise TransportNotOpen(f"{self.describe()}: read on a closed transport")
        return await self._inbound.read(max_bytes)

    def discard_input(self) -> int:
        return self._inbound.discard()

    async def aclose(self) -> None:
        if not self._open:
            return
        self._open = False
        self._inbound.mark_closed()
        self._clear_outbox()
        self.link.cut(f"{self.describe()} closed the link")

    def _pump(self) -> None:
        """Deliver everything that is due, then arm one timer for the next due delivery.

        One timer per direction (rather than one per chunk) keeps delivery strictly FIFO even
        when several chunks fall due at the same loop time.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        loop = asyncio.get_running_loop()
        now = loop.time()
        while self._outbox and self._outbox[0][0] <= now:
            _, data = self._outbox.popleft()
            if data is None:
                self.link.cut("link disconnected (injected fault)")
                return
            if self.peer is not None and self.link.up:
                self.peer._inbound.feed(data)
        if self._outbox:
            self._timer = loop.call_at(self._outbox[0][0], self._pump)

    def _clear_outbox(self) -> None:
        self._outbox.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._last_delivery_at = 0.0

    def _link_down(self, reason: str) -> None:
        self._clear_outbox()
        self._inbound.mark_lost(reason)

    def _link_up(self) -> None:
        self._clear_outbox()
        if self._open:
            self._inbound.reset()


def memory_pair(name: str = "memory", *, seed: int = 0) -> tuple[MemoryTransport, MemoryTransport]:
    """Two connected, already open ends ``a`` and ``b``; each one's ``faults`` shapes its sends.

    The two directions draw from differently seeded generators so their faults do not mirror
    each other, and the whole pair repeats for a given ``seed``.
    """
    link = MemoryLink(name)
    a = MemoryTransport(link, "a", FaultInjector(seed=f"{seed}:{name}:a"))
    b = MemoryTransport(link, "b", FaultInjector(seed=f"{seed}:{name}:b"))
    a.peer, b.peer = b, a
    link.ends.extend((a, b))
    return a, b


class MemoryNetwork:
    """Names for memory links so that ``memory://name`` URLs resolve, like ports on a host.

    A simulator calls ``listen(name)`` and keeps the device end; the head-end, configured with
    ``memory://name``, gets the other end through ``connect(name)``.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, MemoryTransport] = {}

    def listen(self, name: str, *, seed: int = 0) -> MemoryTransport:
        """Create a link named ``name``; returns the device end (``b``)."""
        if name in self._waiting:
            raise ValueError(f"memory network: link {name!r} is already listening")
        headend_end, device_end = memory_pair(name, seed=seed)
        self._waiting[name] = headend_end
        return device_end

    def connect(self, name: str) -> MemoryTransport:
        """Take the head-end end (``a``) of a listening link; each link connects once."""
        try:
            return self._waiting.pop(name)
        except KeyError:
            raise OpenFailed(f"memory {name}: no link listening under that name") from None
