"""The byte pipes a bus is served over: head-end transports, TCP streams, pty master fds.

``ByteLink`` is deliberately smaller than ``transports.ByteTransport``: the simulator
only needs read (b"" once the other side has gone), write and close, and each wire's own
end-of-stream signal is translated into that one convention here.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Protocol

from transports import ByteTransport, TransportError

READ_SIZE = 4096


class ByteLink(Protocol):
    """A bidirectional byte pipe from the bus's point of view."""

    async def read(self) -> bytes:
        """Wait for bytes; b"" means the other side has gone for good."""
        ...

    async def write(self, data: bytes) -> None:
        """Send bytes; silently dropped once the link is gone (nobody is listening)."""
        ...

    async def aclose(self) -> None: ...


class TransportLink:
    """A head-end ``ByteTransport`` used as the device end (``MemoryNetwork.listen``)."""

    def __init__(self, transport: ByteTransport) -> None:
        self.transport = transport

    async def read(self) -> bytes:
        try:
            return await self.transport.read(READ_SIZE)
        except TransportError:
            return b""

    async def write(self, data: bytes) -> None:
        with contextlib.suppress(TransportError):
            await self.transport.write(data)

    async def aclose(self) -> None:
        await self.transport.aclose()


class StreamLink:
    """One accepted TCP connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def read(self) -> bytes:
        try:
            return await self._reader.read(READ_SIZE)
        except (ConnectionError, OSError):
            return b""

    async def write(self, data: bytes) -> None:
        if self._writer.is_closing():
            return
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (ConnectionError, OSError):
            return

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


class FdLink:
    """The master side of a pseudo-terminal, non-blocking, driven by the event loop."""

    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self._fd = fd
        self._closed = False

    async def read(self) -> bytes:
        loop = asyncio.get_running_loop()
        while not self._closed:
            try:
                return os.read(self._fd, READ_SIZE)
            except BlockingIOError:
                pass
            except OSError:
                return b""  # EIO: every slave fd closed (we keep one open, so: torn down)
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(self._fd, _wake, ready)
            try:
                await ready
            finally:
                loop.remove_reader(self._fd)
        return b""

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        loop = asyncio.get_running_loop()
        while view and not self._closed:
            try:
                written = os.write(self._fd, view)
            except BlockingIOError:
                written = 0
            except OSError:
                return
            view = view[written:]
            if view:
                ready: asyncio.Future[None] = loop.create_future()
                loop.add_writer(self._fd, _wake, ready)
                try:
                    await ready
                finally:
                    loop.remove_writer(self._fd)

    async def aclose(self) -> None:
        self._closed = True


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)
