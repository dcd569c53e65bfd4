"""Serial transport over a pseudo-terminal pair.

Ptys ignore baud and reject even parity (termios error 22), so these tests use parity N; the
rejection itself is checked as an ``OpenFailed``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest

from transports import (
    ByteTransport,
    ConnectionLost,
    OpenFailed,
    Parity,
    SerialSettings,
    create_transport,
    opened,
)
from transports.serial_port import SerialTransport

REQUEST = bytes.fromhex("FE FE 68 11 22 33 44 55 66 68 11 04 33 33 34 33 AE 16")


class PtyMaster:
    """The far end of the pty: plays the meter side of the line."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._received = bytearray()
        self._arrived = asyncio.Event()
        os.set_blocking(fd, False)
        asyncio.get_running_loop().add_reader(fd, self._on_readable)

    def _on_readable(self) -> None:
        try:
            self._received += os.read(self.fd, 4096)
        except BlockingIOError:
            return
        self._arrived.set()

    async def read_exactly(self, n_bytes: int) -> bytes:
        async with asyncio.timeout(5):
            while len(self._received) < n_bytes:
                self._arrived.clear()
                await self._arrived.wait()
        data = bytes(self._received[:n_bytes])
        del self._received[:n_bytes]
        return data

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def close(self) -> None:
        if self.fd >= 0:
            asyncio.get_running_loop().remove_reader(self.fd)
            os.close(self.fd)
            self.fd = -1


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    master, slave = os.openpty()
    name = os.ttyname(slave)
    try:
        yield master, name
    finally:
        os.close(slave)


@pytest.fixture
async def master(pty_pair: tuple[int, str]) -> AsyncIterator[PtyMaster]:
    peer = PtyMaster(pty_pair[0])
    yield peer
    peer.close()


def settings_for(port: str, parity: Parity = Parity.NONE) -> SerialSettings:
    return SerialSettings(port=port, baud=9600, parity=parity)


async def read_exactly(transport: ByteTransport, n_bytes: int) -> bytes:
    received = b""
    async with asyncio.timeout(5):
        while len(received) < n_bytes:
            received += await transport.read(n_bytes - len(received))
    return received


async def test_bytes_cross_the_pty_both_ways(pty_pair: tuple[int, str], master: PtyMaster) -> None:
    transport = SerialTransport(settings_for(pty_pair[1]))
    assert isinstance(transport, ByteTransport)
    async with opened(transport):
        assert transport.is_open
        await transport.write(REQUEST)
        assert await master.read_exactly(len(REQUEST)) == REQUEST
        master.write(b"\x68reply\x16")
        assert await read_exactly(transport, 7) == b"\x68reply\x16"
    assert not transport.is_open


async def test_url_factory_builds_a_serial_transport(
    pty_pair: tuple[int, str], master: PtyMaster
) -> None:
    transport = create_transport(f"serial://{pty_pair[1]}?baud=1200&parity=N")
    assert transport.describe() == f"serial {pty_pair[1]} 1200 8N1"
    async with opened(transport):
        await transport.write(b"\x00\xff\x11\x13")  # XON/XOFF bytes must pass untouched
        assert await master.read_exactly(4) == b"\x00\xff\x11\x13"


async def test_discard_input_drops_what_arrived_before_the_request(
    pty_pair: tuple[int, str], master: PtyMaster
) -> None:
    async with opened(SerialTransport(settings_for(pty_pair[1]))) as transport:
        master.write(b"echo")
        assert await read_exactly(transport, 1) == b"e"
        # The rest is in our buffer or still in the kernel's; both are dropped.
        transport.discard_input()
        master.write(b"fresh")
        assert await read_exactly(transport, 5) == b"fresh"


async def test_even_parity_on_a_pty_is_open_failed_naming_the_port(
    pty_pair: tuple[int, str],
) -> None:
    transport = SerialTransport(settings_for(pty_pair[1], Parity.EVEN))
    with pytest.raises(OpenFailed, match=pty_pair[1]):
        await transport.open()
    assert not transport.is_open


async def test_missing_port_is_open_failed() -> None:
    transport = SerialTransport(settings_for("/dev/does-not-exist-ttyUSB9"))
    with pytest.raises(OpenFailed, match="does-not-exist-ttyUSB9"):
        await transport.open()


async def test_far_end_hangup_is_connection_lost(
    pty_pair: tuple[int, str], master: PtyMaster
) -> None:
    async with opened(SerialTransport(settings_for(pty_pair[1]))) as transport:
        master.write(b"bye")
        assert await read_exactly(transport, 3) == b"bye"
        master.close()
        with pytest.raises(ConnectionLost, match=pty_pair[1]):
            async with asyncio.timeout(5):
                await transport.read(1)
        assert not transport.is_open
