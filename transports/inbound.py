"""The receive side every transport shares: a byte buffer, a wake-up, and the loss state.

Keeping it in one place gives serial, TCP and memory links identical ``read`` semantics:
wait for at least one byte, hand out what is there, and report a lost connection only after
the bytes that arrived before it have been read.
"""

from __future__ import annotations

import asyncio

from transports.errors import ConnectionLost, TransportNotOpen


class InboundBuffer:
    """Bytes received and not yet read, plus why no more will come (if so)."""

    def __init__(self, describe: str) -> None:
        self._describe = describe
        self._data = bytearray()
        self._arrived = asyncio.Event()
        self._lost_reason: str | None = None
        self._lost_cause: BaseException | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._data)

    @property
    def is_lost(self) -> bool:
        return self._lost_reason is not None

    def lost_error(self) -> ConnectionLost | None:
        """A fresh error saying why the connection went away, or None while it is up.

        Fresh each time so that repeated raises do not pile tracebacks onto one instance.
        """
        if self._lost_reason is None:
            return None
        error = ConnectionLost(f"{self._describe}: {self._lost_reason}")
        error.__cause__ = self._lost_cause
        return error

    def feed(self, data: bytes) -> None:
        """Called by the receiving side when bytes arrive."""
        if data and self._lost_reason is None and not self._closed:
            self._data += data
            self._arrived.set()

    def mark_lost(self, reason: str, cause: BaseException | None = None) -> None:
        """The peer went away; readers get the remaining bytes and then ``ConnectionLost``."""
        if self._lost_reason is None:
            self._lost_reason = reason
            self._lost_cause = cause
        self._arrived.set()

    def mark_closed(self) -> None:
        """We closed the transport: pending and later reads fail with ``TransportNotOpen``."""
        self._closed = True
        self._data.clear()
        self._arrived.set()

    def reset(self) -> None:
        """Forget everything before a (re)open."""
        self._data.clear()
        self._lost_reason = None
        self._lost_cause = None
        self._closed = False
        self._arrived.clear()

    def discard(self) -> int:
        """Drop all buffered bytes; returns how many."""
        dropped = len(self._data)
        self._data.clear()
        self._arrived.clear()
        return dropped

    async def read(self, max_bytes: int) -> bytes:
        """Wait for at least one byte; return up to ``max_bytes``."""
        if max_bytes < 1:
            raise ValueError(f"{self._describe}: read max_bytes must be >= 1, got {max_bytes}")
        while not self._data:
            if self._closed:
                raise TransportNotOpen(f"{self._describe}: read on a closed transport")
            lost = self.lost_error()
            if lost is not None:
                raise lost
            self._arrived.clear()
            await self._arrived.wait()
        chunk = bytes(self._data[:max_bytes])
        del self._data[:max_bytes]
        if not self._data:
            self._arrived.clear()
        return chunk
