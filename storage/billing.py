"""Billing reads: daily frozen values and interval energy for meters and a period, with gaps.

Billing must never mistake "not collected yet" for zero, so every (meter, day, quantity) of the
period gets a row: either the stored value with its quality, or ``DayState.NOT_COLLECTED``.
The same assembly runs on every store; stores only implement ``BillingSource``.
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final, Protocol, TextIO

from headend.readings import Quality, ReadingKind
from storage.errors import QueryError

DEFAULT_BILLING_QUANTITIES: Final = ("energy_active_import_total",)
LEGACY_FROZEN_PREFIX: Final = "frozen_"
"""Stores written before the one naming scheme hold frozen values as ``frozen_<register>``."""
_QUALITY_RANK: Final = {
    Quality.ACTUAL: 0,
    Quality.BACKFILLED: 1,
    Quality.ESTIMATED: 2,
    Quality.MISSING: 3,
}


class DayState(enum.StrEnum):
    """Whether a billing day has a usable value yet."""

    COLLECTED = "collected"
    NOT_COLLECTED = "not_collected"


@dataclass(frozen=True, slots=True)
class StoredPoint:
    """One point as a store returns it: a reading without kind and tags."""

    meter: str
    quantity: str
    timestamp: datetime
    value: float | None
    unit: str
    quality: Quality
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DailyValue:
    """The frozen value of one quantity of one meter for one day, or the fact that it is absent.

    ``reason`` is set when the only stored attempts were failed reads.
    """

    meter: str
    day: date
    quantity: str
    state: DayState
    value: float | None = None
    unit: str = ""
    quality: Quality | None = None
    timestamp: datetime | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class BillingReport:
    """Everything billing needs for a period (``start`` to ``end``, both days included)."""

    start: date
    end: date
    meters: tuple[str, ...]
    daily: tuple[DailyValue, ...]
    intervals: tuple[StoredPoint, ...]

    @property
    def not_collected(self) -> tuple[DailyValue, ...]:
        """The days still missing, for the backfill worklist."""
        return tuple(row for row in self.daily if row.state is DayState.NOT_COLLECTED)


class BillingSource(Protocol):
    """What a store must answer for billing."""

    async def meters_of_transformer(self, transformer: str) -> list[str]:
        """Meters that have stored anything tagged with this transformer."""

    async def stored_points(
        self,
        kind: ReadingKind,
        meters: Sequence[str],
        quantities: Sequence[str],
        start: datetime,
        end: datetime,
    ) -> list[StoredPoint]:
        """Points of this kind with ``start <= timestamp < end``, any order."""


def period_bounds(start: date, end: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """UTC instants of local midnight at ``start`` and after ``end``."""
    if end < start:
        raise ValueError(f"billing period ends ({end}) before it starts ({start})")
    first = datetime.combine(start, time(), tzinfo=tz).astimezone(UTC)
    after = datetime.combine(end + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)
    return first, after


async def billing_report(
    source: BillingSource,
    *,
    start: date,
    end: date,
    meters: Sequence[str] | None = None,
    transformer: str | None = None,
    quantities: Sequence[str] = DEFAULT_BILLING_QUANTITIES,
    tz: tzinfo = UTC,
) -> BillingReport:
    """Daily frozen values (one row per meter, day and quantity) and interval energy.

    A frozen value belongs to the local day (in ``tz``) of its freeze timestamp. When several
    values exist for a day, the best quality wins (actual, backfilled, estimated), then the latest.
    """
    if (meters is None) == (transformer is None):
        raise ValueError("billing_report needs exactly one of meters= or transformer=")
    if transformer is not None:
        meter_list = sorted(await source.meters_of_transformer(transformer))
    else:
        meter_list = list(dict.fromkeys(meters or ()))
    first, after = period_bounds(start, end, tz)
    frozen = await frozen_points(source, meter_list, quantities, first, after)
    intervals = await source.stored_points(ReadingKind.ENERGY, meter_list, quantities, first, after)
    best: dict[tuple[str, date, str], StoredPoint] = {}
    for point in frozen:
        key = (point.meter, point.timestamp.astimezone(tz).date(), point.quantity)
        current = best.get(key)
        if current is None or _better(point, current):
            best[key] = point
    daily: list[DailyValue] = []
    for meter in meter_list:
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            for quantity in quantities:
                daily.append(_daily_value(meter, day, quantity, best.get((meter, day, quantity))))
    intervals.sort(key=lambda point: (point.meter, point.quantity, point.timestamp))
    return BillingReport(start, end, tuple(meter_list), tuple(daily), tuple(intervals))


async def frozen_points(
    source: BillingSource,
    meters: Sequence[str],
    quantities: Sequence[str],
    start: datetime,
    end: datetime,
) -> list[StoredPoint]:
    """Frozen points of these registers, including those stored under the legacy names.

    A frozen value is stored under the name of the register it froze, with kind frozen; older
    stores used ``frozen_<register>``. Asking for both costs one query and spares a migration.
    """
    legacy = {LEGACY_FROZEN_PREFIX + quantity: quantity for quantity in quantities}
    names = list(dict.fromkeys([*quantities, *legacy]))
    points = await source.stored_points(ReadingKind.FROZEN, meters, names, start, end)
    return [
        replace(point, quantity=legacy[point.quantity]) if point.quantity in legacy else point
        for point in points
    ]


def _better(candidate: StoredPoint, current: StoredPoint) -> bool:
    candidate_rank = _QUALITY_RANK[candidate.quality]
    current_rank = _QUALITY_RANK[current.quality]
    if candidate_rank != current_rank:
        return candidate_rank < current_rank
    return candidate.timestamp > current.timestamp


def _daily_value(meter: str, day: date, quantity: str, point: StoredPoint | None) -> DailyValue:
    if point is None:
        return DailyValue(meter, day, quantity, DayState.NOT_COLLECTED)
    if point.quality is Quality.MISSING:
        return DailyValue(
            meter,
            day,
            quantity,
            DayState.NOT_COLLECTED,
            unit=point.unit,
            quality=Quality.MISSING,
            timestamp=point.timestamp,
            reason=point.reason,
        )
    return DailyValue(
        meter,
        day,
        quantity,
        DayState.COLLECTED,
        value=point.value,
        unit=point.unit,
        quality=point.quality,
        timestamp=point.timestamp,
    )


CSV_COLUMNS: Final = (
    "record",
    "meter",
    "quantity",
    "day",
    "timestamp_utc",
    "value",
    "unit",
    "quality",
    "state",
    "reason",
)


def write_csv(report: BillingReport, out: TextIO) -> None:
    """One CSV table: ``daily`` rows (with state) then ``interval`` rows; UTC ISO timestamps."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.daily:
        writer.writerow(
            (
                "daily",
                row.meter,
                row.quantity,
                row.day.isoformat(),
                _iso(row.timestamp),
                "" if row.value is None else repr(row.value),
                row.unit,
                row.quality.value if row.quality else "",
                row.state.value,
                row.reason or "",
            )
        )
    for point in report.intervals:
        writer.writerow(
            (
                "interval",
                point.meter,
                point.quantity,
                "",
                _iso(point.timestamp),
                "" if point.value is None else repr(point.value),
                point.unit,
                point.quality.value,
                DayState.COLLECTED.value
                if point.quality is not Quality.MISSING
                else DayState.NOT_COLLECTED.value,
                point.reason or "",
            )
        )


def _iso(timestamp: datetime | None) -> str:
    return "" if timestamp is None else timestamp.astimezone(UTC).isoformat()


def parse_quality(text: object, where: str) -> Quality:
    """A stored quality string back to the enum, with a clear error for anything else."""
    try:
        return Quality(str(text))
    except ValueError:
        raise QueryError(f"{where}: unknown quality {text!r}") from None
