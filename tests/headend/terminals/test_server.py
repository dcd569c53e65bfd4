"""The terminal server over real TCP: logins, replacement, heartbeat loss, requests, noise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from headend.terminals import TerminalOffline, TerminalRequestFailed, TerminalServer
from protocols.gdw1376 import (
    Address,
    Control,
    Frame,
    FrameDecoder,
    Seq,
    build_body,
    encode,
    link_test,
    parse_units,
)
from protocols.gdw1376.control import SecondaryFunction
from protocols.gdw1376.master_session import TerminalReply
from storage.records import FailureReason

TERMINAL = Address("1100", 7)
KEY = "1100-00007"
CLOCK = datetime(2026, 12, 2, 8, 30, 15)  # noqa: DTZ001 - the terminal's wall clock


class RawTerminal:
    """A terminal's end of the TCP session, built from the codec only."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.decoder = FrameDecoder()

    @classmethod
    async def dial(cls, port: int) -> RawTerminal:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def frame(self) -> Frame:
        while (frame := self.decoder.next_frame()) is None:
            data = await self.reader.read(4096)
            if not data:
                raise ConnectionError("the master closed the connection")
            self.decoder.feed(data)
        return frame

    async def login(self) -> Frame:
        await self.send(encode(link_test(TERMINAL, 1, seq=0)))
        return await self.frame()

    async def answer_clock(self, request: Frame) -> None:
        reply = Frame(
            Control(up=True, primary=False, function=SecondaryFunction.USER_DATA),
            TERMINAL,
            0x0C,
            Seq(request.seq.number),
            build_body(0x0C, True, [(0, 2, {"clock": CLOCK})]),
        )
        await self.send(encode(reply))

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest.fixture
async def server() -> AsyncIterator[TerminalServer]:
    async with TerminalServer(login_timeout=5.0, heartbeat_periods={KEY: 60.0}) as running:
        yield running


async def _until(server: TerminalServer, condition: object) -> None:
    async with asyncio.timeout(10):
        while not condition():  # type: ignore[operator]
            await server.wait_change()


async def test_login_is_confirmed_and_a_request_gets_its_reply(server: TerminalServer) -> None:
    terminal = await RawTerminal.dial(server.port)
    confirm = await terminal.login()
    assert (confirm.afn, parse_units(confirm)[0].item) == (0x00, 1)
    await _until(server, lambda: KEY in server.sessions)

    async def answer() -> None:
        await terminal.answer_clock(await terminal.frame())

    async with asyncio.TaskGroup() as group:
        group.create_task(answer())
        reply = await server.request(KEY, 0x0C, [(0, 2, {})], reply_timeout=5, retries=0)
    assert reply.units[0].values["clock"] == CLOCK
    assert server.counters.logins == 1
    await terminal.close()


@pytest.mark.parametrize("turns", [0, 1])
async def test_a_request_cancelled_as_its_reply_arrives_stays_cancelled(
    server: TerminalServer, turns: int
) -> None:
    """The reply is delivered and the caller cancelled before it runs again (after ``turns``
    loop iterations): the cancellation must win, or a stopping engine never stops."""
    terminal = await RawTerminal.dial(server.port)
    await terminal.login()
    await _until(server, lambda: KEY in server.sessions)
    session = server.session(KEY)
    caller = asyncio.create_task(session.request(0x0C, [(0, 2, {})], reply_timeout=5, retries=0))
    request = await terminal.frame()
    session.deliver(TerminalReply(seq=request.seq.number, afn=0x0C, units=(), frames=1))
    for _ in range(turns):
        await asyncio.sleep(0)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await terminal.close()


async def test_a_second_login_replaces_the_first(server: TerminalServer) -> None:
    first = await RawTerminal.dial(server.port)
    await first.login()
    await _until(server, lambda: KEY in server.sessions)
    old = server.sessions[KEY]
    second = await RawTerminal.dial(server.port)
    await second.login()
    await _until(server, lambda: server.sessions.get(KEY) not in (None, old))
    assert old.closed
    assert server.counters.replaced == 1
    with pytest.raises(ConnectionError):
        await first.frame()  # the master closed the old socket
    await second.close()


async def test_a_missed_heartbeat_ends_the_session() -> None:
    async with TerminalServer(heartbeat_periods={KEY: 0.05}) as server:
        terminal = await RawTerminal.dial(server.port)
        await terminal.login()
        await _until(server, lambda: KEY in server.sessions)
        await _until(server, lambda: KEY not in server.sessions)
        assert server.counters.heartbeat_timeouts == 1
        with pytest.raises(TerminalOffline, match="1100-00007: not logged in"):
            server.session(KEY)
        await terminal.close()


async def test_a_request_to_an_offline_terminal_fails_at_once(server: TerminalServer) -> None:
    with pytest.raises(TerminalOffline) as caught:
        await server.request("1100-00099", 0x0C, [(0, 2, {})], reply_timeout=60, retries=5)
    assert caught.value.reason is FailureReason.CONNECTION_LOST
    assert "1100-00099" in str(caught.value)


async def test_an_unanswered_request_is_sent_again_with_the_same_pseq(
    server: TerminalServer,
) -> None:
    terminal = await RawTerminal.dial(server.port)
    await terminal.login()
    await _until(server, lambda: KEY in server.sessions)

    async def answer_the_second() -> list[bytes]:
        first = await terminal.frame()
        second = await terminal.frame()
        await terminal.answer_clock(second)
        return [encode(first), encode(second)]

    async with asyncio.TaskGroup() as group:
        seen = group.create_task(answer_the_second())
        reply = await server.request(KEY, 0x0C, [(0, 2, {})], reply_timeout=0.3, retries=2)
    first, second = seen.result()
    assert first == second
    assert reply.units[0].values["clock"] == CLOCK
    assert server.counters.retries == 1
    await terminal.close()


async def test_retries_spent_is_a_timeout_naming_the_terminal(server: TerminalServer) -> None:
    terminal = await RawTerminal.dial(server.port)
    await terminal.login()
    await _until(server, lambda: KEY in server.sessions)
    with pytest.raises(TerminalRequestFailed, match=r"1100-00007: no reply to AFN 0CH") as caught:
        await server.request(KEY, 0x0C, [(0, 2, {})], reply_timeout=0.1, retries=1)
    assert caught.value.reason is FailureReason.TIMEOUT
    assert server.counters.request_timeouts == 1
    await terminal.close()


async def test_noise_and_corrupt_frames_are_counted_and_the_session_goes_on(
    server: TerminalServer,
) -> None:
    terminal = await RawTerminal.dial(server.port)
    bad = bytearray(encode(link_test(TERMINAL, 3, seq=1)))
    bad[-2] ^= 0x55
    await terminal.send(b"\x00\xffREG:860000000000001" + bytes(bad))
    confirm = await terminal.login()
    assert confirm.afn == 0x00
    await _until(server, lambda: KEY in server.sessions)
    assert server.counters.skipped["noise"] >= 1
    assert server.counters.skipped["malformed"] == 1
    assert server.counters.bytes_skipped >= 21
    await terminal.close()


async def test_a_logout_is_confirmed_and_ends_the_session(server: TerminalServer) -> None:
    terminal = await RawTerminal.dial(server.port)
    await terminal.login()
    await _until(server, lambda: KEY in server.sessions)
    await terminal.send(encode(link_test(TERMINAL, 2, seq=4)))
    confirm = await terminal.frame()
    assert (confirm.afn, confirm.seq.number) == (0x00, 4)
    await _until(server, lambda: KEY not in server.sessions)
    assert server.counters.logouts == 1
    with pytest.raises(TerminalOffline, match="not logged in"):
        await server.request(KEY, 0x0C, [(0, 2, {})])
    await terminal.close()
