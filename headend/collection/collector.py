"""Automatic collection on one channel: when each meter's reads are due, and what came of them.

One collector per bus worker. It keeps a heap of the next due read of every (meter, read spec)
pair and hands each to the worker's lane when its start time comes. Every due slot ends as
readings: values, or missing readings with the reason (timeout, checksum, meter offline, bus
overrun ...). A slot is never dropped silently: if the previous read of the same pair is still
waiting for the bus when the next is due, the bus cannot keep up — the new slot is recorded
missing with reason ``bus_overrun``, the lag metric grows and a warning is logged once.

The collector waits on the event loop's own timer (one ``call_at`` armed for the head of the
heap, re-armed as it moves) rather than in a task around ``asyncio.timeout``: a slot costs one
timer callback, as in a bare ``call_at`` loop, instead of a task wake-up, a cancelled timeout and
two exceptions. The heap is ordered by plain (start timestamp, sequence) tuples, compared in C.
"""

from __future__ import annotations

import asyncio
import contextvars
import heapq
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol

from headend.bus.worker import BusWorker
from headend.clock import Clock
from headend.collection.completeness import CompletenessTracker
from headend.collection.health import HealthChange, MeterHealth
from headend.collection.schedule import Due, ReadClock
from headend.config.fleet import MeterConfig, PlanConfig, ReadSpec
from headend.drivers.quantities import unit_and_kind
from headend.errors import BusClosed, ReadFailed
from storage.records import FailureReason, Quality, Reading

log = logging.getLogger(__name__)

BusAction = Callable[[Any], Awaitable[list[Reading]]]
ReadFactory = Callable[[MeterConfig, Sequence[str], datetime], BusAction]
"""Builds the bus action that reads these quantities of this meter for this slot."""


class ReadingsHandler(Protocol):
    """Takes readings to storage; ``then`` is told once they are stored (True) or dropped."""

    def __call__(
        self, readings: list[Reading], *, then: Callable[[bool], None] | None = None
    ) -> Awaitable[None]: ...


HealthHandler = Callable[[MeterConfig, HealthChange, str], Awaitable[None]]

OFFLINE = FailureReason.METER_OFFLINE.value
OVERRUN = FailureReason.BUS_OVERRUN.value
SHUTDOWN = FailureReason.SHUTDOWN.value
HEADEND_DOWN = FailureReason.HEADEND_DOWN.value
INTERNAL_ERROR = "internal_error"
NOT_STORED = "not_stored"
"""Read, but dropped by the writer while storage refused writes: not received."""


@dataclass(slots=True)
class CollectorStats:
    scheduled: int = 0
    sent: int = 0
    succeeded: int = 0
    failed: int = 0
    skipped_offline: int = 0
    overruns: int = 0
    lag_seconds: float = 0.0
    """How late (in clock seconds) the most recent read started after its due time."""
    max_lag_seconds: float = 0.0


class _Entry:
    """The next due read of one (meter, read spec) pair. ``clocks`` is the meter's schedule it
    was taken from: once ``set_meter`` replaced or dropped that, the entry is stale."""

    __slots__ = ("clocks", "due", "meter_id", "spec_index")

    def __init__(
        self, meter_id: str, spec_index: int, due: Due, clocks: tuple[ReadClock, ...]
    ) -> None:
        self.meter_id = meter_id
        self.spec_index = spec_index
        self.due = due
        self.clocks = clocks


_HeapItem = tuple[float, int, _Entry]
"""(start timestamp, sequence, entry): the sequence keeps equal starts in push order, so an
entry is never compared."""


class ChannelCollector:
    def __init__(
        self,
        *,
        worker: BusWorker[Any],
        plans: dict[str, PlanConfig],
        clock: Clock,
        read_factory: ReadFactory,
        on_readings: ReadingsHandler,
        on_health: HealthHandler,
        health: MeterHealth,
        completeness: CompletenessTracker,
        jitter: float = 2.0,
    ) -> None:
        self.worker = worker
        self.stats = CollectorStats()
        self._plans = plans
        self._clock = clock
        self._read_factory = read_factory
        self._on_readings = on_readings
        self._on_health = on_health
        self._health = health
        self._completeness = completeness
        self._jitter = jitter
        self._meters: dict[str, MeterConfig] = {}
        self._clocks: dict[str, tuple[ReadClock, ...]] = {}
        """Each meter's schedule, one clock per read spec of its plan."""
        self._heap: list[_HeapItem] = []
        self._seq = 0
        self._pending: set[tuple[str, int]] = set()
        self._lagging = False
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._group: asyncio.TaskGroup | None = None
        self._context: contextvars.Context | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._stopped: asyncio.Future[None] | None = None

    @property
    def name(self) -> str:
        return self.worker.name

    def set_meter(self, meter_id: str, meter: MeterConfig | None) -> None:
        """Start (or restart) reading a meter, or stop when ``meter`` is None.

        The meter's entries already in the heap become stale (their ``clocks`` are no longer
        its own) and are dropped as they come due."""
        self._clocks.pop(meter_id, None)
        if meter is None:
            self._meters.pop(meter_id, None)
            return
        self._meters[meter_id] = meter
        now = self._clock.now()
        clocks = tuple(
            ReadClock(meter_id, spec.interval, jitter=self._jitter)
            for spec in self._plans[meter.plan].reads
        )
        self._clocks[meter_id] = clocks
        for index, clock in enumerate(clocks):
            self._push(meter_id, index, clock.first_due(now), clocks)
        self._arm(now.timestamp())

    def _push(
        self, meter_id: str, spec_index: int, due: Due, clocks: tuple[ReadClock, ...]
    ) -> None:
        self._seq += 1
        entry = _Entry(meter_id, spec_index, due, clocks)
        heapq.heappush(self._heap, (due.start_at.timestamp(), self._seq, entry))

    def first_slots(self) -> dict[tuple[str, int], datetime]:
        """The first slot still to be read of each (meter, read spec index) pair."""
        first: dict[tuple[str, int], datetime] = {}
        for _, _, entry in self._heap:
            if entry.clocks is not self._clocks.get(entry.meter_id):
                continue
            key = (entry.meter_id, entry.spec_index)
            if key not in first or entry.due.slot < first[key]:
                first[key] = entry.due.slot
        return first

    def read_spec(self, meter_id: str, spec_index: int) -> tuple[MeterConfig, ReadSpec]:
        meter = self._meters[meter_id]
        return meter, self._plans[meter.plan].reads[spec_index]

    def headend_down(
        self, meter_id: str, spec_index: int, slots: Sequence[datetime]
    ) -> list[Reading]:
        """Slots that fell due while the head-end was not running: counted as failed
        (``headend_down``); returns their missing readings for the caller to store."""
        meter, spec = self.read_spec(meter_id, spec_index)
        missing = []
        for slot in slots:
            self._completeness.record_failure(meter.id, _group(spec), slot, HEADEND_DOWN)
            missing.extend(_missing(meter, spec, slot, HEADEND_DOWN))
        return missing

    def stop(self) -> None:
        """Send no more reads; ``run`` returns once the reads already sent have ended."""
        self._stopping = True
        self._disarm()
        if self._stopped is not None and not self._stopped.done():
            self._stopped.set_result(None)

    async def run(self) -> None:
        """Hand each read to the bus as it comes due, until ``stop()``.

        The reads are sent from the timer's callback (``_fire``) into this TaskGroup; this
        coroutine only holds the group open. A bug in sending ends ``run`` with its exception,
        as it would have from a loop here."""
        if self._stopping:
            return
        loop = asyncio.get_running_loop()
        self._stopped = loop.create_future()
        # The reads' tasks start in the context of ``run``, not of whoever armed the timer.
        self._context = contextvars.copy_context()
        try:
            async with asyncio.TaskGroup() as group:
                self._loop, self._group = loop, group
                self._fire()
                await self._stopped  # then the TaskGroup waits for reads in flight
        finally:
            self._disarm()
            self._loop = self._group = None

    def _fire(self) -> None:
        """Send every read that is due, then sleep until the next one."""
        self._timer = None
        group = self._group
        assert group is not None  # armed only inside run()
        try:
            now = self._clock.now().timestamp()
            heap = self._heap
            while heap and heap[0][0] <= now and not self._stopping:
                entry = heapq.heappop(heap)[2]
                clocks = self._clocks.get(entry.meter_id)
                if clocks is not entry.clocks:
                    continue  # removed or replaced since this entry was scheduled
                meter = self._meters[entry.meter_id]
                index = entry.spec_index
                self._push(entry.meter_id, index, clocks[index].after(entry.due), clocks)
                self._dispatch(group, meter, entry, self._plans[meter.plan].reads[index])
            self._arm(now)
        except Exception as exc:
            if self._stopped is not None and not self._stopped.done():
                self._stopped.set_exception(exc)

    def _arm(self, now: float) -> None:
        """Wake ``_fire`` when the head of the heap is due (``now``: this clock's timestamp),
        unless an earlier wake is armed already. Nothing is armed outside ``run``."""
        if self._loop is None or self._stopping or not self._heap:
            return
        when = self._loop.time() + self._clock.real_seconds(self._heap[0][0] - now)
        if self._timer is not None:
            if self._timer.when() <= when:
                return
            self._timer.cancel()
        self._timer = self._loop.call_at(when, self._fire, context=self._context)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _dispatch(
        self, group: asyncio.TaskGroup, meter: MeterConfig, entry: _Entry, spec: ReadSpec
    ) -> None:
        self.stats.scheduled += 1
        slot = entry.due.slot
        key = (meter.id, entry.spec_index)
        if key in self._pending:
            self.stats.overruns += 1
            if not self._lagging:
                log.warning(
                    "channel %s: cannot keep up: meter %s slot %s still waiting for the bus "
                    "when the next is due (queue depth %d)",
                    self.name,
                    meter.id,
                    slot.isoformat(),
                    self.worker.depth(),
                )
                self._lagging = True
            group.create_task(self._record_missing(meter, spec, slot, OVERRUN))
            return
        if not self._health.should_send(meter.id, self._clock.now()):
            self.stats.skipped_offline += 1
            group.create_task(self._record_missing(meter, spec, slot, OFFLINE))
            return
        self._pending.add(key)
        self.stats.sent += 1
        action = self._timed(self._read_factory(meter, spec.quantities, slot), entry.due)
        future = self.worker.submit(spec.lane, f"{meter.id} {slot:%H:%M}", action)
        group.create_task(self._complete(future, key, meter, spec, slot))

    def _timed(self, action: BusAction, due: Due) -> BusAction:
        async def timed(connection: Any) -> list[Reading]:
            lag = (self._clock.now() - due.start_at).total_seconds()
            self.stats.lag_seconds = max(0.0, lag)
            self.stats.max_lag_seconds = max(self.stats.max_lag_seconds, lag)
            return await action(connection)

        return timed

    async def _complete(
        self,
        future: asyncio.Future[list[Reading]],
        key: tuple[str, int],
        meter: MeterConfig,
        spec: ReadSpec,
        slot: datetime,
    ) -> None:
        try:
            readings = await future
        except BusClosed:
            await self._record_missing(meter, spec, slot, SHUTDOWN)
            return
        except ReadFailed as exc:
            self.stats.failed += 1
            change = self._health.failure(meter.id, exc.reason.value, self._clock.now())
            if change is not None:
                await self._on_health(meter, change, exc.detail)
            await self._record_missing(meter, spec, slot, exc.reason.value)
            return
        except Exception:  # a bug in a reader: the worker logged it; the slot is still a gap
            self.stats.failed += 1
            await self._record_missing(meter, spec, slot, INTERNAL_ERROR)
            return
        finally:
            self._pending.discard(key)
        if readings and all(r.quality is Quality.MISSING for r in readings):
            # The meter answered but refused or could not give any value: alive, not collected.
            self.stats.failed += 1
            self._health.success(meter.id)
            reason = readings[0].reason or FailureReason.NOT_AVAILABLE.value
            self._completeness.record_failure(meter.id, _group(spec), slot, reason)
            await self._on_readings(readings)
            return
        self.stats.succeeded += 1
        if self._lagging and not self._pending:
            log.info("channel %s: caught up", self.name)
            self._lagging = False
        change = self._health.success(meter.id)
        if change is not None:
            await self._on_health(meter, change, "answered again")
        # Received once stored: a reading the writer drops never reached billing.
        await self._on_readings(readings, then=partial(self._stored, meter.id, spec, slot))

    def _stored(self, meter_id: str, spec: ReadSpec, slot: datetime, stored: bool) -> None:
        if stored:
            self._completeness.record_success(meter_id, _group(spec), slot)
        else:
            self._completeness.record_failure(meter_id, _group(spec), slot, NOT_STORED)

    async def _record_missing(
        self, meter: MeterConfig, spec: ReadSpec, slot: datetime, reason: str
    ) -> None:
        self._completeness.record_failure(meter.id, _group(spec), slot, reason)
        await self._on_readings(_missing(meter, spec, slot, reason))


def _missing(meter: MeterConfig, spec: ReadSpec, slot: datetime, reason: str) -> list[Reading]:
    tags = meter.tags()
    missing = []
    for quantity in spec.quantities:
        unit, kind = unit_and_kind(meter, quantity)
        missing.append(
            Reading.missing(meter.id, quantity, unit, slot, reason, kind=kind, tags=tags)
        )
    return missing


def _group(spec: ReadSpec) -> str:
    """Completeness counts one read of a spec as one expected read, named by its quantities."""
    return ",".join(spec.quantities)
