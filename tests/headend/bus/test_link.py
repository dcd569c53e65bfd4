"""The link's reply deadline: one timer per link watches every exchange's deadline.

What can go wrong with a timer that outlives the exchange that armed it: a later exchange
timing out too early (the timer armed for an earlier deadline), or never (the timer gone),
or a cancellation from someone else turned into a timeout. Each is checked over an in-memory
pair, with the peer answering or staying silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from headend.bus.link import BusLink, Direction
from transports.memory import MemoryTransport, memory_pair


@pytest.fixture
async def pair() -> AsyncIterator[tuple[BusLink, MemoryTransport]]:
    near, far = memory_pair("link")
    await near.open()
    await far.open()
    link = BusLink(near, gap=0.0)
    yield link, far
    await link.aclose()
    await far.aclose()


async def test_bytes_before_the_deadline_are_returned(
    pair: tuple[BusLink, MemoryTransport],
) -> None:
    link, far = pair
    loop = asyncio.get_running_loop()
    await link.send(b"\x68ask")
    await far.write(b"\x68answer")
    assert await link.receive_before(loop.time() + 5.0) == b"\x68answer"
    assert [(r.direction, r.data) for r in link.traffic] == [
        (Direction.TX, b"\x68ask"),
        (Direction.RX, b"\x68answer"),
    ]


async def test_forgotten_traffic_is_gone_from_the_record(
    pair: tuple[BusLink, MemoryTransport],
) -> None:
    """The record is a snapshot: only ``forget_traffic`` starts it afresh (a bench that
    cleared a copy summed every earlier meter's frames into each later one)."""
    link, far = pair
    loop = asyncio.get_running_loop()
    await link.send(b"\x68first")
    await far.write(b"\x68one")
    await link.receive_before(loop.time() + 5.0)
    link.forget_traffic()
    await link.send(b"\x68second")
    assert [(r.direction, r.data) for r in link.traffic] == [(Direction.TX, b"\x68second")]


async def test_silence_ends_at_the_deadline(pair: tuple[BusLink, MemoryTransport]) -> None:
    link, _ = pair
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 0.05
    with pytest.raises(TimeoutError):
        await link.receive_before(deadline)
    assert loop.time() >= deadline


async def test_a_later_exchange_gets_its_own_deadline(
    pair: tuple[BusLink, MemoryTransport],
) -> None:
    """The first exchange armed the timer for its short deadline and was answered at once;
    the second, with a longer one, is still waiting when that timer fires: it re-arms, and
    the reply that comes between the two deadlines is taken."""
    link, far = pair
    loop = asyncio.get_running_loop()
    first_deadline = loop.time() + 0.02
    await far.write(b"one")
    assert await link.receive_before(first_deadline) == b"one"
    second = asyncio.ensure_future(link.receive_before(loop.time() + 5.0))
    passed: asyncio.Future[None] = loop.create_future()
    loop.call_at(first_deadline + 0.01, passed.set_result, None)  # after the link's timer
    await passed
    assert not second.done()
    await far.write(b"two")
    assert await second == b"two"


async def test_an_earlier_deadline_rearms_the_timer(
    pair: tuple[BusLink, MemoryTransport],
) -> None:
    """A long deadline armed first must not delay a shorter one given later."""
    link, far = pair
    loop = asyncio.get_running_loop()
    await far.write(b"one")
    assert await link.receive_before(loop.time() + 60.0) == b"one"
    deadline = loop.time() + 0.05
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(link.receive_before(deadline), 10.0)
    assert loop.time() >= deadline


async def test_a_cancellation_from_outside_stays_a_cancellation(
    pair: tuple[BusLink, MemoryTransport],
) -> None:
    link, far = pair
    loop = asyncio.get_running_loop()
    waiting = asyncio.ensure_future(link.receive_before(loop.time() + 5.0))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await far.write(b"after")  # the link still works, and its timer did not fire on this one
    assert await link.receive_before(loop.time() + 5.0) == b"after"
