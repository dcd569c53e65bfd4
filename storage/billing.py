"""Billing reads: daily frozen values and interval energy for meters and a period, with gaps.

Billing must never mistake "not collected yet" for zero, so every (meter, day, quantity) of the
period gets a row: either the stored value with its quality, or ``DayState.NOT_COLLECTED``.
The same assembly runs on every store; stores only implement ``BillingSource``.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Final, Protocol

from storage.errors import QueryError
from storage.records import Quality, ReadingKind

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
    """Daily frozen values (one row per meter, day and quantity) and interval energy, in memory.

    For a small period and fleet; large requests go through ``daily_values`` and
    ``interval_points`` a few meters at a time (``meter_chunks``), as the API streams them.
    """
    if (meters is None) == (transformer is None):
        raise ValueError("billing_report needs exactly one of meters= or transformer=")
    if transformer is not None:
        meter_list = sorted(await source.meters_of_transformer(transformer))
    else:
        meter_list = list(dict.fromkeys(meters or ()))
    daily = await daily_values(source, meter_list, quantities, start, end, tz)
    intervals = await interval_points(source, meter_list, quantities, start, end, tz)
    return BillingReport(start, end, tuple(meter_list), tuple(daily), tuple(intervals))


async def daily_values(
    source: BillingSource,
    meters: Sequence[str],
    quantities: Sequence[str],
    start: date,
    end: date,
    tz: tzinfo,
) -> list[DailyValue]:
    """One row per meter, day and quantity, in that order, ``not_collected`` where nothing is.

    A frozen value belongs to the local day (in ``tz``) of its freeze timestamp. When several
    values exist for a day, the best quality wins (actual, backfilled, estimated), then the latest.
    """
    first, after = period_bounds(start, end, tz)
    frozen = await frozen_points(source, meters, quantities, first, after)
    best: dict[tuple[str, date, str], StoredPoint] = {}
    for point in frozen:
        key = (point.meter, point.timestamp.astimezone(tz).date(), point.quantity)
        current = best.get(key)
        if current is None or _better(point, current):
            best[key] = point
    daily: list[DailyValue] = []
    for meter in meters:
        for offset in range((end - start).days + 1):
            day = start + timedelta(days=offset)
            for quantity in quantities:
                daily.append(_daily_value(meter, day, quantity, best.get((meter, day, quantity))))
    return daily


async def interval_points(
    source: BillingSource,
    meters: Sequence[str],
    quantities: Sequence[str],
    start: date,
    end: date,
    tz: tzinfo,
    *,
    ordered: bool = True,
) -> list[StoredPoint]:
    """The interval register reads (kind energy) of the period, by meter, quantity and time.

    ``ordered=False`` leaves the sorting (``order_intervals``) to the caller, e.g. to a thread.
    """
    first, after = period_bounds(start, end, tz)
    points = await source.stored_points(ReadingKind.ENERGY, meters, quantities, first, after)
    return order_intervals(points, meters) if ordered else points


def order_intervals(points: list[StoredPoint], meters: Sequence[str]) -> list[StoredPoint]:
    """Sort in place by the order of ``meters``, then quantity and time; returns ``points``."""
    order = {meter: index for index, meter in enumerate(meters)}
    points.sort(key=lambda point: (order.get(point.meter, -1), point.quantity, point.timestamp))
    return points


def meter_chunks(meters: Sequence[str], days: int, meter_days: int) -> Iterator[Sequence[str]]:
    """The meters in groups of at most ``meter_days`` meter-days (at least one meter each).

    Why: a chunk's rows are what one query returns and what is held in memory at a time.
    """
    size = max(1, meter_days // max(1, days))
    for first in range(0, len(meters), size):
        yield meters[first : first + size]


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


def parse_quality(text: object, where: str) -> Quality:
    """A stored quality string back to the enum, with a clear error for anything else."""
    try:
        return Quality(str(text))
    except ValueError:
        raise QueryError(f"{where}: unknown quality {text!r}") from None
