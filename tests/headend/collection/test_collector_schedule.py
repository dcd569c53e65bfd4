"""The collector's schedule: every (meter, read spec) pair's slots go to the bus in start-time
order, once each, from one loop timer per channel that fleet changes re-arm.

The clock runs 600 times faster than the event loop's (a minute in 0.1 s); the tests wait for
the reads they expect, never for a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from headend.bus.lanes import Lane
from headend.clock import WarpedClock
from headend.collection.collector import BusAction, ChannelCollector
from headend.collection.completeness import CompletenessTracker
from headend.collection.health import HealthChange, MeterHealth
from headend.collection.schedule import meter_offset
from headend.config.fleet import MeterConfig, PlanConfig, ReadSpec
from storage.records import Reading

T0 = datetime(2026, 11, 23, 10, 0, 50, tzinfo=UTC)
"""After the hourly meter's offset in the 10:00 slot: its first read is at 11:00 and some."""
SPEED = 600.0
PLANS = {
    "minutely": PlanConfig("minutely", (ReadSpec(("voltage_a",), 60.0, Lane.TELEMETRY),)),
    "hourly": PlanConfig("hourly", (ReadSpec(("voltage_a",), 3600.0, Lane.TELEMETRY),)),
    "two": PlanConfig(
        "two",
        (
            ReadSpec(("voltage_a",), 60.0, Lane.TELEMETRY),
            ReadSpec(("energy_active_import_total",), 120.0, Lane.BILLING),
        ),
    ),
}


def meter(number: int, plan: str = "minutely") -> MeterConfig:
    address = f"{number:012d}"
    return MeterConfig(
        id=address, channel="bus-1", protocol="dlt645-2007", plan=plan, address=address
    )


class Reads:
    """What the collector sent: (meter id, quantities, slot, clock time when sent)."""

    def __init__(self, clock: WarpedClock) -> None:
        self.clock = clock
        self.sent: list[tuple[str, tuple[str, ...], datetime, datetime]] = []
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.fail_for: str | None = None

    def factory(self, meter: MeterConfig, quantities: Sequence[str], slot: datetime) -> BusAction:
        if meter.id == self.fail_for:
            raise RuntimeError(f"no reader for {meter.id}")
        self.sent.append((meter.id, tuple(quantities), slot, self.clock.now()))
        for count, waiter in self._waiters:
            if len(self.sent) >= count and not waiter.done():
                waiter.set_result(None)

        async def action(link: Any) -> list[Reading]:
            return []

        return action

    async def until(self, count: int) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append((count, waiter))
        if len(self.sent) >= count:
            return
        async with asyncio.timeout(30):
            await waiter


class AnsweringWorker:
    """Answers every read at once, with no readings."""

    name = "bus-1"

    def depth(self) -> int:
        return 0

    def submit(
        self, lane: Lane, label: str, action: BusAction, *, on_done: Any = None
    ) -> asyncio.Future[list[Reading]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Reading]] = loop.create_future()
        future.set_result([])
        if on_done is not None:  # as the worker does: after ``submit`` has returned
            loop.call_soon(on_done, future)
        return future


def collector(reads: Reads) -> ChannelCollector:
    async def stored(readings: list[Reading], *, then: Any = None) -> None:
        if then is not None:
            then(True)

    async def health_changed(meter: MeterConfig, change: HealthChange, detail: str) -> None:
        pass

    return ChannelCollector(
        worker=AnsweringWorker(),  # type: ignore[arg-type]
        plans=PLANS,
        clock=reads.clock,
        read_factory=reads.factory,
        on_readings=stored,
        on_health=health_changed,
        health=MeterHealth(),
        completeness=CompletenessTracker("Asia/Shanghai"),
        jitter=0.0,
    )


@pytest.fixture
async def reads() -> Reads:
    loop = asyncio.get_running_loop()
    return Reads(WarpedClock(T0, SPEED, monotonic=loop.time))


async def test_each_pairs_slots_go_out_in_start_order_once_each_never_early(reads: Reads) -> None:
    channel = collector(reads)
    meters = [meter(1), meter(2), meter(3, plan="two")]
    for m in meters:
        channel.set_meter(m.id, m)
    async with asyncio.TaskGroup() as group:
        running = group.create_task(channel.run())
        await reads.until(11)  # three slots of each 1-minute read, one of the 2-minute one
        channel.stop()
    assert running.done()
    starts = []
    for meter_id, quantities, slot, sent_at in reads.sent:
        interval = 120.0 if quantities == ("energy_active_import_total",) else 60.0
        start = slot + timedelta(seconds=meter_offset(meter_id, interval))
        assert sent_at >= start
        starts.append(start)
    assert starts == sorted(starts)
    first_three = [s for s in reads.sent if s[0] == meters[0].id][:3]
    slots = [slot for _, _, slot, _ in first_three]
    assert slots == [slots[0] + timedelta(minutes=k) for k in range(3)]
    pairs = [(meter_id, quantities, slot) for meter_id, quantities, slot, _ in reads.sent]
    assert len(pairs) == len(set(pairs))


async def test_a_meter_added_while_running_is_read_before_the_armed_wake(reads: Reads) -> None:
    channel = collector(reads)
    hourly = meter(1, plan="hourly")
    channel.set_meter(hourly.id, hourly)
    hourly_start = datetime(2026, 11, 23, 11, tzinfo=UTC) + timedelta(
        seconds=meter_offset(hourly.id, 3600.0)
    )
    async with asyncio.TaskGroup() as group:
        group.create_task(channel.run())
        await asyncio.sleep(0)  # run() has armed its timer for the hourly meter
        added = meter(2)
        channel.set_meter(added.id, added)
        await reads.until(1)
        channel.stop()
    ((meter_id, _, _, sent_at),) = reads.sent
    assert meter_id == added.id
    assert sent_at < hourly_start  # not held until the wake armed for the hourly meter


async def test_a_removed_meter_is_not_read_and_a_restarted_one_once_per_slot(
    reads: Reads,
) -> None:
    channel = collector(reads)
    kept, removed = meter(1), meter(2)
    for m in (kept, removed):
        channel.set_meter(m.id, m)
    channel.set_meter(removed.id, None)
    async with asyncio.TaskGroup() as group:
        group.create_task(channel.run())
        await reads.until(2)
        channel.set_meter(kept.id, kept)  # restarted: its old heap entry is stale
        await reads.until(5)
        channel.stop()
    assert {meter_id for meter_id, *_ in reads.sent} == {kept.id}
    slots = [slot for _, _, slot, _ in reads.sent]
    assert len(slots) == len(set(slots))
    # A stale entry sent as well would have met its twin still pending on the bus: an overrun.
    assert (channel.stats.scheduled, channel.stats.overruns) == (len(reads.sent), 0)
    assert channel.first_slots().keys() == {(kept.id, 0)}


async def test_stop_before_run_returns_at_once(reads: Reads) -> None:
    channel = collector(reads)
    channel.set_meter(meter(1).id, meter(1))
    channel.stop()
    async with asyncio.timeout(30):
        await channel.run()
    assert reads.sent == []


async def test_a_bug_in_sending_a_read_ends_run_with_it(reads: Reads) -> None:
    channel = collector(reads)
    reads.fail_for = meter(1).id
    channel.set_meter(meter(1).id, meter(1))
    with pytest.raises(ExceptionGroup) as info:
        async with asyncio.timeout(30):
            await channel.run()
    assert info.group_contains(RuntimeError, match="no reader for 000000000001")
