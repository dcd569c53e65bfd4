"""What a meter-day's collection came to, and the KPIs summed from meter-days.

A meter is due a daily frozen value for each day it is in service; the outcome of that
meter-day is read from what billing holds (``storage.billing.daily_values``), so the KPI can
never disagree with the billing read: ``actual`` is a first-attempt success, ``backfilled`` a
success by re-read (补抄), anything else (nothing stored, only failed reads, an estimate) is
missing, because an estimate is not a collected value. Every group's figures (terminal,
channel, transformer, building) are sums over the same meter-days.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Final

from storage.billing import DailyValue, DayState
from storage.records import Quality

DIMENSIONS: Final = ("terminal", "channel", "transformer", "building", "meter")
UNASSIGNED: Final = "(none)"
"""The group of meters the dimension does not apply to (a bus meter has no terminal)."""


class Outcome(enum.StrEnum):
    FIRST_ATTEMPT = "first_attempt"
    BACKFILLED = "backfilled"
    MISSING = "missing"


_RANK: Final = {Outcome.FIRST_ATTEMPT: 0, Outcome.BACKFILLED: 1, Outcome.MISSING: 2}


def better(one: Outcome, other: Outcome) -> Outcome:
    """The better of two outcomes of one meter-day (a collected value is never un-collected)."""
    return one if _RANK[one] <= _RANK[other] else other


def outcome_of(value: DailyValue) -> Outcome:
    if value.state is DayState.COLLECTED and value.quality is Quality.ACTUAL:
        return Outcome.FIRST_ATTEMPT
    if value.state is DayState.COLLECTED and value.quality is Quality.BACKFILLED:
        return Outcome.BACKFILLED
    return Outcome.MISSING


@dataclass(frozen=True, slots=True)
class MeterDue:
    """A meter due a daily value, with where it sits ("" where a dimension does not apply)."""

    meter: str
    terminal: str = ""
    channel: str = ""
    transformer: str = ""
    building: str = ""

    def group(self, by: str) -> str:
        if by not in DIMENSIONS:
            raise ValueError(f"unknown KPI dimension {by!r}: one of {', '.join(DIMENSIONS)}")
        value: str = getattr(self, by)
        return value or UNASSIGNED


@dataclass(frozen=True, slots=True)
class MeterDay:
    day: date
    due: MeterDue
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class KpiRow:
    group: str
    day: date
    due: int
    first_attempt: int
    backfilled: int

    @property
    def missing(self) -> int:
        return self.due - self.first_attempt - self.backfilled

    @property
    def success_rate(self) -> float:
        """Collected (either way) / due: the daily collection success rate; 1.0 if none due."""
        return (self.first_attempt + self.backfilled) / self.due if self.due else 1.0

    @property
    def first_attempt_rate(self) -> float:
        return self.first_attempt / self.due if self.due else 1.0

    @property
    def backfill_rate(self) -> float:
        """Of the meter-days the first attempt missed, the share a re-read recovered."""
        needed = self.due - self.first_attempt
        return self.backfilled / needed if needed else 1.0


def rollup(meter_days: Iterable[MeterDay], by: str) -> list[KpiRow]:
    """One row per (group, day), sorted, each the sum of its meter-days."""
    sums: dict[tuple[str, date], list[int]] = {}
    for item in meter_days:
        tally = sums.setdefault((item.due.group(by), item.day), [0, 0, 0])
        tally[0] += 1
        if item.outcome is Outcome.FIRST_ATTEMPT:
            tally[1] += 1
        elif item.outcome is Outcome.BACKFILLED:
            tally[2] += 1
    ordered = sorted(sums.items(), key=lambda item: (item[0][1], item[0][0]))
    return [
        KpiRow(group, day, due, first, backfilled)
        for (group, day), (due, first, backfilled) in ordered
    ]


def total(meter_days: Iterable[MeterDay], day: date) -> KpiRow:
    """The whole site's row for ``day``."""
    items = [item for item in meter_days if item.day == day]
    first = sum(item.outcome is Outcome.FIRST_ATTEMPT for item in items)
    backfilled = sum(item.outcome is Outcome.BACKFILLED for item in items)
    return KpiRow("total", day, len(items), first, backfilled)
