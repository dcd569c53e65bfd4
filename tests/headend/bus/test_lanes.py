"""Priority lanes: urgent first, nobody starves."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from headend.bus.lanes import Lane, LaneQueue, QueueClosed


def test_control_jumps_the_queue() -> None:
    queue: LaneQueue[str] = LaneQueue()
    for i in range(5):
        queue.put(Lane.TELEMETRY, f"t{i}")
    queue.put(Lane.CONTROL, "trip")
    first = queue.get_nowait()
    assert first == (Lane.CONTROL, "trip")


def test_telemetry_progresses_under_heavy_billing_and_control() -> None:
    queue: LaneQueue[int] = LaneQueue({Lane.CONTROL: 16, Lane.BILLING: 4, Lane.TELEMETRY: 1})
    for i in range(1000):
        queue.put(Lane.CONTROL, i)
        queue.put(Lane.BILLING, i)
        queue.put(Lane.TELEMETRY, i)
    served: Counter[Lane] = Counter()
    for _ in range(210):
        item = queue.get_nowait()
        assert item is not None
        served[item[0]] += 1
    assert served == {Lane.CONTROL: 160, Lane.BILLING: 40, Lane.TELEMETRY: 10}


def test_fifo_within_a_lane() -> None:
    queue: LaneQueue[int] = LaneQueue()
    for i in range(10):
        queue.put(Lane.BILLING, i)
    order = [queue.get_nowait() for _ in range(10)]
    assert [item[1] for item in order if item] == list(range(10))


def test_weights_must_be_positive() -> None:
    with pytest.raises(ValueError, match="TELEMETRY"):
        LaneQueue({Lane.CONTROL: 1, Lane.BILLING: 1, Lane.TELEMETRY: 0})


async def test_get_waits_for_put_and_close_ends_it() -> None:
    queue: LaneQueue[str] = LaneQueue()
    waiter = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not waiter.done()
    queue.put(Lane.BILLING, "energy")
    assert await waiter == (Lane.BILLING, "energy")
    queue.close()
    with pytest.raises(QueueClosed):
        await queue.get()
    with pytest.raises(RuntimeError, match="closed"):
        queue.put(Lane.BILLING, "late")


def test_length_follows_puts_gets_and_drain() -> None:
    queue: LaneQueue[str] = LaneQueue()
    assert len(queue) == 0
    queue.put(Lane.TELEMETRY, "t")
    queue.put(Lane.BILLING, "b")
    queue.put(Lane.CONTROL, "c")
    assert len(queue) == 3
    assert queue.get_nowait() == (Lane.CONTROL, "c")
    assert len(queue) == 2
    assert queue.drain() == ["b", "t"]
    assert len(queue) == 0
    assert queue.get_nowait() is None
