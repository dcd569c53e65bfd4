"""Collection completeness (采集成功率): expected versus received reads, with failure reasons.

Counted per meter and local day; bus, transformer and building figures are sums over their
meters, so there is one source of truth and the roll-ups cannot disagree with it. A read that
failed and was later backfilled counts as received (and as backfilled), because what the
utility is judged on is whether the value reached the billing system.

The tallies live in memory and are rebuilt from storage at start
(``headend.collection.downtime``): every stored slot of the recent days counts again, so a
restart does not reset the day's figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

_DAY_CACHE = 4096
"""Slots whose local day is kept (jittered or backfilled slots are many; the cache restarts)."""


@dataclass(slots=True)
class DayTally:
    expected: int = 0
    received: int = 0
    backfilled: int = 0
    _failures: Counter[str] | None = field(default=None, repr=False)

    @property
    def failures(self) -> Counter[str]:
        """Failed slots by reason; made on first use, since most meter-days have none (a
        ``Counter`` per meter and day was a visible share of the first read of each day)."""
        if self._failures is None:
            self._failures = Counter()
        return self._failures

    @property
    def success_rate(self) -> float:
        """Received / expected; 1.0 for a day with nothing expected yet."""
        return self.received / self.expected if self.expected else 1.0

    def add(self, other: DayTally) -> None:
        self.expected += other.expected
        self.received += other.received
        self.backfilled += other.backfilled
        if other._failures:
            self.failures.update(other._failures)


@dataclass(frozen=True, slots=True)
class CompletenessRow:
    group: str
    day: date
    expected: int
    received: int
    backfilled: int
    success_rate: float
    failures: dict[str, int]


class CompletenessTracker:
    def __init__(self, timezone: str = "Asia/Shanghai") -> None:
        self._tz = ZoneInfo(timezone)
        self._tallies: dict[tuple[str, date], DayTally] = {}
        self._failed_slots: dict[str, set[tuple[str, datetime]]] = {}
        """Meter -> (group, slot) of backfillable failures: a pass asks per meter."""
        self._days: dict[datetime, date] = {}
        """Slot -> local day: every meter of a plan shares its slots, so the time zone
        conversion is made once per slot, not once per read."""

    def local_day(self, at: datetime) -> date:
        day = self._days.get(at)
        if day is None:
            if len(self._days) >= _DAY_CACHE:
                self._days.clear()
            day = self._days[at] = at.astimezone(self._tz).date()
        return day

    def _tally(self, meter_id: str, slot: datetime) -> DayTally:
        key = (meter_id, self.local_day(slot))
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = DayTally()
        return tally

    def record_success(self, meter_id: str, group: str, slot: datetime) -> None:
        tally = self._tally(meter_id, slot)
        tally.expected += 1
        tally.received += 1

    def record_failure(
        self, meter_id: str, group: str, slot: datetime, reason: str, *, backfillable: bool = False
    ) -> None:
        """A slot that did not arrive; ``backfillable`` ones are remembered so a later backfill
        can count them as received (others would only grow the memory)."""
        tally = self._tally(meter_id, slot)
        tally.expected += 1
        tally.failures[reason] += 1
        if backfillable:
            self._failed_slots.setdefault(meter_id, set()).add((group, slot))

    def record_backfill(self, meter_id: str, group: str, slot: datetime) -> bool:
        """A previously failed slot arrived through backfill; False if it was never missing."""
        failed = self._failed_slots.get(meter_id)
        if failed is None or (group, slot) not in failed:
            return False
        failed.discard((group, slot))
        tally = self._tally(meter_id, slot)
        tally.received += 1
        tally.backfilled += 1
        return True

    def failed_slots(self, meter_id: str) -> list[tuple[str, datetime]]:
        """(group, slot) of the meter's backfillable slots still missing, oldest first."""
        return sorted(self._failed_slots.get(meter_id, ()), key=lambda key: (key[1], key[0]))

    def forget_failed(self, meter_id: str, keys: Iterable[tuple[str, datetime]]) -> None:
        """Backfill no longer reaches these (group, slot): stop remembering them (they stay
        failures)."""
        failed = self._failed_slots.get(meter_id)
        if failed:
            failed.difference_update(keys)

    def restore(
        self, meter_id: str, slot: datetime, received: bool, reason: str | None, backfilled: bool
    ) -> None:
        """Count a slot found in storage at start-up, so a restart keeps the day's figures."""
        tally = self._tally(meter_id, slot)
        tally.expected += 1
        if received:
            tally.received += 1
            if backfilled:
                tally.backfilled += 1
        else:
            tally.failures[reason or "unknown"] += 1

    def meter_day(self, meter_id: str, day: date) -> DayTally:
        return self._tallies.get((meter_id, day), DayTally())

    def rollup(self, day: date, group_of: Callable[[str], str | None]) -> list[CompletenessRow]:
        """Sum meter tallies of ``day`` into groups (bus, transformer, building, or the meter)."""
        sums: dict[str, DayTally] = {}
        for (meter_id, tally_day), tally in self._tallies.items():
            if tally_day != day:
                continue
            group = group_of(meter_id)
            if group is None:
                continue
            sums.setdefault(group, DayTally()).add(tally)
        return [_row(group, day, tally) for group, tally in sorted(sums.items())]

    def days(self) -> Iterable[date]:
        return sorted({day for _, day in self._tallies})


def _row(group: str, day: date, tally: DayTally) -> CompletenessRow:
    return CompletenessRow(
        group=group,
        day=day,
        expected=tally.expected,
        received=tally.received,
        backfilled=tally.backfilled,
        success_rate=tally.success_rate,
        failures=dict(tally.failures),
    )
