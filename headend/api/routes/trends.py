"""``/api/trends``: the overview's curves, each transformer's load and each building's voltage.

Read-only, reader role. The stored interval reads of the window (default the last 24 h) are
bucketed by ``api.trend_buckets`` so a browser draws a few hundred points per curve, not every
read of thousands of meters. Values not in their quantity's canonical unit are converted, or
skipped when they cannot be (``headend.units``), as the live overview does.

Every open dashboard asks every 30 s, and a day of 1-minute reads of a few thousand meters is
millions of points: a bucket that ended more than ``SETTLED_AFTER`` ago is computed once and
kept (per bucket width and fleet layout), so a request reads only the last hour or so from the
store. The price: a value stored into a settled bucket later (a late backfill) shows after a
restart or a fleet change only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from headend.api.context import ApiContext
from headend.api.facade import HeadendFacade
from headend.api.fleet_view import LOAD_QUANTITY, VOLTAGE_QUANTITIES
from headend.api.trend_buckets import (
    TimedValue,
    bucket_starts,
    load_curve,
    load_rate,
    voltage_curve,
)
from headend.collection.sweeps import NO_BUILDING
from headend.config.fleet import LOAD_METER
from headend.units import UnitError, factor_to_canonical
from storage.billing import BillingSource, StoredPoint
from storage.records import ReadingKind

MAX_HOURS = 72
HoursQuery = Annotated[int, Query(ge=1, le=MAX_HOURS, description="Window ending now, in hours")]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BucketQuery = Annotated[int, Query(ge=1, le=240, description="Bucket width in minutes")]
SETTLED_AFTER = timedelta(hours=1)
"""A bucket that ended this long ago is not expected to change (reads arrive within minutes)."""

Load = tuple[float, str] | None
Voltage = tuple[float, float] | None


@dataclass(frozen=True, slots=True)
class Layout:
    """Who belongs where, read from the fleet once per request."""

    transformers: tuple[tuple[str, float, tuple[str, ...], frozenset[str]], ...]
    """(name, rated kVA, load meters, own devices: terminal and LV-side meters)"""
    buildings: tuple[tuple[str, frozenset[str]], ...]
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BucketFigures:
    loads: tuple[Load, ...]
    """Per transformer of the layout, in its order."""
    voltages: tuple[Voltage, ...]
    """Per building of the layout, in its order."""


def fleet_layout(headend: HeadendFacade) -> Layout:
    by_transformer: dict[str | None, list[tuple[str, bool]]] = defaultdict(list)
    by_building: dict[str, set[str]] = defaultdict(set)
    for meter in headend.meters():
        by_transformer[meter.transformer].append((meter.id, meter.kind == LOAD_METER))
        if meter.kind == LOAD_METER:
            by_building[meter.building or NO_BUILDING].add(meter.id)
    transformers = []
    ids = [m.id for m in headend.meters()]
    for transformer in headend.transformers.values():
        under = by_transformer.get(transformer.name, [])
        own = {m for m, is_load in under if not is_load}
        if transformer.terminal:
            own.add(transformer.terminal)
            ids.append(transformer.terminal)
        loads = tuple(m for m, is_load in under if is_load)
        transformers.append((transformer.name, transformer.rated_kva, loads, frozenset(own)))
    buildings = tuple((name, frozenset(by_building[name])) for name in sorted(by_building))
    return Layout(tuple(transformers), buildings, tuple(ids))


def timed_values(points: list[StoredPoint]) -> dict[str, list[TimedValue]]:
    """Quantity -> values in canonical units (unconvertible or missing values left out)."""
    out: dict[str, list[TimedValue]] = defaultdict(list)
    for point in points:
        if point.value is None:
            continue
        try:
            factor = factor_to_canonical(point.quantity, point.unit)
        except UnitError:
            continue
        out[point.quantity].append(TimedValue(point.meter, point.timestamp, point.value * factor))
    return out


def _by_source(values: Iterable[TimedValue]) -> dict[str, list[TimedValue]]:
    grouped: dict[str, list[TimedValue]] = defaultdict(list)
    for value in values:
        grouped[value.source].append(value)
    return grouped


def _of(grouped: dict[str, list[TimedValue]], sources: Iterable[str]) -> list[TimedValue]:
    return [value for source in sources for value in grouped.get(source, ())]


async def bucket_figures(
    store: BillingSource, layout: Layout, starts: Sequence[datetime], width: timedelta
) -> list[BucketFigures]:
    """The figures of consecutive buckets ``starts``, from one store query."""
    if not starts:
        return []
    first, end = starts[0], starts[-1] + width
    points = await store.stored_points(
        ReadingKind.INSTANT, list(layout.ids), [LOAD_QUANTITY, *VOLTAGE_QUANTITIES], first, end
    )
    values = timed_values(points)
    # Grouped by source once: each transformer and building then takes its members' lists,
    # instead of every group scanning every value (thousands of meters, tens of groups).
    power = _by_source(values.get(LOAD_QUANTITY, []))
    voltage = _by_source(v for q in VOLTAGE_QUANTITIES for v in values.get(q, []))
    count = len(starts)
    loads = [
        load_curve(_of(power, members), members, _of(power, own), first, width, count)
        for _, _, members, own in layout.transformers
    ]
    voltages = [
        voltage_curve(_of(voltage, members), first, width, count) for _, members in layout.buildings
    ]
    return [
        BucketFigures(tuple(c[i] for c in loads), tuple(c[i] for c in voltages))
        for i in range(count)
    ]


def trends_router(ctx: ApiContext) -> APIRouter:
    headend = ctx.headend
    router = APIRouter(prefix="/api", route_class=ctx.reader_routes, tags=["fleet"])
    settled: dict[tuple[int, datetime], BucketFigures] = {}
    """(bucket minutes, start) -> figures, for the layout in ``settled_for``"""
    settled_for: list[Layout] = []

    @router.get("/trends")
    async def trends(hours: HoursQuery = 24, bucket_minutes: BucketQuery = 15) -> dict[str, object]:
        """Per transformer: load kW and load rate per bucket, with the 80 %/100 % limits; per
        building: voltage min and mean per bucket, with the GB/T 12325 band."""
        width = timedelta(minutes=bucket_minutes)
        now = headend.now()
        end = now - (now - EPOCH) % width + width  # buckets on whole multiples of the width
        start = end - timedelta(hours=hours)
        starts = bucket_starts(start, end, width)
        layout = fleet_layout(headend)
        if settled_for != [layout]:  # a meter added, moved or removed: start over
            settled.clear()
            settled_for[:] = [layout]
        known = 0
        while known < len(starts) and (bucket_minutes, starts[known]) in settled:
            known += 1
        fresh = await bucket_figures(ctx.require_store(), layout, starts[known:], width)
        figures = [settled[(bucket_minutes, s)] for s in starts[:known]] + fresh
        for at, figure in zip(starts[known:], fresh, strict=True):
            if at + width <= now - SETTLED_AFTER:
                settled[(bucket_minutes, at)] = figure
        horizon = now - timedelta(hours=MAX_HOURS) - width
        for key in [k for k in settled if k[1] < horizon]:
            del settled[key]
        rules = headend.anomaly_rules
        transformers = []
        for index, (name, rated_kva, _, _) in enumerate(layout.transformers):
            curve = [f.loads[index] for f in figures]
            transformers.append(
                {
                    "name": name,
                    "rated_kva": rated_kva,
                    "load_kw": [None if c is None else c[0] for c in curve],
                    "load_rate": [
                        None
                        if c is None
                        else load_rate(c[0], rated_kva, rules.assumed_power_factor)
                        for c in curve
                    ],
                    "source": [None if c is None else c[1] for c in curve],
                }
            )
        buildings = []
        for index, (name, _) in enumerate(layout.buildings):
            band_curve = [f.voltages[index] for f in figures]
            buildings.append(
                {
                    "name": name,
                    "voltage_min": [None if c is None else c[0] for c in band_curve],
                    "voltage_avg": [None if c is None else c[1] for c in band_curve],
                }
            )
        band = rules.single_phase
        return {
            "start": start,
            "end": end,
            "bucket_minutes": bucket_minutes,
            "buckets": starts,
            "voltage_band": {"low": band.low_v, "high": band.high_v, "nominal": band.nominal_v},
            "load_limits": {"heavy": rules.heavy_load_rate, "overload": rules.overload_rate},
            "transformers": transformers,
            "buildings": buildings,
        }

    return router
