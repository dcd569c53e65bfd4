"""Overlap encoding the next request body with the request in flight.

Encoding line protocol is CPU work in this process while the server's ingest is CPU work in
another; doing them one after the other wastes half the time. Encoding runs in slices with a
yield to the event loop between them, because a large body does not fit in the socket buffer:
the loop must keep feeding the socket while we encode, or the server sits waiting for the rest.
One request in flight at a time keeps the order in which bodies reach the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from typing import Final

from storage.line_protocol import LineEncoder
from storage.schema import Record

ENCODE_SLICE: Final = 500
"""Records encoded between two event-loop turns (about half a millisecond of work)."""


class BatchedWriter:
    """What every line-protocol sink does before its HTTP call: batch, gzip, pipeline.

    ``send`` posts one request body (with the sink's retries); ``owner`` names the sink in
    errors about its settings.
    """

    def __init__(
        self,
        owner: str,
        send: Callable[[bytes], Awaitable[None]],
        *,
        batch_size: int,
        gzip_level: int | None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"{owner} batch_size must be >= 1, got {batch_size}")
        if gzip_level is not None and not 0 <= gzip_level <= 9:
            raise ValueError(f"{owner} gzip_level must be 0..9 or None, got {gzip_level}")
        self._send = send
        self._batch_size = batch_size
        self._gzip_level = gzip_level
        self._encoder = LineEncoder()

    async def write(self, batch: Sequence[Record]) -> None:
        """Encode and send ``batch_size`` records per request, in order.

        A RecordError stops the write at the chunk holding the bad record; earlier chunks may
        already be stored, which is harmless because rewriting a point overwrites it.
        """
        await send_pipelined(self._encoded_bodies(batch), self._send)

    async def write_lines(self, chunks: Sequence[bytes]) -> None:
        """Send encoded lines as they are, ``batch_size`` chunks per request, in order."""
        await send_pipelined(self._line_bodies(chunks), self._send)

    async def _encoded_bodies(self, batch: Sequence[Record]) -> AsyncGenerator[bytes, None]:
        """Request bodies of ``batch_size`` records each, encoded slice by slice."""
        for start in range(0, len(batch), self._batch_size):
            chunk = batch[start : start + self._batch_size]
            lines: list[str] = []
            for first in range(0, len(chunk), ENCODE_SLICE):
                lines.extend(self._encoder.encode_many(chunk[first : first + ENCODE_SLICE]))
                await asyncio.sleep(0)  # let the request in flight use the socket
            yield request_body(lines, self._gzip_level)

    async def _line_bodies(self, chunks: Sequence[bytes]) -> AsyncGenerator[bytes, None]:
        """Request bodies of ``batch_size`` chunks of encoded lines each (one chunk: no copy)."""
        for start in range(0, len(chunks), self._batch_size):
            body = b"\n".join(chunks[start : start + self._batch_size])
            yield compress_body(body, self._gzip_level)
            await asyncio.sleep(0)


def request_body(lines: Sequence[str], gzip_level: int | None) -> bytes:
    """Lines joined into one request body, gzipped unless ``gzip_level`` is None."""
    return compress_body("\n".join(lines).encode(), gzip_level)


def compress_body(body: bytes, gzip_level: int | None) -> bytes:
    """The body gzipped at ``gzip_level``, or as it is when that is None."""
    if gzip_level is None:
        return body
    return gzip.compress(body, compresslevel=gzip_level)


async def send_pipelined(
    bodies: AsyncGenerator[bytes, None], send: Callable[[bytes], Awaitable[None]]
) -> None:
    """Send each body in order; the next body is built while the previous one is in flight."""

    async def send_one(body: bytes) -> None:
        await send(body)

    in_flight: asyncio.Task[None] | None = None
    try:
        async with contextlib.aclosing(bodies):
            async for body in bodies:  # built while in_flight is being sent
                if in_flight is not None:
                    await in_flight
                in_flight = asyncio.create_task(send_one(body))
        if in_flight is not None:
            await in_flight
    finally:
        if in_flight is not None and not in_flight.done():
            in_flight.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await in_flight
