"""Read-only routes for billing systems and dashboards: meters, readings, history, completeness,
alarms and the fleet overview. All need at least the ``reader`` role."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from headend.api.context import ApiContext
from headend.api.fleet_view import fleet_overview
from headend.api.models import (
    AlarmOut,
    CompletenessOut,
    FleetOut,
    GroupBy,
    History,
    MeterDetail,
    MeterSummary,
    PointOut,
    ReadingOut,
)
from headend.api.problems import InvalidField
from headend.collection.registry import RegistryError
from headend.config.fleet import MeterConfig
from headend.engine import Engine
from storage.billing import frozen_points
from storage.records import ReadingKind

MAX_HISTORY = timedelta(days=31)
HEADEND_QUANTITIES = frozenset({"clock_drift"})
"""Quantities the head-end derives itself (``Engine.check_clock``): no protocol reads them."""
DEFAULT_HISTORY = timedelta(hours=24)


def meter_summary(engine: Engine, meter: MeterConfig) -> dict[str, object]:
    return {
        "id": meter.id,
        "channel": meter.channel,
        "protocol": meter.protocol,
        "address": meter.address,
        "unit_id": meter.unit_id,
        "transformer": meter.transformer,
        "building": meter.building,
        "household": meter.household,
        "phase": meter.phase,
        "kind": meter.kind,
        "status": "offline" if engine.health.is_offline(meter.id) else "online",
        "last_reason": engine.health.last_reason(meter.id),
    }


def fleet_router(ctx: ApiContext) -> APIRouter:
    engine = ctx.engine
    router = APIRouter(prefix="/api", dependencies=[ctx.reader], tags=["fleet"])

    @router.get("/meters", response_model=list[MeterSummary])
    async def list_meters() -> list[dict[str, object]]:
        return [meter_summary(engine, meter) for meter in engine.registry]

    @router.get("/meters/{meter_id}", response_model=MeterDetail)
    async def get_meter(meter_id: str) -> dict[str, object]:
        meter = engine.registry.get(meter_id)
        latest = [
            ReadingOut.of(reading)
            for (m, _), reading in sorted(engine.latest.items())
            if m == meter.id
        ]
        return {**meter_summary(engine, meter), "latest": latest}

    @router.get("/meters/{meter_id}/readings", response_model=History)
    async def meter_history(
        meter_id: str,
        quantity: Annotated[str, Query(min_length=1, description="Catalogue quantity name")],
        start: Annotated[datetime | None, Query(description="Inclusive, with offset")] = None,
        end: Annotated[datetime | None, Query(description="Exclusive, with offset")] = None,
        kind: Annotated[
            ReadingKind | None, Query(description="Default: the kind of the latest reading")
        ] = None,
    ) -> History:
        meter = engine.registry.get(meter_id)
        listed = (meter.id, quantity) in engine.latest  # what /api/meters/{id} shows
        if not listed and quantity not in HEADEND_QUANTITIES:
            try:
                engine.registry.validate_quantities(
                    meter, [quantity], where=f"quantity of {meter_id}"
                )
            except RegistryError as exc:
                raise InvalidField(("query", "quantity"), str(exc)) from None
        for name, value in (("start", start), ("end", end)):
            if value is not None and value.tzinfo is None:
                raise InvalidField(("query", name), f"{name}: needs a UTC offset, e.g. Z")
        end = end or engine.clock.now()
        start = start or end - DEFAULT_HISTORY
        if end <= start:
            raise InvalidField(("query", "end"), f"end {end} is not after start {start}")
        if end - start > MAX_HISTORY:
            raise InvalidField(("query", "start"), f"at most {MAX_HISTORY.days} days per query")
        latest = engine.latest.get((meter.id, quantity))
        chosen = kind or (latest.kind if latest else ReadingKind.INSTANT)
        store = ctx.require_store()
        if chosen is ReadingKind.FROZEN:  # also under the names stored before one naming scheme
            points = await frozen_points(store, [meter.id], [quantity], start, end)
        else:
            points = await store.stored_points(chosen, [meter.id], [quantity], start, end)
        points.sort(key=lambda point: point.timestamp)
        return History(
            meter=meter.id,
            quantity=quantity,
            kind=chosen,
            start=start,
            end=end,
            points=[PointOut.of(p) for p in points],
        )

    @router.get("/readings/latest", response_model=list[ReadingOut])
    async def latest_readings(
        meter: Annotated[list[str] | None, Query(description="Repeat for several")] = None,
        quantity: Annotated[list[str] | None, Query()] = None,
    ) -> list[ReadingOut]:
        for meter_id in meter or ():
            engine.registry.get(meter_id)
        meters = set(meter or ())
        quantities = set(quantity or ())
        return [
            ReadingOut.of(reading)
            for (m, q), reading in sorted(engine.latest.items())
            if (not meters or m in meters) and (not quantities or q in quantities)
        ]

    @router.get("/completeness", response_model=list[CompletenessOut])
    async def completeness(
        day: Annotated[date | None, Query(description="Local day; default today")] = None,
        group_by: GroupBy = "meter",
    ) -> list[CompletenessOut]:
        wanted = day or engine.meter_now().date()
        return [CompletenessOut.of(row) for row in engine.completeness_rows(wanted, group_by)]

    @router.get("/alarms", response_model=list[AlarmOut])
    async def alarms(state: Literal["open", "recent"] = "open") -> list[AlarmOut]:
        book = engine.alarms
        chosen = book.open_alarms() if state == "open" else book.recent()
        return [AlarmOut.of(alarm) for alarm in chosen]

    @router.get("/fleet", response_model=FleetOut)
    async def fleet() -> dict[str, object]:
        return fleet_overview(engine, engine.clock.now())

    return router
