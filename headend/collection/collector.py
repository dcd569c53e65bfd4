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
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, partial
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


ReadingsPut = Callable[[list[Reading], Callable[[bool], None] | None], None]
"""``ReadingsHandler`` without waiting (``LiveReadings.put``): what a read that ended well is
handed to from the worker's callback, with no task woken for it."""

HealthHandler = Callable[[MeterConfig, HealthChange, str], Awaitable[None]]

_Context = tuple[tuple[str, int], MeterConfig, ReadSpec, datetime]
"""What a read on the bus is for: (meter, spec index) key, meter, spec, slot."""
_Ended = tuple[
    "asyncio.Future[list[Reading]] | None",
    tuple[str, int],
    MeterConfig,
    ReadSpec,
    datetime,
    "str | None",
]
"""A read that ended (its future), or a slot missed before the bus (no future, the reason)."""

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
        put_readings: ReadingsPut | None = None,
    ) -> None:
        """``put_readings`` (the same door as ``on_readings``, without awaiting) lets a read
        that ended well be recorded in the worker's callback; without it every outcome goes
        through the completions loop."""
        self.worker = worker
        self.stats = CollectorStats()
        self._plans = plans
        self._clock = clock
        self._read_factory = read_factory
        self._on_readings = on_readings
        self._put = put_readings
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
        self._context: contextvars.Context | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._waiting: dict[asyncio.Future[list[Reading]], _Context] = {}
        """Reads on the bus, by the worker's future: what to record when each ends."""
        self._ended: deque[_Ended] = deque()
        self._ended_ready = asyncio.Event()
        self._real_per_clock = 1.0
        """Real seconds per second of the collector's clock, as of the last ``_fire``."""
        self._label_slot: datetime | None = None
        self._label_text = ""

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
        self._ended_ready.set()  # the completions loop returns once no read is left on the bus
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
                self._loop = loop
                group.create_task(self._completions())
                self._fire()
                await self._stopped  # then the TaskGroup waits for reads in flight
        finally:
            self._disarm()
            self._loop = None

    def _fire(self) -> None:
        """Send every read that is due, then sleep until the next one."""
        self._timer = None
        try:
            now = self._clock.now().timestamp()
            heap = self._heap
            # Each read's due time on the loop's clock, for its lag once the bus takes it
            # (``_timed``): no clock reading or datetime arithmetic per read.
            assert self._loop is not None
            loop_now = self._loop.time()
            self._real_per_clock = real_per_clock = self._clock.real_seconds(1.0) or 1.0
            while heap and heap[0][0] <= now and not self._stopping:
                start, _, entry = heapq.heappop(heap)
                clocks = self._clocks.get(entry.meter_id)
                if clocks is not entry.clocks:
                    continue  # removed or replaced since this entry was scheduled
                meter = self._meters[entry.meter_id]
                index = entry.spec_index
                due = entry.due
                # The same entry goes back with the pair's next due read: one object per pair
                # for the collector's life, not one per slot.
                entry.due = following = clocks[index].after(due)
                self._seq += 1
                heapq.heappush(heap, (following.start_at.timestamp(), self._seq, entry))
                due_at = loop_now + (start - now) * real_per_clock
                self._dispatch(meter, index, due.slot, self._plans[meter.plan].reads[index], due_at)
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
        self, meter: MeterConfig, index: int, slot: datetime, spec: ReadSpec, due_at: float
    ) -> None:
        """Queue one due read on the bus (``due_at``: when it was due, in loop time). No task
        per read: the worker's future calls back, and the callback (or, for outcomes that
        need more, one loop per collector, ``_completions``) turns it into readings."""
        self.stats.scheduled += 1
        key = (meter.id, index)
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
            self._missed(meter, spec, slot, OVERRUN)
            return
        health = self._health
        if health.is_offline(meter.id) and not health.should_send(meter.id, self._clock.now()):
            self.stats.skipped_offline += 1
            self._missed(meter, spec, slot, OFFLINE)
            return
        self._pending.add(key)
        self.stats.sent += 1
        action = self._timed(self._read_factory(meter, spec.quantities, slot), due_at)
        future = self.worker.submit(
            spec.lane, self._label(meter.id, slot), action, on_done=self._read_ended
        )
        self._waiting[future] = (key, meter, spec, slot)

    def _label(self, meter_id: str, slot: datetime) -> str:
        """The job's label for the bus log; the slot's text is made once per slot, not per read
        (a due slot is shared by every meter of the plan)."""
        if slot != self._label_slot:
            self._label_slot = slot
            self._label_text = f"{slot:%H:%M}"
        return f"{meter_id} {self._label_text}"

    def _missed(self, meter: MeterConfig, spec: ReadSpec, slot: datetime, reason: str) -> None:
        self._ended.append((None, (meter.id, -1), meter, spec, slot, reason))
        self._ended_ready.set()

    def _read_ended(self, future: asyncio.Future[list[Reading]]) -> None:
        key, meter, spec, slot = self._waiting.pop(future)
        # The usual outcome is recorded here, unless earlier outcomes still wait in the
        # completions loop (they go first, in order).
        if self._put is not None and not self._ended and self._took(future, key, meter, spec):
            try:
                self._put(future.result(), partial(self._stored, meter.id, spec, slot))
            except Exception:  # a bug downstream must not lose the slot silently
                log.exception("channel %s: meter %s: readings not handed on", self.name, meter.id)
                self._completeness.record_failure(meter.id, _group(spec), slot, INTERNAL_ERROR)
            return
        self._ended.append((future, key, meter, spec, slot, None))
        self._ended_ready.set()

    def _took(
        self,
        future: asyncio.Future[list[Reading]],
        key: tuple[str, int],
        meter: MeterConfig,
        spec: ReadSpec,
    ) -> bool:
        """Count a read that ended well (values, or nothing asked for) from a meter with no
        failure to reset; False leaves every other outcome to ``_complete``."""
        if future.cancelled() or future.exception() is not None:
            return False
        readings = future.result()
        if readings and all(r.quality is Quality.MISSING for r in readings):
            return False
        if not self._health.is_healthy(meter.id):
            return False  # it failed before: ``_complete`` resets it and raises any event
        self._pending.discard(key)
        self.stats.succeeded += 1
        if self._lagging and not self._pending:
            log.info("channel %s: caught up", self.name)
            self._lagging = False
        return True

    async def _completions(self) -> None:
        """Turn every ended read into readings, in the order the reads ended, until the
        collector stops and no read is left on the bus. Cancelled (abrupt shutdown), it gives
        up the reads still queued, as a task per read awaiting its future did."""
        ended = self._ended
        batch: list[Reading] = []
        stored: list[tuple[str, ReadSpec, datetime]] = []
        try:
            while True:
                while ended:
                    future, key, meter, spec, slot, reason = ended.popleft()
                    if future is not None and self._collected(
                        future, key, meter, spec, slot, batch, stored
                    ):
                        continue
                    if batch:  # what ended before this outcome goes first, in order
                        await self._publish(batch, stored)
                        batch, stored = [], []
                    if future is None:
                        assert reason is not None
                        await self._record_missing(meter, spec, slot, reason)
                    else:
                        await self._complete(future, key, meter, spec, slot)
                if batch:
                    await self._publish(batch, stored)
                    batch, stored = [], []
                # The last hand-off awaited: reads may have ended meanwhile, and are recorded
                # before the loop may return.
                if self._stopping and not self._waiting and not ended:
                    return
                if ended:
                    continue
                self._ended_ready.clear()
                await self._ended_ready.wait()
        finally:
            for future in list(self._waiting):
                future.cancel()
            for future, *_ in ended:  # cancelled mid-way: outcomes nobody will record
                if future is not None and future.done() and not future.cancelled():
                    future.exception()

    def _collected(
        self,
        future: asyncio.Future[list[Reading]],
        key: tuple[str, int],
        meter: MeterConfig,
        spec: ReadSpec,
        slot: datetime,
        batch: list[Reading],
        stored: list[tuple[str, ReadSpec, datetime]],
    ) -> bool:
        """The usual outcome, taken without awaiting anything: values from a meter that was
        online. Its readings join ``batch``, published with the others that ended alongside
        (one hand-off to the unit gate, anomaly intake and writer for many reads); every
        other outcome is left to ``_complete`` (False)."""
        if not self._took(future, key, meter, spec):
            return False
        batch.extend(future.result())
        stored.append((meter.id, spec, slot))
        return True

    async def _publish(
        self, readings: list[Reading], stored: list[tuple[str, ReadSpec, datetime]]
    ) -> None:
        # Received once stored: a reading the writer drops never reached billing.
        await self._on_readings(readings, then=partial(self._stored_all, stored))

    def _stored_all(self, reads: list[tuple[str, ReadSpec, datetime]], stored: bool) -> None:
        for meter_id, spec, slot in reads:
            self._stored(meter_id, spec, slot, stored)

    def _timed(self, action: BusAction, due_at: float) -> BusAction:
        # Called by the worker as the read starts; a plain function returning the read's
        # awaitable keeps one frame out of the await chain every resumption walks. The lag is
        # in clock seconds: real seconds late over the real length of one clock second.
        loop = self._loop
        real_per_clock = self._real_per_clock

        def timed(connection: Any) -> Awaitable[list[Reading]]:
            late = (loop.time() if loop is not None else due_at) - due_at
            lag = late / real_per_clock
            self.stats.lag_seconds = max(0.0, lag)
            self.stats.max_lag_seconds = max(self.stats.max_lag_seconds, lag)
            return action(connection)

        return timed

    async def _complete(
        self,
        future: asyncio.Future[list[Reading]],
        key: tuple[str, int],
        meter: MeterConfig,
        spec: ReadSpec,
        slot: datetime,
    ) -> None:
        if future.cancelled():  # given up by whoever cancelled it: no outcome to record
            self._pending.discard(key)
            return
        exc = future.exception()
        if exc is not None:
            try:
                await self._failed(exc, meter, spec, slot)
            finally:
                self._pending.discard(key)
            return
        self._pending.discard(key)
        readings = future.result()
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

    async def _failed(
        self, exc: BaseException, meter: MeterConfig, spec: ReadSpec, slot: datetime
    ) -> None:
        if isinstance(exc, BusClosed):
            await self._record_missing(meter, spec, slot, SHUTDOWN)
        elif isinstance(exc, ReadFailed):
            self.stats.failed += 1
            change = self._health.failure(meter.id, exc.reason.value, self._clock.now())
            if change is not None:
                await self._on_health(meter, change, exc.detail)
            await self._record_missing(meter, spec, slot, exc.reason.value)
        elif isinstance(exc, Exception):
            # A bug in a reader: the worker logged it; the slot is still a gap.
            self.stats.failed += 1
            await self._record_missing(meter, spec, slot, INTERNAL_ERROR)
        else:
            raise exc

    def _stored(self, meter_id: str, spec: ReadSpec, slot: datetime, stored: bool) -> None:
        if stored:
            self._completeness.record_success(meter_id, _group_of(spec.quantities), slot)
        else:
            self._completeness.record_failure(meter_id, _group(spec), slot, NOT_STORED)

    async def _record_missing(
        self, meter: MeterConfig, spec: ReadSpec, slot: datetime, reason: str
    ) -> None:
        # A plan that re-reads missed slots from the load profile keeps them for the pass.
        backfillable = self._plans[meter.plan].load_profile_hours > 0
        self._completeness.record_failure(
            meter.id, _group(spec), slot, reason, backfillable=backfillable
        )
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
    return _group_of(spec.quantities)


@cache
def _group_of(quantities: tuple[str, ...]) -> str:
    return ",".join(quantities)
