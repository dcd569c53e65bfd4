"""A remote database's line endpoint, in memory: it can be down, refuse with any error, reject
lines containing a marker, and records what it was sent (the outbox's target in tests)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from storage.errors import BadLineError, SinkUnavailable
from storage.schema import Record


class FakeTarget:
    """A LineSink that can be down, reject lines containing a marker, and records what it got."""

    def __init__(self) -> None:
        self.up = True
        self.refusal: Exception | None = None
        self.requests: list[int] = []
        self.reject_marker: str | None = None
        self.lines: list[str] = []
        self.calls = 0
        self.closed = False
        self.third_call = asyncio.Event()

    async def write_lines(self, chunks: Sequence[bytes]) -> None:
        self.calls += 1
        if self.calls >= 3:
            self.third_call.set()
        if not self.up:
            raise SinkUnavailable("fake target down", status=503)
        if self.refusal is not None:
            raise self.refusal
        received = [line for chunk in chunks for line in chunk.decode().split("\n")]
        self.requests.append(len(received))
        if self.reject_marker and any(self.reject_marker in line for line in received):
            raise BadLineError("fake target: bad line", status=400)
        self.lines.extend(received)

    async def write(self, batch: Sequence[Record]) -> None:
        raise AssertionError("the outbox must forward lines, not records")

    async def aclose(self) -> None:
        self.closed = True
