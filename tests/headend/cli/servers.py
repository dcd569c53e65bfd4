"""Loopback servers for CLI tests, each on its own event loop in a background thread.

``main()`` runs ``asyncio.run`` itself, exactly as the console script does, so the peer it
talks to cannot share the test's loop: it gets a thread and a loop of its own.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from protocols.dlt645 import (
    Address,
    ErrorResponse,
    Frame,
    FrameDecoder,
    MalformedFrame,
    ReadAddressRequest,
    ReadAddressResponse,
    ReadRequest,
    ReadResponse,
    UnexpectedMessage,
    encode,
    parse_request,
)

ServerFactory = Callable[[], AbstractAsyncContextManager[object]]

NO_REQUESTED_DATA = 0x02
"""Error word bit 1 of both editions: the meter has no such identifier."""


@contextmanager
def serving(factory: ServerFactory) -> Iterator[None]:
    """Run the async context manager ``factory()`` on a private loop for the ``with`` block."""
    ready = threading.Event()
    failures: list[BaseException] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def hold() -> None:
        try:
            async with factory():
                ready.set()
                await stop.wait()
        except Exception as exc:
            failures.append(exc)
        finally:
            ready.set()

    thread = threading.Thread(target=loop.run_until_complete, args=(hold(),), daemon=True)
    thread.start()
    try:
        if not ready.wait(timeout=10) or failures:
            raise RuntimeError(f"test server did not start: {failures}")
        yield
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


@dataclass
class FakeMeter:
    """One DL/T 645 meter behind a transparent TCP gateway: just enough to drive the CLI.

    ``payloads`` are plain reply payloads by DI; ``errors`` makes the meter refuse a DI with
    that error word; ``silent`` makes it swallow every request. Any other DI is refused with
    "no requested data", as real meters do.
    """

    address: Address
    payloads: Mapping[int, bytes] = field(default_factory=dict)
    errors: Mapping[int, int] = field(default_factory=dict)
    silent: bool = False
    requests: list[Frame] = field(default_factory=list)

    def on(self, port: int) -> ServerFactory:
        return lambda: self._listening(port)

    @asynccontextmanager
    async def _listening(self, port: int) -> AsyncIterator[None]:
        server = await asyncio.start_server(self._connection, "127.0.0.1", port)
        async with server:
            yield

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        decoder = FrameDecoder()
        try:
            while data := await reader.read(512):
                decoder.feed(data)
                while (frame := _next_frame(decoder)) is not None:
                    self.requests.append(frame)
                    reply = None if self.silent else self.reply_to(frame)
                    if reply is not None:
                        writer.write(encode(reply))
                        await writer.drain()
        finally:
            writer.close()

    def reply_to(self, frame: Frame) -> Frame | None:
        """The meter's answer, or None when the frame is not for this meter."""
        try:
            request = parse_request(frame)
        except UnexpectedMessage:
            return None
        if not request.address.matches(self.address):
            return None
        if isinstance(request, ReadAddressRequest):
            return ReadAddressResponse(self.address).to_frame()
        if not isinstance(request, ReadRequest):
            return None
        function = frame.control.function
        if request.di in self.errors:
            return ErrorResponse(self.address, function, self.errors[request.di]).to_frame()
        payload = self.payloads.get(request.di)
        if payload is None:
            return ErrorResponse(self.address, function, NO_REQUESTED_DATA).to_frame()
        return ReadResponse(self.address, request.di, payload, standard=request.standard).to_frame()


def _next_frame(decoder: FrameDecoder) -> Frame | None:
    try:
        return decoder.next_frame()
    except MalformedFrame:
        return None
