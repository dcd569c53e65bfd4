"""In-memory pairs: stream semantics, every fault end to end, and connection loss."""

from __future__ import annotations

import asyncio

import pytest

from tests.transports.helpers import run_together
from transports import (
    ByteTransport,
    ConnectionLost,
    Delay,
    Disconnect,
    Drop,
    Duplicate,
    FlipBits,
    MemoryNetwork,
    MemoryTransport,
    OpenFailed,
    ReplaceBytes,
    Split,
    TransportNotOpen,
    Truncate,
    create_transport,
    memory_pair,
    opened,
)

REQUEST = bytes.fromhex("FE FE 68 11 22 33 44 55 66 68 11 04 33 33 34 33 AE 16")
REPLY = bytes.fromhex("68 11 22 33 44 55 66 68 91 08 33 33 34 33 45 67 89 33 1A 16")


async def read_exactly(transport: MemoryTransport, n_bytes: int) -> bytes:
    received = b""
    while len(received) < n_bytes:
        received += await transport.read(n_bytes - len(received))
    return received


async def test_bytes_flow_both_ways_in_order() -> None:
    a, b = memory_pair()
    await a.write(REQUEST)
    await a.write(b"more")
    assert await read_exactly(b, len(REQUEST) + 4) == REQUEST + b"more"
    await b.write(REPLY)
    assert await read_exactly(a, len(REPLY)) == REPLY


async def test_read_returns_at_most_max_bytes() -> None:
    a, b = memory_pair()
    await a.write(REQUEST)
    assert await b.read(4) == REQUEST[:4]
    assert await b.read(1000) == REQUEST[4:]


async def test_read_waits_for_a_write_from_another_task() -> None:
    a, b = memory_pair()
    async with asyncio.TaskGroup() as group:
        reader = group.create_task(b.read(100))
        group.create_task(a.write(REPLY))
    assert reader.result() == REPLY


async def test_read_rejects_a_non_positive_size() -> None:
    _, b = memory_pair()
    with pytest.raises(ValueError, match="max_bytes"):
        await b.read(0)


async def test_discard_input_drops_stale_bytes_only() -> None:
    a, b = memory_pair()
    await a.write(b"echo of our own request")
    assert b.discard_input() == len(b"echo of our own request")
    await a.write(REPLY)
    assert await read_exactly(b, len(REPLY)) == REPLY


async def test_drop_loses_that_write_and_not_the_next() -> None:
    a, b = memory_pair()
    a.faults.next_write(Drop())
    await a.write(REQUEST)
    await a.write(REPLY)
    assert await read_exactly(b, len(REPLY)) == REPLY
    assert b.discard_input() == 0


async def test_delayed_reply_misses_a_short_timeout_then_shows_up_late() -> None:
    a, b = memory_pair()
    b.faults.next_write(Delay(60.0))
    await b.write(REPLY)
    assert b.in_flight == 1
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.01):
            await a.read(100)
    await b.aclose()  # cancels the pending delivery timer
    assert b.in_flight == 0


async def test_delay_never_reorders_the_stream() -> None:
    a, b = memory_pair()
    a.faults.next_write(Delay(0.01))
    await a.write(b"first")
    await a.write(b"second")
    assert await read_exactly(b, 11) == b"firstsecond"


async def test_flip_bits_corrupts_the_delivered_frame() -> None:
    a, b = memory_pair(seed=3)
    a.faults.next_write(FlipBits(1))
    await a.write(REQUEST)
    received = await read_exactly(b, len(REQUEST))
    assert received != REQUEST
    differing = [i for i in range(len(REQUEST)) if received[i] != REQUEST[i]]
    assert len(differing) == 1


async def test_same_seed_corrupts_the_same_way() -> None:
    results = []
    for _ in range(2):
        a, b = memory_pair("line", seed=11)
        a.faults.every_write(FlipBits(2))
        await a.write(REQUEST)
        results.append(await read_exactly(b, len(REQUEST)))
    assert results[0] == results[1]


async def test_replace_bytes_delivers_the_edited_frame() -> None:
    a, b = memory_pair()
    a.faults.next_write(ReplaceBytes(offset=len(REPLY) - 2, data=b"\x00"))
    await a.write(REPLY)
    assert await read_exactly(b, len(REPLY)) == REPLY[:-2] + b"\x00" + REPLY[-1:]


async def test_split_delivers_the_first_chunk_alone_and_the_rest_later() -> None:
    a, b = memory_pair()
    a.faults.next_write(Split(chunk_size=3, gap=0.001))
    await a.write(REPLY)
    first = await b.read(100)
    assert first == REPLY[:3]
    assert first + await read_exactly(b, len(REPLY) - 3) == REPLY


async def test_duplicate_delivers_the_frame_twice() -> None:
    a, b = memory_pair()
    a.faults.next_write(Duplicate())
    await a.write(REPLY)
    assert await read_exactly(b, 2 * len(REPLY)) == REPLY * 2


async def test_truncated_reply_then_disconnect() -> None:
    a, b = memory_pair()
    b.faults.next_write(Truncate(5), Disconnect())
    await b.write(REPLY)
    assert await a.read(100) == REPLY[:5]
    with pytest.raises(ConnectionLost, match="memory memory/a"):
        await a.read(100)
    assert not a.is_open
    assert not b.is_open
    with pytest.raises(ConnectionLost):
        await b.write(REQUEST)


async def test_disconnect_wakes_a_pending_reader() -> None:
    a, b = memory_pair()
    b.faults.next_write(Drop(), Disconnect())
    with pytest.raises(ExceptionGroup) as caught:
        await run_together(a.read(100), b.write(REPLY))
    assert caught.group_contains(ConnectionLost, match="injected fault")


async def test_reopen_after_disconnect_restores_the_link() -> None:
    a, b = memory_pair()
    a.faults.next_write(Disconnect())
    await a.write(b"stale")
    await a.open()
    assert a.is_open
    assert b.is_open
    assert b.discard_input() == 0
    await a.write(REQUEST)
    assert await read_exactly(b, len(REQUEST)) == REQUEST


async def test_closing_one_end_is_connection_lost_for_the_other() -> None:
    a, b = memory_pair()
    await a.write(REQUEST)
    await a.aclose()
    assert await read_exactly(b, len(REQUEST)) == REQUEST
    with pytest.raises(ConnectionLost, match="closed the link"):
        await b.read(100)


async def test_using_a_closed_end_is_our_bug_not_the_peers() -> None:
    a, _ = memory_pair()
    await a.aclose()
    await a.aclose()  # closing twice is harmless
    with pytest.raises(TransportNotOpen):
        await a.read(1)
    with pytest.raises(TransportNotOpen):
        await a.write(b"x")


async def test_close_during_a_pending_read_fails_the_read() -> None:
    a, _ = memory_pair()
    with pytest.raises(ExceptionGroup) as caught:
        await run_together(a.read(100), a.aclose())
    assert caught.group_contains(TransportNotOpen)


async def test_opened_closes_on_the_way_out_even_after_an_error() -> None:
    a, b = memory_pair()
    seen_open: list[bool] = []

    async def fail_inside() -> None:
        async with opened(a) as transport:
            seen_open.append(transport.is_open)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_inside()
    assert seen_open == [True]
    assert not a.is_open
    with pytest.raises(ConnectionLost):
        await b.read(1)


async def test_network_resolves_memory_urls() -> None:
    network = MemoryNetwork()
    device = network.listen("bus-1")
    headend = create_transport("memory://bus-1", memory=network)
    assert isinstance(headend, ByteTransport)
    async with opened(headend):
        await headend.write(REQUEST)
        assert await read_exactly(device, len(REQUEST)) == REQUEST
    with pytest.raises(OpenFailed, match="bus-1"):
        network.connect("bus-1")


def test_memory_url_without_a_network_fails_clearly() -> None:
    with pytest.raises(OpenFailed, match="MemoryNetwork"):
        create_transport("memory://bus-1")


def test_listening_twice_under_one_name_is_refused() -> None:
    network = MemoryNetwork()
    network.listen("x")
    with pytest.raises(ValueError, match="'x'"):
        network.listen("x")
