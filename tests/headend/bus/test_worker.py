"""Bus worker: one request in flight, lanes honoured, retries, reconnects, clean shutdown."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from headend.bus.backoff import Backoff
from headend.bus.lanes import Lane
from headend.bus.link import BusLink, Direction
from headend.bus.worker import BusPolicy, BusWorker
from headend.errors import BusClosed, ReadFailed
from protocols.dlt645 import UnexpectedMessage
from storage.records import FailureReason
from transports.errors import ConnectionLost
from transports.faults import Disconnect, Drop
from transports.memory import MemoryTransport, memory_pair

GAP = 0.01
Bus = tuple[BusWorker[BusLink], MemoryTransport]
FAST = BusPolicy(
    retries=2,
    retry_backoff=Backoff(0.001, 0.002, jitter=False),
    reconnect_backoff=Backoff(0.001, 0.002, jitter=False),
)


class Reopened:
    """Wraps the head-end end so the device knows when the worker reconnected."""

    def __init__(self, inner: MemoryTransport) -> None:
        self.inner = inner
        self.event = asyncio.Event()

    @property
    def is_open(self) -> bool:
        return self.inner.is_open

    def describe(self) -> str:
        return self.inner.describe()

    async def open(self) -> None:
        was_open = self.inner.is_open
        await self.inner.open()
        if not was_open:
            self.event.set()

    async def write(self, data: bytes) -> None:
        await self.inner.write(data)

    async def read(self, max_bytes: int) -> bytes:
        return await self.inner.read(max_bytes)

    def discard_input(self) -> int:
        return self.inner.discard_input()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def echo_device(end: MemoryTransport, reopened: Reopened | None = None) -> None:
    """Answers every request with ``ok:`` + request, like a meter that always replies."""
    while True:
        try:
            request = await end.read(256)
        except ConnectionLost:
            if reopened is None:
                return
            reopened.event.clear()
            await reopened.event.wait()  # the head-end reconnects: the link is back
            continue
        await end.write(b"ok:" + request)


def exchange(payload: bytes, timeout: float = 0.2) -> Callable[[BusLink], Awaitable[bytes]]:
    async def action(link: BusLink) -> bytes:
        await link.send(payload)
        received = b""
        try:
            async with asyncio.timeout(timeout):
                while len(received) < len(payload) + 3:
                    received += await link.receive()
        except TimeoutError:
            raise ReadFailed(FailureReason.TIMEOUT, f"no reply to {payload!r}") from None
        return received

    return action


@pytest.fixture
async def bus() -> AsyncIterator[Bus]:
    headend_end, device_end = memory_pair("bus-1")
    reopened = Reopened(headend_end)
    worker = BusWorker("bus-1", BusLink(reopened, gap=GAP), FAST)
    async with asyncio.TaskGroup() as group:
        device = group.create_task(echo_device(device_end, reopened))
        runner = group.create_task(worker.run())
        yield worker, device_end
        worker.close()
        await runner
        device.cancel()


async def test_one_request_in_flight(bus: Bus) -> None:
    worker, _ = bus
    in_flight = 0
    peak = 0

    def tracked(n: int) -> Callable[[BusLink], Awaitable[bytes]]:
        inner = exchange(b"r%d" % n)

        async def action(link: BusLink) -> bytes:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            try:
                return await inner(link)
            finally:
                in_flight -= 1

        return action

    replies = await asyncio.gather(
        *(worker.call(Lane.TELEMETRY, f"r{n}", tracked(n)) for n in range(20))
    )
    assert peak == 1
    assert replies == [b"ok:r%d" % n for n in range(20)]
    assert worker.stats.jobs_done == 20


async def test_control_lane_goes_first() -> None:
    headend_end, device_end = memory_pair("bus-2")
    worker = BusWorker("bus-2", BusLink(headend_end, gap=GAP), FAST)
    order: list[str] = []

    def noted(label: str) -> Callable[[BusLink], Awaitable[bytes]]:
        inner = exchange(label.encode())

        async def action(link: BusLink) -> bytes:
            order.append(label)
            return await inner(link)

        return action

    futures = [worker.submit(Lane.TELEMETRY, f"t{i}", noted(f"t{i}")) for i in range(3)]
    futures.append(worker.submit(Lane.BILLING, "b0", noted("b0")))
    futures.append(worker.submit(Lane.CONTROL, "trip", noted("trip")))
    async with asyncio.TaskGroup() as group:
        device = group.create_task(echo_device(device_end))
        runner = group.create_task(worker.run())
        await asyncio.gather(*futures)
        worker.close()
        await runner
        device.cancel()
    assert order == ["trip", "b0", "t0", "t1", "t2"]


async def test_dropped_reply_is_retried(bus: Bus) -> None:
    worker, device_end = bus
    device_end.faults.next_write(Drop())
    reply = await worker.call(Lane.BILLING, "energy", exchange(b"e", timeout=0.05))
    assert reply == b"ok:e"
    assert worker.stats.retries == 1


async def test_gives_up_after_retries_with_reason(
    bus: Bus,
) -> None:
    worker, device_end = bus
    device_end.faults.every_write(Drop())
    with pytest.raises(ReadFailed) as info:
        await worker.call(Lane.BILLING, "energy", exchange(b"e", timeout=0.02))
    assert info.value.reason is FailureReason.TIMEOUT
    assert worker.stats.retries == 2
    assert worker.stats.failures == {"timeout": 1}


async def test_non_retryable_failure_is_not_retried(
    bus: Bus,
) -> None:
    worker, _ = bus
    attempts = 0

    async def refused(link: BusLink) -> None:
        nonlocal attempts
        attempts += 1
        raise ReadFailed(FailureReason.ERROR_RESPONSE, "no requested data", error_word=0x02)

    with pytest.raises(ReadFailed, match="no requested data"):
        await worker.call(Lane.CONTROL, "read", refused)
    assert attempts == 1


async def test_reconnects_after_the_gateway_drops(
    bus: Bus,
) -> None:
    worker, device_end = bus
    assert await worker.call(Lane.TELEMETRY, "a", exchange(b"a")) == b"ok:a"
    device_end.faults.next_write(Disconnect())
    # the reply that arrived before the drop is still delivered ...
    assert await worker.call(Lane.TELEMETRY, "b", exchange(b"b")) == b"ok:b"
    # ... and the next request finds the link gone, reconnects and succeeds
    assert await worker.call(Lane.TELEMETRY, "c", exchange(b"c")) == b"ok:c"
    assert worker.stats.reconnects == 1
    assert worker.connected


async def test_inter_frame_gap_is_kept(bus: Bus) -> None:
    worker, _ = bus
    for n in range(3):
        await worker.call(Lane.TELEMETRY, "g", exchange(b"g%d" % n))
    traffic = list(worker.connection.traffic)
    turnarounds = [
        (after.at - before.at).total_seconds()
        for before, after in itertools.pairwise(traffic)
        if before.direction is Direction.RX and after.direction is Direction.TX
    ]
    assert len(turnarounds) == 2
    assert min(turnarounds) >= GAP * 0.9


async def test_close_fails_queued_jobs() -> None:
    headend_end, _ = memory_pair("bus-3")
    worker = BusWorker("bus-3", BusLink(headend_end, gap=GAP), FAST)
    queued = worker.submit(Lane.TELEMETRY, "late", exchange(b"x"))
    worker.close()
    await worker.run()
    with pytest.raises(BusClosed, match="bus-3"):
        await queued


async def test_a_peer_protocol_error_is_a_malformed_reply(bus: Bus) -> None:
    worker, _ = bus

    async def odd_reply(link: BusLink) -> None:
        raise UnexpectedMessage("DI 02010100 (voltage_a): expected 2 bytes, got 1: 01")

    with pytest.raises(ReadFailed) as info:
        await worker.call(Lane.TELEMETRY, "odd", odd_reply)
    assert info.value.reason is FailureReason.MALFORMED
    assert "voltage_a" in info.value.detail
    assert worker.stats.retries == FAST.retries  # a bad reply is worth another try


async def test_submitting_after_close_says_shutting_down() -> None:
    headend_end, _ = memory_pair("bus-4")
    worker = BusWorker("bus-4", BusLink(headend_end, gap=GAP), FAST)
    worker.close()
    with pytest.raises(BusClosed, match="bus-4"):
        worker.submit(Lane.CONTROL, "late", exchange(b"x"))


async def test_on_done_is_called_once_per_job_after_its_future_is_settled(bus: Bus) -> None:
    """The completion callback comes from the worker's own step, once per job, with the
    future already settled: for a result, a failure, a job its caller cancelled while it was
    queued, and a job failed by ``close``. Never from inside ``submit``."""
    worker, _ = bus
    seen: list[tuple[str, str]] = []

    def on_done(name: str) -> Callable[[asyncio.Future[bytes]], None]:
        def called(future: asyncio.Future[bytes]) -> None:
            assert future.done()
            if future.cancelled():
                outcome = "cancelled"
            elif future.exception() is not None:
                outcome = type(future.exception()).__name__
            else:
                outcome = future.result().decode()
            seen.append((name, outcome))

        return called

    async def refuse(link: BusLink) -> bytes:
        raise ReadFailed(FailureReason.ERROR_RESPONSE, "no such data", retryable=False)

    blocker = asyncio.get_running_loop().create_future()
    holding = asyncio.Event()

    async def hold(link: BusLink) -> bytes:
        holding.set()
        await blocker
        return b"held"

    good = worker.submit(Lane.TELEMETRY, "good", exchange(b"g"), on_done=on_done("good"))
    bad = worker.submit(Lane.TELEMETRY, "bad", refuse, on_done=on_done("bad"))
    assert seen == []  # not from inside submit
    assert await good == b"ok:g"
    with pytest.raises(ReadFailed):
        await bad
    held = worker.submit(Lane.TELEMETRY, "held", hold, on_done=on_done("held"))
    given_up = worker.submit(Lane.TELEMETRY, "given up", exchange(b"x"), on_done=on_done("up"))
    queued = worker.submit(Lane.TELEMETRY, "queued", exchange(b"q"), on_done=on_done("queued"))
    given_up.cancel()
    await holding.wait()  # the worker took ``held`` and waits in it
    worker.close()  # fails ``queued``; ``given up`` was drained as cancelled
    blocker.set_result(None)
    assert await held == b"held"
    with pytest.raises(BusClosed):
        await queued
    assert sorted(seen) == sorted(
        [
            ("good", "ok:g"),
            ("bad", "ReadFailed"),
            ("up", "cancelled"),
            ("queued", "BusClosed"),
            ("held", "held"),
        ]
    )
