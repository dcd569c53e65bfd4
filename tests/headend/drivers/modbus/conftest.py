"""Servers for adapter tests: the meter simulator, and bare sockets that misbehave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _swallow_until_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()
    writer.close()


async def _close_on_first_byte(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1)
    writer.close()


async def _serve(handler: Handler, port: int) -> AsyncIterator[int]:
    server = await asyncio.start_server(handler, "127.0.0.1", port)
    async with server:
        yield port


@pytest.fixture
async def silent_port(tcp_port: int) -> AsyncIterator[int]:
    """A port that accepts connections and never answers."""
    async for port in _serve(_swallow_until_eof, tcp_port):
        yield port


@pytest.fixture
async def hang_up_port(tcp_port: int) -> AsyncIterator[int]:
    """A port that drops the connection as soon as a request arrives."""
    async for port in _serve(_close_on_first_byte, tcp_port):
        yield port
