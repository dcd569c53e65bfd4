"""``/api/trends``: the overview's curves, each transformer's load and each building's voltage.

Read-only, reader role. The stored interval reads of the window (default the last 24 h) are
bucketed by ``api.trend_buckets`` so a browser draws a few hundred points per curve, not every
read of thousands of meters. Values not in their quantity's canonical unit are converted, or
skipped when they cannot be (``headend.units``), as the live overview does.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from headend.api.context import ApiContext
from headend.api.fleet_view import LOAD_QUANTITY, VOLTAGE_QUANTITIES
from headend.api.trend_buckets import (
    TimedValue,
    bucket_starts,
    load_curve,
    load_rate,
    voltage_curve,
)
from headend.collection.sweeps import NO_BUILDING
from headend.config.fleet import LOAD_METER, MeterConfig
from headend.units import UnitError, factor_to_canonical
from storage.billing import StoredPoint
from storage.records import ReadingKind

HoursQuery = Annotated[int, Query(ge=1, le=72, description="Window ending now, in hours")]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BucketQuery = Annotated[int, Query(ge=1, le=240, description="Bucket width in minutes")]


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


def trends_router(ctx: ApiContext) -> APIRouter:
    headend = ctx.headend
    router = APIRouter(prefix="/api", route_class=ctx.reader_routes, tags=["fleet"])

    @router.get("/trends")
    async def trends(hours: HoursQuery = 24, bucket_minutes: BucketQuery = 15) -> dict[str, object]:
        """Per transformer: load kW and load rate per bucket, with the 80 %/100 % limits; per
        building: voltage min and mean per bucket, with the GB/T 12325 band."""
        width = timedelta(minutes=bucket_minutes)
        now = headend.now()
        end = now - (now - EPOCH) % width + width  # buckets on whole multiples of the width
        start = end - timedelta(hours=hours)
        starts = bucket_starts(start, end, width)
        meters = list(headend.meters())
        by_transformer: dict[str | None, list[MeterConfig]] = defaultdict(list)
        by_building: dict[str, list[str]] = defaultdict(list)
        for meter in meters:
            by_transformer[meter.transformer].append(meter)
            if meter.kind == LOAD_METER:
                by_building[meter.building or NO_BUILDING].append(meter.id)
        devices = [t.terminal for t in headend.transformers.values() if t.terminal]
        ids = [m.id for m in meters] + devices
        store = ctx.require_store()
        points = await store.stored_points(
            ReadingKind.INSTANT, ids, [LOAD_QUANTITY, *VOLTAGE_QUANTITIES], start, end
        )
        values = timed_values(points)
        power = values.get(LOAD_QUANTITY, [])
        rules = headend.anomaly_rules
        transformers = []
        for transformer in headend.transformers.values():
            under = by_transformer.get(transformer.name, [])
            loads = [m.id for m in under if m.kind == LOAD_METER]
            own = {m.id for m in under if m.kind != LOAD_METER}
            if transformer.terminal:
                own.add(transformer.terminal)
            curve = load_curve(
                [v for v in power if v.source in set(loads)],
                loads,
                [v for v in power if v.source in own],
                start,
                width,
                len(starts),
            )
            transformers.append(
                {
                    "name": transformer.name,
                    "rated_kva": transformer.rated_kva,
                    "load_kw": [None if c is None else c[0] for c in curve],
                    "load_rate": [
                        None
                        if c is None
                        else load_rate(c[0], transformer.rated_kva, rules.assumed_power_factor)
                        for c in curve
                    ],
                    "source": [None if c is None else c[1] for c in curve],
                }
            )
        voltages = [v for q in VOLTAGE_QUANTITIES for v in values.get(q, [])]
        buildings = []
        for name in sorted(by_building):
            members = set(by_building[name])
            band_curve = voltage_curve(
                [v for v in voltages if v.source in members], start, width, len(starts)
            )
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
