"""When backfill runs: one pass over the fleet, the loop of passes, and the seed at start.

``backfill.py`` knows how to find and read one meter's missing frozen days; this module
decides which meters a pass covers (their plan wants daily frozen values), runs the buses in
parallel and their meters in turn, and after a restart marks the days already stored so they
are not read again.

The same passes read the event logs a plan names (``events = ["cover_open", ...]``): each
meter's new records become stored events (``headend.drivers.dlt645.events``). Which records
are stored with their end is remembered per (meter, kind, start), so a pass asks only for the
newest record once the log is known; after a restart the log is read again and storage, which
keys events by (meter, event, time), keeps one copy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from headend.bus.lanes import Lane
from headend.bus.worker import BusWorker
from headend.clock import Clock
from headend.collection.backfill import FROZEN_TOTAL, FrozenBackfill
from headend.collection.collector import ReadingsHandler
from headend.collection.completeness import CompletenessTracker
from headend.collection.downtime import restore_frozen_days
from headend.collection.profile_backfill import ProfileBackfill
from headend.collection.registry import MeterRegistry
from headend.config.fleet import FleetConfig, MeterConfig
from headend.drivers.base import Capability, LoggedEvent
from headend.drivers.registry import driver_for
from headend.errors import ReadFailed
from storage.billing import BillingSource, frozen_points
from storage.records import EventRecord, FailureReason, Reading

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EventLogStats:
    events: int = 0
    """Logged events read and handed to storage."""
    failures: int = 0
    """Event log reads that failed (the next pass asks again)."""


class BackfillPasses:
    def __init__(
        self,
        backfill: FrozenBackfill,
        *,
        config: FleetConfig,
        registry: MeterRegistry,
        workers: Mapping[str, BusWorker[Any]],
        clock: Clock,
        completeness: CompletenessTracker,
        publish: ReadingsHandler,
        interval: float,
        record_events: Callable[[list[EventRecord]], None] | None = None,
    ) -> None:
        """``interval``: seconds of engine-clock time between passes (one right after start);
        ``record_events``: where the meters' logged events go (storage, then MQTT)."""
        self.backfill = backfill
        self._config = config
        self._registry = registry
        self._workers = workers
        self._clock = clock
        self._completeness = completeness
        self._publish = publish
        self._interval = interval
        self._tz = ZoneInfo(config.timezone)
        self._record_events = record_events
        self._events_over: set[tuple[str, str, datetime]] = set()
        """(meter, kind, start) of logged events stored with their end: not read again."""
        self.events_stats = EventLogStats()
        self.profile = ProfileBackfill(
            self._tz, completeness, timeout_of=lambda meter: config.channels[meter.channel].timeout
        )

    async def run_pass(self) -> list[Reading]:
        """Read missing daily frozen values of every meter whose plan wants them."""
        meters = [
            m
            for m in self._registry
            if self._config.plans[m.plan].daily_frozen
            and driver_for(m.protocol).supports(Capability.FROZEN)
        ]
        windows = {m.id: self._config.plans[m.plan].backfill_days for m in meters}
        return await self._over_buses(meters, windows, "frozen", self.backfill.run_pass)

    async def run_profile_pass(self) -> list[Reading]:
        """Re-read missed interval values from the load profiles of plans that ask for it."""
        meters = [m for m in self._registry if self._config.plans[m.plan].load_profile_hours]
        hours = {m.id: self._config.plans[m.plan].load_profile_hours for m in meters}
        return await self._over_buses(meters, hours, "load profile", self.profile.run_pass)

    async def _over_buses(
        self,
        meters: list[MeterConfig],
        windows: dict[str, int],
        what: str,
        bus_pass: Callable[..., Coroutine[Any, Any, list[Reading]]],
    ) -> list[Reading]:
        """``bus_pass`` over each bus's meters, the buses in parallel and the meters of one bus
        in turn, each meter's read queued on its bus's billing lane."""

        async def run(meter: MeterConfig, action: Any) -> Any:
            return await self._workers[meter.channel].call(
                Lane.BILLING, f"{what} {meter.id}", action
            )

        now = self._clock.now()
        by_channel: dict[str, list[MeterConfig]] = {}
        for meter in meters:
            by_channel.setdefault(meter.channel, []).append(meter)
        async with asyncio.TaskGroup() as group:
            passes = [
                group.create_task(bus_pass(channel_meters, windows, now, run, self._publish))
                for channel_meters in by_channel.values()
            ]
        return [reading for done in passes for reading in done.result()]

    async def run_event_pass(self) -> list[EventRecord]:
        """Read the new records of the event logs each meter's plan names."""
        meters = [
            m
            for m in self._registry
            if self._config.plans[m.plan].events
            and driver_for(m.protocol).supports(Capability.EVENTS)
        ]
        by_channel: dict[str, list[MeterConfig]] = {}
        for meter in meters:
            by_channel.setdefault(meter.channel, []).append(meter)
        async with asyncio.TaskGroup() as group:
            passes = [
                group.create_task(self._read_logs(channel_meters))
                for channel_meters in by_channel.values()
            ]
        return [record for done in passes for record in done.result()]

    async def _read_logs(self, meters: list[MeterConfig]) -> list[EventRecord]:
        stored: list[EventRecord] = []
        for meter in meters:
            for kind in self._config.plans[meter.plan].events:
                try:
                    logged = await self._read_log(meter, kind)
                except ReadFailed as exc:
                    self.events_stats.failures += 1
                    log.info("meter %s: event log %s not read: %s", meter.id, kind, exc.detail)
                    if exc.reason is not FailureReason.ERROR_RESPONSE:
                        break  # the meter stopped answering: its other logs next pass
                    continue
                records = [record for event in logged for record in event.records]
                if records and self._record_events is not None:
                    self._record_events(records)
                self.events_stats.events += len(logged)
                self._events_over.update(
                    (meter.id, kind, event.start) for event in logged if event.over
                )
                stored.extend(records)
        return stored

    async def _read_log(self, meter: MeterConfig, kind: str) -> list[LoggedEvent]:
        driver = driver_for(meter.protocol)
        timeout = self._config.channels[meter.channel].timeout

        def known(start: datetime) -> bool:
            return (meter.id, kind, start) in self._events_over

        async def action(link: Any) -> list[LoggedEvent]:
            return await driver.read_events(
                link, meter, kind, self._tz, known=known, reply_timeout=timeout
            )

        result: list[LoggedEvent] = await self._workers[meter.channel].call(
            Lane.BILLING, f"events {meter.id} {kind}", action
        )
        return result

    async def loop(self) -> None:
        while True:
            try:
                await self.run_pass()
            except Exception:  # a bug must not stop collection; the next pass tries again
                log.exception("backfill pass crashed")
            try:
                await self.run_profile_pass()
            except Exception:
                log.exception("load profile pass crashed")
            try:
                await self.run_event_pass()
            except Exception:
                log.exception("event log pass crashed")
            await asyncio.sleep(self._clock.real_seconds(self._interval))

    async def seed(self, history: BillingSource) -> None:
        """Days whose frozen value is already stored need not be read again after a restart."""
        meters = [m.id for m in self._registry if self._config.plans[m.plan].daily_frozen]
        if not meters:
            return
        window = max(plan.backfill_days for plan in self._config.plans.values()) + 1
        now = self._clock.now()
        try:
            points = await frozen_points(
                history,
                meters,
                [FROZEN_TOTAL],
                now - timedelta(days=window),
                now + timedelta(days=1),
            )
        except Exception as exc:  # seeding saves bus time; without it backfill still works
            log.warning("backfill: cannot read stored frozen values: %s", exc)
            return
        for point in points:
            if point.value is not None:
                local_day = point.timestamp.astimezone(self._tz).date()
                self.backfill.mark_collected(point.meter, local_day)
        restore_frozen_days(self._completeness, points, self._tz)
