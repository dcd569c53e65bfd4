"""What the VEE routes compute, per billing point: the chain of meters from the archive, the
stored daily rows of every meter of it, the operators' edits, estimation and consumption.

The arithmetic is ``storage.vee`` / ``storage.consumption`` (sans-IO); this module only asks
the store and the archive for the inputs. Reads are fetched ``MARGIN_DAYS`` beyond the period
on both sides, so a gap at the period's edge can still be estimated between real reads.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta, tzinfo
from pathlib import Path
from typing import Final

from storage.archive.edits import RegisterEdit
from storage.archive.records import ArchiveMeter, MeterExchange, MeterRole
from storage.archive.store import ArchiveStore
from storage.billing import (
    BillingSource,
    DailyValue,
    StoredPoint,
    daily_values,
    period_bounds,
)
from storage.consumption import DailyConsumption, daily_consumption
from storage.records import ReadingKind
from storage.vee.determinants import Determinant, determinants, settlement_days
from storage.vee.estimate import (
    PROFILE_REACH,
    estimate_from_profile,
    estimate_linear,
    missing_reads,
)
from storage.vee.reads import (
    MeterChain,
    RegisterTable,
    days_from,
    freeze_instant,
    register_reads,
)
from storage.vee.rules import Finding, validate

MARGIN_DAYS: Final = 7
SETTLEMENT_PREFIX: Final = "settlement_"
"""A meter's own settlement record of a register, when a store holds it, as frozen points."""
CLOCK_DRIFT: Final = "clock_drift"
"""The state reading a clock check stores (``commands.clock``)."""
TOTAL: Final = "energy_active_import_total"


@dataclass(frozen=True, slots=True)
class ArchiveView:
    """What VEE needs of the archive, read once per request."""

    meters: dict[str, ArchiveMeter]
    exchanges: tuple[MeterExchange, ...]
    edits: tuple[RegisterEdit, ...]

    @property
    def multipliers(self) -> dict[str, float]:
        return {m.id: m.multiplier for m in self.meters.values()}

    def chain(self, meter: str) -> MeterChain:
        return MeterChain.of(meter, self.exchanges)

    def occupied(self, day: date) -> set[str]:
        """Households in service: the ones the zero-consumption rule judges."""
        return {
            m.id
            for m in self.meters.values()
            if m.kind is MeterRole.HOUSEHOLD and m.in_service(day)
        }


EMPTY_ARCHIVE: Final = ArchiveView({}, (), ())


def _read_archive(path: Path | None, start: date, end: date) -> ArchiveView:
    if path is None or not path.exists():  # a GET does not create the file
        return EMPTY_ARCHIVE
    with ArchiveStore.open(path) as archive:
        meters = {m.id: m for m in archive.meters()}
        exchanges = tuple(archive.exchanges())
        margin = timedelta(days=MARGIN_DAYS)  # estimates lean on reads beyond the period
        edits = archive.edits_for(None, start - margin, end + margin)
    return ArchiveView(meters, exchanges, tuple(edits))


async def archive_view(path: Path | None, start: date, end: date) -> ArchiveView:
    """The archive's meters, exchanges and the edits of ``start`` to ``end``, in a thread.

    Edits of meters the fleet reads but the archive does not list are found too: an edit
    needs no archive row, only the file."""
    return await asyncio.to_thread(_read_archive, path, start, end)


@dataclass(frozen=True, slots=True)
class PointReads:
    meter: str
    chain: MeterChain
    table: RegisterTable


async def point_reads(
    source: BillingSource,
    view: ArchiveView,
    meters: Sequence[str],
    days: Sequence[date],
    quantities: Sequence[str],
    tz: tzinfo,
    *,
    estimate: bool,
    settlement: bool = False,
) -> list[PointReads]:
    """Register reads of every day of ``days`` (and ``MARGIN_DAYS`` around them) for each
    billing point, from one store query for all their meters."""
    chains = [view.chain(meter) for meter in meters]
    first, last = min(days) - timedelta(days=MARGIN_DAYS), max(days) + timedelta(days=MARGIN_DAYS)
    window = days_from(first, last)
    members = list(dict.fromkeys(m for chain in chains for m in chain.meters))
    asked = [SETTLEMENT_PREFIX + q for q in quantities] if settlement else list(quantities)
    rows = await daily_values(source, members, asked, first, last, tz)
    by_meter: dict[str, list[DailyValue]] = {}
    for row in rows:
        by_meter.setdefault(row.meter, []).append(_unprefixed(row) if settlement else row)
    edits = [] if settlement else list(view.edits)
    found = []
    for meter, chain in zip(meters, chains, strict=True):
        own = [row for m in chain.meters for row in by_meter.get(m, ())]
        table = register_reads(chain, own, edits, window, quantities, tz, view.multipliers)
        if estimate and not settlement:
            asked_days = set(days)  # the margin days only lend anchors to the linear rule
            missing = sorted({r.day for r in missing_reads(table) if r.day in asked_days})
            if missing:
                points = await profile_points(source, chain, missing, quantities, tz)
                estimate_from_profile(table, points)
            estimate_linear(table, window, quantities)
        found.append(PointReads(meter, chain, table))
    return found


async def profile_points(
    source: BillingSource,
    chain: MeterChain,
    days: Sequence[date],
    quantities: Sequence[str],
    tz: tzinfo,
) -> list[StoredPoint]:
    """The interval register reads around the freezes of ``days`` (sorted), one store query
    per run of consecutive days."""
    runs: list[list[date]] = []
    for day in days:
        if runs and day - runs[-1][-1] == timedelta(days=1):
            runs[-1].append(day)
        else:
            runs.append([day])
    points: list[StoredPoint] = []
    for run in runs:
        first = freeze_instant(run[0], tz) - PROFILE_REACH
        after = freeze_instant(run[-1], tz) + PROFILE_REACH + timedelta(seconds=1)
        points += await source.stored_points(
            ReadingKind.ENERGY, chain.meters, quantities, first, after
        )
    return points


def _unprefixed(row: DailyValue) -> DailyValue:
    return replace(row, quantity=row.quantity.removeprefix(SETTLEMENT_PREFIX))


async def consumption_of(
    source: BillingSource,
    view: ArchiveView,
    meters: Sequence[str],
    start: date,
    end: date,
    quantities: Sequence[str],
    tz: tzinfo,
    *,
    estimate: bool,
) -> list[DailyConsumption]:
    """Daily consumption rows, by meter, day and quantity."""
    days = days_from(start, end)
    points = await point_reads(
        source, view, meters, [*days, end + timedelta(days=1)], quantities, tz, estimate=estimate
    )
    rows: list[DailyConsumption] = []
    for reads in points:
        rows += daily_consumption(reads.meter, reads.table, days, quantities)
    return rows


async def findings_of(
    source: BillingSource,
    view: ArchiveView,
    meters: Sequence[str],
    start: date,
    end: date,
    quantities: Sequence[str],
    tz: tzinfo,
) -> list[Finding]:
    """Every validation rule over the period's consumption (estimates left out: a rule
    judges what the meters said) and the clock checks stored in it."""
    rows = await consumption_of(source, view, meters, start, end, quantities, tz, estimate=False)
    first, after = period_bounds(start, end, tz)
    points = await source.stored_points(ReadingKind.STATE, meters, [CLOCK_DRIFT], first, after)
    drifts = [(p.meter, p.timestamp, p.value) for p in points if p.value is not None]
    return validate(
        rows,
        meters,
        days_from(start, end),
        TOTAL,
        occupied=view.occupied(end),
        drifts=drifts,
        tz=tz,
    )


async def determinants_of(
    source: BillingSource,
    view: ArchiveView,
    meters: Sequence[str],
    year: int,
    month: int,
    settlement_day: int,
    quantities: Sequence[str],
    tz: tzinfo,
) -> list[Determinant]:
    """Per meter and quantity, the month from its settlement day to the next one's."""
    opens, closes = settlement_days(year, month, settlement_day)
    ends = [opens, closes]
    daily = await point_reads(source, view, meters, ends, quantities, tz, estimate=True)
    settled = await point_reads(
        source, view, meters, ends, quantities, tz, estimate=False, settlement=True
    )
    found: list[Determinant] = []
    for by_day, by_settlement in zip(daily, settled, strict=True):
        found += determinants(
            by_day.meter,
            year,
            month,
            settlement_day,
            daily=by_day.table,
            settlement=by_settlement.table,
            quantities=quantities,
        )
    return found
