"""What ``/api/area/line-loss`` computes per transformer: its meters (archive first, the fleet
file when the archive lists none), their day and recent days, and the supply meter's register
at the day's boundaries.

The arithmetic is ``storage.area`` (sans-IO); this module only gathers inputs from the store
and the archive, through the same VEE assembly billing uses (exchanges bridged, edits winning,
estimates flagged). CT x PT: the archive's ratio is what the installation has; a driver that
already stores primary values (a Modbus meter given ``ct_ratio``/``pt_ratio`` in the fleet
file) has applied its part, so only the rest is applied here, never twice (``multipliers``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo
from typing import Final

from headend.api.vee_assembly import TOTAL, ArchiveView, point_reads
from storage.archive.records import MeterRole
from storage.area.line_loss import CustomerDay, LineLoss, LineLossLimits, line_loss
from storage.area.supply import (
    ESTIMATE_REACH,
    NO_SUPPLY_METER,
    BoundaryRead,
    Supplied,
    boundary_of_freeze,
    register_at,
    supplied_between,
)
from storage.billing import BillingSource
from storage.consumption import daily_consumption
from storage.records import Quality, ReadingKind
from storage.vee.reads import RegisterTable, ValueQuality, freeze_instant

METER_VALUES: Final = frozenset({Quality.ACTUAL, Quality.BACKFILLED})
"""Interval reads a boundary may lean on: what the meter said, never an estimate."""
HISTORY_DAYS: Final = 7
"""The days before that make a customer's typical day (a week: weekdays and a weekend)."""


@dataclass(frozen=True, slots=True)
class FleetMember:
    """A meter the fleet file reads, as line loss needs it when the archive lacks it."""

    id: str
    transformer: str | None
    supply: bool
    """``kind = "transformer_lv"``."""
    stored_scale: float = 1.0
    """CT x PT its driver applies before storing (Modbus meters), 1 for DL/T 645 registers."""


@dataclass(frozen=True, slots=True)
class AreaMeters:
    """One transformer's billing points on one day."""

    supply: str | None
    customers: tuple[tuple[str, MeterRole], ...]


def transformers_known(view: ArchiveView, fleet: Iterable[FleetMember]) -> set[str]:
    found = {m.transformer for m in view.meters.values() if m.transformer}
    found.update(m.transformer for m in fleet if m.transformer)
    return found


def area_meters(
    transformer: str, day: date, view: ArchiveView, fleet: Sequence[FleetMember]
) -> AreaMeters:
    """Billing points under ``transformer`` in service on ``day``, one per meter chain (an
    exchange's two meters are one point, named by the id the fleet reads it by)."""
    read = {m.id for m in fleet}
    listed = [m for m in view.meters.values() if m.transformer == transformer]
    if not listed:  # no archive for this area: the fleet file's meters, all in service
        members = [m for m in fleet if m.transformer == transformer]
        supply = next((m.id for m in members if m.supply), None)
        loads = tuple((m.id, MeterRole.HOUSEHOLD) for m in members if not m.supply)
        return AreaMeters(supply, tuple(sorted(loads)))
    points: dict[tuple[str, ...], tuple[str, MeterRole]] = {}
    for meter in listed:
        chain = view.chain(meter.id).meters
        archived = [view.meters[m] for m in chain if m in view.meters]
        if not any(m.in_service(day) for m in archived):
            continue
        ids = [m for m in chain if m in read]
        points[chain] = (ids[-1] if ids else chain[-1], archived[-1].kind)
    supplies = sorted(p for p, kind in points.values() if kind is MeterRole.TRANSFORMER_LV)
    customers = sorted((p, k) for p, k in points.values() if k is not MeterRole.TRANSFORMER_LV)
    return AreaMeters(supplies[0] if supplies else None, tuple(customers))


def multipliers(view: ArchiveView, fleet: Sequence[FleetMember]) -> dict[str, float]:
    """CT x PT still to apply to each meter's stored register: the archive's beyond what the
    driver applied. Never below 1: an archive row left at the default 1 (or lower than the
    fleet's) must not divide a stored primary value back to the secondary side; the fleet
    file, which the driver used, stands."""
    scale = {m.id: m.stored_scale for m in fleet}
    found = {m.id: max(1.0, m.multiplier / scale.get(m.id, 1.0)) for m in view.meters.values()}
    for member in fleet:
        found.setdefault(member.id, 1.0)
    return found


async def losses_of(
    source: BillingSource,
    view: ArchiveView,
    fleet: Sequence[FleetMember],
    transformers: Sequence[str],
    day: date,
    tz: tzinfo,
    limits: LineLossLimits,
) -> list[LineLoss]:
    """One figure per transformer of ``transformers``, in that order."""
    scales = multipliers(view, fleet)
    found = []
    for transformer in transformers:
        area = area_meters(transformer, day, view, fleet)
        customers = await customer_days(source, view, area, day, tz, scales)
        supplied = await supplied_of(source, view, area.supply, day, tz, scales)
        found.append(line_loss(transformer, day, supplied, customers, limits))
    return found


async def customer_days(
    source: BillingSource,
    view: ArchiveView,
    area: AreaMeters,
    day: date,
    tz: tzinfo,
    scales: Mapping[str, float],
) -> list[CustomerDay]:
    if not area.customers:
        return []
    history = [day - timedelta(days=n) for n in range(HISTORY_DAYS, 0, -1)]
    days = [*history, day, day + timedelta(days=1)]
    points = [point for point, _ in area.customers]
    reads = await point_reads(source, view, points, days, [TOTAL], tz, estimate=True)
    found = []
    for (point, kind), got in zip(area.customers, reads, strict=True):
        got.table.multipliers = scales
        *before, today = daily_consumption(point, got.table, [*history, day], [TOTAL])
        recent = [row.billed if row.value is not None else None for row in before]
        found.append(CustomerDay(point, kind, today, recent))
    return found


async def supplied_of(
    source: BillingSource,
    view: ArchiveView,
    supply: str | None,
    day: date,
    tz: tzinfo,
    scales: Mapping[str, float],
) -> Supplied:
    """The supply meter's register at both boundaries: its freeze when stored (or edited),
    else its interval reads around the boundary."""
    if supply is None:
        return NO_SUPPLY_METER
    ends = [day, day + timedelta(days=1)]
    (got,) = await point_reads(source, view, [supply], ends, [TOTAL], tz, estimate=False)
    start, end = [await boundary(source, got.table, d, tz) for d in ends]
    return supplied_between(supply, got.table.chain, start, end, scales)


async def boundary(
    source: BillingSource, table: RegisterTable, day: date, tz: tzinfo
) -> BoundaryRead:
    at = freeze_instant(day, tz)
    frozen = table.get(day, TOTAL)
    if frozen.quality is not ValueQuality.MISSING:
        return boundary_of_freeze(frozen, at)
    points = await source.stored_points(
        ReadingKind.ENERGY,
        table.chain.meters,
        [TOTAL],
        at - ESTIMATE_REACH,
        at + ESTIMATE_REACH + timedelta(seconds=1),
    )
    reads = [
        (p.meter, p.timestamp, p.value)
        for p in points
        if p.value is not None and p.quality in METER_VALUES
    ]
    return register_at(table.chain, at, reads)
