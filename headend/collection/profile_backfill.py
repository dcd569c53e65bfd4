"""Interval backfill from the meter's load profile: missed 15-minute values re-read (补抄).

A plan with ``load_profile_hours = N`` has the collector remember the slots whose read failed
(completeness ``backfillable``). Each backfill pass asks each such DL/T 645-2007 meter for the
load profile records from its earliest missed slot of the last N hours, and stores, for each
missed slot the records cover, the values of that read's quantities at the slot time with
quality ``backfilled``. The completeness tracker counts a slot once: ``record_backfill`` only
turns a remembered failure into a received slot, and forgets it, so a second pass or a value
also read live does not count again. Slots older than the window are forgotten (they stay
failures). A read with a quantity a load profile does not carry (``power_outage_count``...)
stays a gap.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from headend.bus.link import BusLink
from headend.collection.collector import ReadingsHandler
from headend.collection.completeness import CompletenessTracker
from headend.config.fleet import MeterConfig
from headend.drivers.dlt645.load_profile import ProfileRead, read_load_profile
from headend.errors import ReadFailed
from protocols.dlt645.load_profile import MAX_COUNT, QUANTITIES
from storage.records import Reading

log = logging.getLogger(__name__)

PROTOCOL = "dlt645-2007"
RECORD_STEP = timedelta(minutes=15)
"""The count asked for assumes 15-minute records (the usual 负荷记录 interval): enough records
to reach the last missed slot; a meter recording more often covers a shorter span."""

ProfileRunner = Callable[
    [MeterConfig, Callable[[BusLink], Awaitable[ProfileRead]]], Awaitable[ProfileRead]
]


@dataclass(slots=True)
class ProfileBackfillStats:
    slots: int = 0
    """Missed slots filled from a load profile."""
    readings: int = 0
    failures: int = 0
    """Load profile reads that failed (the next pass asks again)."""
    bad_blocks: int = 0
    """Records the meters marked bad (E0 E0), skipped."""


@dataclass(slots=True)
class ProfileBackfill:
    tz: ZoneInfo
    completeness: CompletenessTracker
    timeout_of: Callable[[MeterConfig], float] = lambda meter: 1.0
    stats: ProfileBackfillStats = field(default_factory=ProfileBackfillStats)

    async def run_pass(
        self,
        meters: list[MeterConfig],
        hours: dict[str, int],
        now: datetime,
        run: ProfileRunner,
        emit: ReadingsHandler,
    ) -> list[Reading]:
        """Fill the missed slots of ``meters`` (one bus, in turn) from their load profiles."""
        stored: list[Reading] = []
        for meter in meters:
            if meter.protocol != PROTOCOL:
                continue
            since = now - timedelta(hours=hours[meter.id])
            # A read with a quantity no load profile carries stays a gap as a whole; other
            # groups' failures (daily frozen days) are the frozen backfill's.
            ours = [
                (group, slot)
                for group, slot in self.completeness.failed_slots(meter.id)
                if all(q in QUANTITIES for q in group.split(","))
            ]
            self.completeness.forget_failed(meter.id, [key for key in ours if key[1] < since])
            wanted = {
                (group, slot): tuple(group.split(",")) for group, slot in ours if slot >= since
            }
            if not wanted:
                continue
            readings = await self._fill(meter, wanted, run)
            if readings:
                await emit(readings)
                stored.extend(readings)
        return stored

    async def _fill(
        self,
        meter: MeterConfig,
        wanted: dict[tuple[str, datetime], tuple[str, ...]],
        run: ProfileRunner,
    ) -> list[Reading]:
        first = min(slot for _, slot in wanted)
        last = max(slot for _, slot in wanted)
        count = min(MAX_COUNT, (last - first) // RECORD_STEP + 1)
        quantities = sorted({q for names in wanted.values() for q in names})
        timeout = self.timeout_of(meter)

        async def action(link: BusLink) -> ProfileRead:
            return await read_load_profile(
                link, meter, first, count, self.tz, quantities, reply_timeout=timeout
            )

        try:
            profile = await run(meter, action)
        except ReadFailed as exc:
            self.stats.failures += 1
            log.info("meter %s: load profile not read: %s", meter.id, exc.detail)
            return []
        self.stats.bad_blocks += profile.bad_blocks
        at_slot: dict[datetime, dict[str, Reading]] = {}
        for reading in profile.readings:
            at_slot.setdefault(reading.timestamp, {})[reading.quantity] = reading
        filled: list[Reading] = []
        for (group, slot), names in sorted(wanted.items(), key=lambda item: item[0][1]):
            values = at_slot.get(slot, {})
            if not all(name in values for name in names):
                continue  # the records do not cover this slot (yet): the next pass asks again
            if self.completeness.record_backfill(meter.id, group, slot):
                self.stats.slots += 1
                filled.extend(values[name] for name in names)
        self.stats.readings += len(filled)
        return filled
