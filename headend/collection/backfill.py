"""Daily frozen values and backfill (补抄): every day's billing value, however late it arrives.

A meter freezes its registers at 00:00 every day and keeps the last freezes (``0506xxNN``:
NN = 1 is the latest; up to 62 in Q/GDW 1354, so a plan's ``backfill_days`` reaches 62).
Reading yesterday's value is the same job as reading a
day that was missed last week, so there is one mechanism: a pass that, for each meter, finds
the days of the backfill window without a stored frozen value and reads them from the meter's
records. The latest freeze read on its own day is ``actual``; anything older is
``backfilled``. Passes repeat (hourly by default) for as many days as the window is long:
a meter that was unreachable for three days is filled in when it comes back, not forgotten.

The read of one record is the meter's driver's (``Capability.FROZEN``; DL/T 645:
``headend.drivers.dlt645.frozen``); this module decides which records to read and how they count.
The record number of a day is derived from the meter's own latest freeze time, not from our
calendar, so a meter whose clock or freeze schedule is off by a day still gets each value
stamped with the time the meter says it froze it.

Stored names follow one scheme: a frozen value is stored under the name of the register it
froze (``energy_active_import_total``) with ``ReadingKind.FROZEN``; the kind, not the name, tells
it from the interval reads of the same register, so billing asks for one name and gets both.
The catalogue's ``frozen_`` names only select the data identifiers to read. The freeze time
(``frozen_time``) is not a value of its own: it is the timestamp of the frozen readings.
Stores written before this rule hold ``frozen_energy_active_import_*``; billing still reads them
(``storage.billing.LEGACY_FROZEN_PREFIX``).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from zoneinfo import ZoneInfo

from headend.bus.link import BusLink
from headend.collection.collector import ReadingsHandler
from headend.collection.completeness import CompletenessTracker
from headend.config.fleet import MeterConfig
from headend.drivers.base import FrozenDay
from headend.drivers.registry import driver_for
from headend.errors import ReadFailed
from storage.records import FailureReason, Quality, Reading

log = logging.getLogger(__name__)

GROUP = "daily_frozen"
FROZEN_TOTAL = "energy_active_import_total"
"""The stored name (kind frozen) of the daily billing value."""


Runner = Callable[[MeterConfig, Callable[[BusLink], Awaitable[FrozenDay]]], Awaitable[FrozenDay]]
"""Runs a bus action for a meter on its channel's billing lane."""


class _Count(enum.Enum):
    """How completeness counts a frozen day once it is stored."""

    ACTUAL = "actual"
    """Today's freeze, read on time."""
    RETRIED = "retried"
    """A day whose read failed earlier: now backfilled."""
    LATE = "late"
    """A past day never attempted (the head-end was down or just installed): backfilled."""


@dataclass(frozen=True, slots=True)
class _Found:
    day: date
    count: _Count
    readings: tuple[Reading, ...]


@dataclass(slots=True)
class BackfillStats:
    passes: int = 0
    actual: int = 0
    backfilled: int = 0
    failures: int = 0
    given_up: int = 0


@dataclass(slots=True)
class FrozenBackfill:
    tz: ZoneInfo
    completeness: CompletenessTracker
    timeout_of: Callable[[MeterConfig], float] = lambda meter: 1.0
    """The reply timeout of the meter's channel."""
    history: int | None = None
    """At most this many freezes are asked for (None: as many as the meter's protocol reaches,
    ``Driver.frozen_records``: 62 for DL/T 645-2007, 0506xx01..3E)."""
    stats: BackfillStats = field(default_factory=BackfillStats)
    _have: dict[str, set[date]] = field(default_factory=dict)
    _failed: dict[str, set[date]] = field(default_factory=dict)
    _absent: dict[str, set[date]] = field(default_factory=dict)
    """Days the meter answered "no requested data" for: a freeze it does not hold now it will
    never hold (records only age), so asking again each pass only costs bus time."""

    def collected(self, meter_id: str) -> set[date]:
        return set(self._have.get(meter_id, ()))

    def mark_collected(self, meter_id: str, day: date) -> None:
        """Seed from storage at start-up so a restart does not re-read the whole window."""
        self._have.setdefault(meter_id, set()).add(day)

    def missing_days(self, meter_id: str, today: date, window: int) -> list[date]:
        have = self._have.get(meter_id, set())
        absent = self._absent.get(meter_id, set())
        days = (today - timedelta(days=offset) for offset in range(window))
        return sorted(day for day in days if day not in have and day not in absent)

    async def run_pass(
        self,
        meters: list[MeterConfig],
        windows: dict[str, int],
        now: datetime,
        run: Runner,
        emit: ReadingsHandler,
    ) -> list[Reading]:
        """One pass over ``meters``; returns the frozen readings it collected.

        Each meter's values go to ``emit`` as soon as they are read, not at the end of the
        pass (which takes minutes on a large bus): a stop mid-pass keeps what was read.
        """
        self.stats.passes += 1
        today = now.astimezone(self.tz).date()
        collected: list[Reading] = []
        for meter in meters:
            window = min(windows[meter.id], self._records(meter))
            self._give_up_before(meter.id, today - timedelta(days=window - 1))
            missing = self.missing_days(meter.id, today, window)
            if not missing:
                continue
            found = await self._fill(meter, missing, today, run)
            if found:
                readings = [reading for item in found for reading in item.readings]
                await emit(readings, then=partial(self._committed, meter.id, found))
                collected.extend(readings)
        return collected

    async def _fill(
        self, meter: MeterConfig, missing: list[date], today: date, run: Runner
    ) -> list[_Found]:
        found: list[_Found] = []
        have = self._have.setdefault(meter.id, set())
        if today in have:
            anchor = today  # the latest freeze is today's and we have it: no need to ask again
        else:
            try:
                latest = await run(meter, self._action(meter, 1, Quality.ACTUAL))
            except ReadFailed as exc:
                self._count_failures(meter, missing, exc.reason.value)
                return found
            self._store(meter, latest, today, found)
            anchor = latest.day
        for day in reversed(missing):
            if day in have:
                continue
            record = (anchor - day).days + 1
            if not 1 <= record <= self._records(meter):
                continue
            try:
                frozen = await run(meter, self._action(meter, record, Quality.BACKFILLED))
            except ReadFailed as exc:
                self._count_failures(meter, [day], exc.reason.value)
                if exc.reason is not FailureReason.ERROR_RESPONSE:
                    return found  # the meter stopped answering: next pass
                if driver_for(meter.protocol).holds_no_record(exc):
                    self._record_absent(meter.id, day)
                continue  # no such record (a hole, or before installation): the next day may be
            self._store(meter, frozen, today, found)
        return found

    def _records(self, meter: MeterConfig) -> int:
        records = driver_for(meter.protocol).frozen_records(meter)
        return records if self.history is None else min(records, self.history)

    def _action(
        self, meter: MeterConfig, record: int, quality: Quality
    ) -> Callable[[BusLink], Awaitable[FrozenDay]]:
        timeout = self.timeout_of(meter)
        driver = driver_for(meter.protocol)

        async def action(link: BusLink) -> FrozenDay:
            return await driver.read_frozen(
                link, meter, record, self.tz, quality=quality, reply_timeout=timeout
            )

        return action

    def _store(self, meter: MeterConfig, frozen: FrozenDay, today: date, out: list[_Found]) -> None:
        have = self._have.setdefault(meter.id, set())
        if frozen.day in have:
            return
        have.add(frozen.day)  # not read twice in this pass; forgotten again if not stored
        if frozen.day in self._failed.get(meter.id, ()):
            out.append(_Found(frozen.day, _Count.RETRIED, _backfilled(frozen)))
        elif frozen.day == today:
            out.append(_Found(frozen.day, _Count.ACTUAL, frozen.readings))
        else:  # never attempted before (e.g. the head-end was down): still a backfill
            out.append(_Found(frozen.day, _Count.LATE, _backfilled(frozen)))

    def _committed(self, meter_id: str, found: list[_Found], stored: bool) -> None:
        """Completeness counts a frozen day once it is stored; a day the writer dropped
        (storage refusing writes) is read again by the next pass."""
        failed = self._failed.setdefault(meter_id, set())
        for item in found:
            if not stored:
                self._have.get(meter_id, set()).discard(item.day)
                continue
            slot = _slot_key(item.day, self.tz)
            if item.count is _Count.ACTUAL:
                self.completeness.record_success(meter_id, GROUP, slot)
                self.stats.actual += 1
                continue
            if item.count is _Count.LATE:
                self.completeness.record_failure(
                    meter_id, GROUP, slot, "not_collected_in_time", backfillable=True
                )
            failed.discard(item.day)
            self.completeness.record_backfill(meter_id, GROUP, slot)
            self.stats.backfilled += 1

    def _record_absent(self, meter_id: str, day: date) -> None:
        self._absent.setdefault(meter_id, set()).add(day)
        self._failed.get(meter_id, set()).discard(day)
        self.stats.given_up += 1
        log.info(
            "meter %s: holds no daily freeze for %s (no requested data); not asked again, "
            "billing sees 'not collected'",
            meter_id,
            day.isoformat(),
        )

    def _give_up_before(self, meter_id: str, first_day: date) -> None:
        absent = self._absent.get(meter_id, set())
        absent.difference_update([day for day in absent if day < first_day])
        failed = self._failed.get(meter_id, set())
        lost = sorted(day for day in failed if day < first_day)
        for day in lost:
            failed.discard(day)
            self.stats.given_up += 1
            log.warning(
                "meter %s: daily frozen value of %s is beyond the meter's records; "
                "it stays missing (billing sees 'not collected')",
                meter_id,
                day.isoformat(),
            )

    def _count_failures(self, meter: MeterConfig, days: list[date], reason: str) -> None:
        failed = self._failed.setdefault(meter.id, set())
        for day in days:
            self.stats.failures += 1
            if day not in failed:
                failed.add(day)
                self.completeness.record_failure(
                    meter.id, GROUP, _slot_key(day, self.tz), reason, backfillable=True
                )


def _slot_key(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), tz)


def _as_backfilled(reading: Reading) -> Reading:
    if reading.quality is Quality.BACKFILLED:
        return reading
    return Reading(
        reading.meter,
        reading.quantity,
        reading.value,
        reading.unit,
        reading.timestamp,
        kind=reading.kind,
        quality=Quality.BACKFILLED,
        tags=reading.tags,
    )


def _backfilled(frozen: FrozenDay) -> tuple[Reading, ...]:
    return tuple(_as_backfilled(reading) for reading in frozen.readings)
