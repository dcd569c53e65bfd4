"""TCP transport against a real asyncio server on a loopback port."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from tests.transports.helpers import read_until_lost, run_together
from transports import (
    ByteTransport,
    ConnectionLost,
    OpenFailed,
    TcpSettings,
    TcpTransport,
    TransportNotOpen,
    create_transport,
    opened,
)
from transports.tcp import configure_socket

REQUEST = bytes.fromhex("68 11 22 33 44 55 66 68 11 04 33 33 34 33 AE 16")


@dataclass
class Gateway:
    """A fake transparent gateway: hands each accepted connection to the test."""

    port: int
    connections: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = field(
        default_factory=asyncio.Queue
    )

    async def accept(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        async with asyncio.timeout(5):
            return await self.connections.get()


@pytest.fixture
async def gateway(tcp_port: int) -> AsyncIterator[Gateway]:
    gateway = Gateway(port=tcp_port)
    writers: list[asyncio.StreamWriter] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        await gateway.connections.put((reader, writer))

    server = await asyncio.start_server(on_connect, "127.0.0.1", tcp_port)
    async with server:
        yield gateway
        for writer in writers:
            writer.close()
    await server.wait_closed()


def transport_for(port: int) -> TcpTransport:
    return TcpTransport(TcpSettings(host="127.0.0.1", port=port, connect_timeout=5))


async def test_request_and_reply_through_the_gateway(gateway: Gateway) -> None:
    transport = transport_for(gateway.port)
    assert isinstance(transport, ByteTransport)
    async with opened(transport):
        reader, writer = await gateway.accept()
        await transport.write(REQUEST)
        assert await reader.readexactly(len(REQUEST)) == REQUEST
        writer.write(b"reply")
        await writer.drain()
        received = b""
        while len(received) < 5:
            received += await transport.read(100)
        assert received == b"reply"


async def test_url_factory_builds_a_tcp_transport(gateway: Gateway) -> None:
    transport = create_transport(f"rtu+tcp://127.0.0.1:{gateway.port}")
    async with opened(transport):
        assert transport.is_open
        assert transport.describe() == f"rtu+tcp 127.0.0.1:{gateway.port}"
        await gateway.accept()
    assert not transport.is_open


async def test_discard_input_drops_stale_bytes(gateway: Gateway) -> None:
    async with opened(transport_for(gateway.port)) as transport:
        _, writer = await gateway.accept()
        writer.write(b"late reply")  # one small segment: arrives in one piece on loopback
        await writer.drain()
        assert await transport.read(1) == b"l"
        assert transport.discard_input() == len(b"ate reply")
        writer.write(b"fresh")
        await writer.drain()
        assert await transport.read(100) == b"fresh"


async def test_peer_close_drains_buffered_bytes_then_raises_connection_lost(
    gateway: Gateway,
) -> None:
    async with opened(transport_for(gateway.port)) as transport:
        _, writer = await gateway.accept()
        writer.write(b"last words")
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        received, lost = await read_until_lost(transport)
        assert received == b"last words"
        assert f"tcp 127.0.0.1:{gateway.port}" in str(lost)
        assert not transport.is_open
        with pytest.raises(ConnectionLost):
            await transport.write(REQUEST)


async def test_reopen_after_connection_lost(gateway: Gateway) -> None:
    transport = transport_for(gateway.port)
    async with opened(transport):
        _, first = await gateway.accept()
        first.close()
        with pytest.raises(ConnectionLost):
            await transport.read(1)
        await transport.open()
        reader, _ = await gateway.accept()
        await transport.write(REQUEST)
        assert await reader.readexactly(len(REQUEST)) == REQUEST


async def test_refused_connection_is_open_failed(tcp_port: int) -> None:
    transport = transport_for(tcp_port)  # nothing listens there
    with pytest.raises(OpenFailed, match=f"tcp 127.0.0.1:{tcp_port}: connect failed"):
        await transport.open()
    assert not transport.is_open


async def test_connect_timeout_is_open_failed(
    tcp_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    never = asyncio.Event()

    async def hang(*args: object, **kwargs: object) -> None:
        await never.wait()

    loop = asyncio.get_running_loop()
    patched: Callable[..., Awaitable[None]] = hang
    monkeypatch.setattr(loop, "create_connection", patched)
    transport = TcpTransport(TcpSettings(host="127.0.0.1", port=tcp_port, connect_timeout=0.01))
    with pytest.raises(OpenFailed, match=r"timed out after 0\.01 s"):
        await transport.open()


async def test_not_open_is_a_usage_error(tcp_port: int) -> None:
    transport = transport_for(tcp_port)
    with pytest.raises(TransportNotOpen, match="before open"):
        await transport.write(REQUEST)
    with pytest.raises(TransportNotOpen):
        await transport.read(1)
    await transport.aclose()  # closing a never-opened transport is harmless


async def test_close_during_a_pending_read_fails_the_read(gateway: Gateway) -> None:
    transport = transport_for(gateway.port)
    await transport.open()
    await gateway.accept()
    with pytest.raises(ExceptionGroup) as caught:
        await run_together(transport.read(100), transport.aclose())
    assert caught.group_contains(TransportNotOpen)


def test_socket_gets_nodelay_and_keepalive() -> None:
    settings = TcpSettings(host="h", port=1, keepalive_idle=17, keepalive_count=4)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        configure_socket(sock, settings)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
        if hasattr(socket, "TCP_KEEPIDLE"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 17
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4
