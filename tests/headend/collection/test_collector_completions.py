"""The collector's completion loop: reads that ended together reach storage in one hand-off,
each still counted once stored, and an outcome that needs more (a failure, a meter coming
back online) keeps its place in the order the reads ended."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from headend.bus.lanes import Lane
from headend.bus.worker import BusWorker
from headend.clock import SystemClock
from headend.collection.collector import ChannelCollector
from headend.collection.completeness import CompletenessTracker
from headend.collection.health import HealthChange, MeterHealth
from headend.config.fleet import MeterConfig, PlanConfig, ReadSpec
from headend.errors import BusClosed, ReadFailed
from storage.records import FailureReason, Reading

SLOT = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
SPEC = ReadSpec(("voltage_a",), 60.0, Lane.TELEMETRY)
PLANS = {"p": PlanConfig("p", (SPEC,))}


class _Connection:
    is_open = True

    def describe(self) -> str:
        return "nowhere"

    async def open(self) -> None:
        pass

    async def aclose(self) -> None:
        pass


class _Storage:
    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.health: list[tuple[str, HealthChange]] = []

    def __call__(
        self, readings: list[Reading], *, then: Callable[[bool], None] | None = None
    ) -> Awaitable[None]:
        self.calls.append([r.meter for r in readings])
        if then is not None:
            then(True)
        return asyncio.sleep(0)

    async def on_health(self, meter: MeterConfig, change: HealthChange, detail: str) -> None:
        self.health.append((meter.id, change))


def _meter(number: int) -> MeterConfig:
    return MeterConfig(f"m{number}", "bus", "dlt645-2007", "p", address=f"{number:012d}")


def _reading(meter: str) -> Reading:
    return Reading(meter, "voltage_a", 230.0, "V", SLOT)


class _Put:
    """``LiveReadings.put`` as the collector sees it: taken at once, stored when ``settle``."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self._then: list[Callable[[bool], None]] = []

    def __call__(self, readings: list[Reading], then: Callable[[bool], None] | None) -> None:
        self.calls.append([r.meter for r in readings])
        if then is not None:
            self._then.append(then)

    def settle(self, stored: bool) -> None:
        for then in self._then:
            then(stored)
        self._then.clear()


def _collector(
    storage: _Storage,
    health: MeterHealth,
    tracker: CompletenessTracker,
    put: _Put | None = None,
) -> Any:
    def factory(meter: MeterConfig, quantities: Any, slot: datetime) -> Any:
        raise AssertionError("no read is sent in these tests")

    return ChannelCollector(
        worker=BusWorker("bus", _Connection()),
        plans=PLANS,
        clock=SystemClock(),
        read_factory=factory,
        on_readings=storage,
        on_health=storage.on_health,
        health=health,
        completeness=tracker,
        put_readings=put,
    )


def _ended(collector: Any, meter: MeterConfig, result: list[Reading] | Exception) -> None:
    future: asyncio.Future[list[Reading]] = asyncio.get_running_loop().create_future()
    if isinstance(result, Exception):
        future.set_exception(result)
    else:
        future.set_result(result)
    key = (meter.id, 0)
    collector._pending.add(key)
    collector._waiting[future] = (key, meter, SPEC, SLOT)
    collector._read_ended(future)


async def test_reads_that_ended_together_are_stored_in_one_hand_off_and_each_counted() -> None:
    storage, health, tracker = _Storage(), MeterHealth(), CompletenessTracker("Asia/Shanghai")
    collector = _collector(storage, health, tracker)
    meters = [_meter(n) for n in (1, 2, 3)]
    for meter in meters:
        _ended(collector, meter, [_reading(meter.id)])
    collector.stop()
    await collector._completions()
    assert storage.calls == [["m1", "m2", "m3"]]
    day = SLOT.date()
    assert [tracker.meter_day(m.id, day).received for m in meters] == [1, 1, 1]
    assert collector.stats.succeeded == 3
    assert not collector._pending


async def test_an_outcome_that_needs_more_keeps_its_place_in_the_order() -> None:
    storage, health, tracker = _Storage(), MeterHealth(offline_after=1), CompletenessTracker()
    collector = _collector(storage, health, tracker)
    back, failing, plain = _meter(1), _meter(2), _meter(3)
    health.failure(back.id, "timeout", SLOT - timedelta(minutes=5))  # offline now
    _ended(collector, plain, [_reading(plain.id)])
    _ended(collector, back, [_reading(back.id)])
    _ended(collector, failing, ReadFailed(FailureReason.TIMEOUT, "no reply"))
    _ended(collector, plain, [_reading(plain.id)])
    collector.stop()
    await collector._completions()
    assert storage.calls == [["m3"], ["m1"], ["m2"], ["m3"]]
    assert storage.health == [("m1", HealthChange.CAME_ONLINE), ("m2", HealthChange.WENT_OFFLINE)]
    assert (collector.stats.succeeded, collector.stats.failed) == (3, 1)


async def test_a_read_that_ends_while_the_last_hand_off_is_stored_is_still_recorded() -> None:
    """Stopping, the loop waits in its last hand-off to storage; a read on the bus ends meanwhile
    (the worker shutting down). Its outcome is recorded before the loop returns, not dropped
    with its exception never retrieved."""
    storage, health, tracker = _Storage(), MeterHealth(), CompletenessTracker("Asia/Shanghai")
    collector = _collector(storage, health, tracker)
    first, last = _meter(1), _meter(2)
    on_bus: asyncio.Future[list[Reading]] = asyncio.get_running_loop().create_future()
    collector._pending.add((last.id, 0))
    collector._waiting[on_bus] = ((last.id, 0), last, SPEC, SLOT)
    on_bus.add_done_callback(collector._read_ended)

    def store(readings: list[Reading], *, then: Callable[[bool], None] | None = None) -> Any:
        storage.calls.append([r.meter for r in readings])
        if then is not None:
            then(True)
        if not on_bus.done():  # the bus closes while this hand-off is being stored
            on_bus.set_exception(BusClosed("bus bus: shutting down"))
        return asyncio.sleep(0)

    collector._on_readings = store
    _ended(collector, first, [_reading(first.id)])
    collector.stop()
    await collector._completions()
    assert storage.calls == [["m1"], ["m2"]]
    assert tracker.meter_day(last.id, SLOT.date()).failures == {"shutdown": 1}
    assert not collector._waiting
    assert not collector._ended


async def test_a_good_read_is_handed_on_from_the_callback_and_counted_once_stored() -> None:
    """With a put door, a read that ended well needs no completions loop: its readings are
    handed on as the worker's future ends, and it counts as received only once stored."""
    storage, health, tracker = _Storage(), MeterHealth(), CompletenessTracker("Asia/Shanghai")
    put = _Put()
    collector = _collector(storage, health, tracker, put)
    meter = _meter(1)
    _ended(collector, meter, [_reading(meter.id)])
    assert put.calls == [["m1"]]
    assert storage.calls == []
    assert not collector._ended
    assert collector.stats.succeeded == 1
    assert tracker.meter_day(meter.id, SLOT.date()).received == 0
    put.settle(True)
    assert tracker.meter_day(meter.id, SLOT.date()).received == 1


async def test_with_a_put_door_outcomes_still_keep_their_order() -> None:
    """A failure waits in the completions loop; a good read ending after it goes behind it,
    and a meter that failed before takes the loop's path (it may raise a health event)."""
    storage, health, tracker = _Storage(), MeterHealth(offline_after=1), CompletenessTracker()
    put = _Put()
    collector = _collector(storage, health, tracker, put)
    back, failing, plain = _meter(1), _meter(2), _meter(3)
    health.failure(back.id, "timeout", SLOT - timedelta(minutes=5))  # offline now
    _ended(collector, back, [_reading(back.id)])
    _ended(collector, failing, ReadFailed(FailureReason.TIMEOUT, "no reply"))
    _ended(collector, plain, [_reading(plain.id)])
    assert put.calls == []
    collector.stop()
    await collector._completions()
    assert storage.calls == [["m1"], ["m2"], ["m3"]]
    assert storage.health == [("m1", HealthChange.CAME_ONLINE), ("m2", HealthChange.WENT_OFFLINE)]
    _ended(collector, back, [_reading(back.id)])  # healthy again: the callback's path
    assert put.calls == [["m1"]]


async def test_readings_not_stored_count_as_not_received() -> None:
    storage, health, tracker = _Storage(), MeterHealth(), CompletenessTracker("Asia/Shanghai")
    put = _Put()
    collector = _collector(storage, health, tracker, put)
    meter = _meter(1)
    _ended(collector, meter, [_reading(meter.id)])
    put.settle(False)
    day = tracker.meter_day(meter.id, SLOT.date())
    assert day.received == 0
    assert day.failures == {"not_stored": 1}
