"""Read-only routes for billing systems and dashboards: meters, readings, history, completeness,
alarms and the fleet overview. All need at least the ``reader`` role."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from headend.api.context import ApiContext
from headend.api.facade import HeadendFacade
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
from storage.billing import frozen_points
from storage.records import ReadingKind

MAX_HISTORY = timedelta(days=31)
HEADEND_QUANTITIES = frozenset({"clock_drift"})
"""Quantities the head-end derives itself (``ClockCommands.check_clock``): no protocol reads
them."""
DEFAULT_HISTORY = timedelta(hours=24)


def meter_summary(headend: HeadendFacade, meter: MeterConfig) -> dict[str, object]:
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
        "status": "offline" if headend.is_offline(meter.id) else "online",
        "last_reason": headend.last_reason(meter.id),
    }


def fleet_router(ctx: ApiContext) -> APIRouter:
    headend = ctx.headend
    router = APIRouter(prefix="/api", dependencies=[ctx.reader], tags=["fleet"])

    @router.get("/meters", response_model=list[MeterSummary])
    async def list_meters() -> list[dict[str, object]]:
        return [meter_summary(headend, meter) for meter in headend.meters()]

    @router.get("/meters/{meter_id}", response_model=MeterDetail)
    async def get_meter(meter_id: str) -> dict[str, object]:
        meter = headend.meter(meter_id)
        latest = [ReadingOut.of(reading) for reading in headend.latest_of(meter.id)]
        return {**meter_summary(headend, meter), "latest": latest}

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
        meter = headend.meter(meter_id)
        latest = headend.latest(meter.id, quantity)
        listed = latest is not None  # what /api/meters/{id} shows
        if not listed and quantity not in HEADEND_QUANTITIES:
            try:
                headend.validate_quantities(meter, [quantity], where=f"quantity of {meter_id}")
            except RegistryError as exc:
                raise InvalidField(("query", "quantity"), str(exc)) from None
        for name, value in (("start", start), ("end", end)):
            if value is not None and value.tzinfo is None:
                raise InvalidField(("query", name), f"{name}: needs a UTC offset, e.g. Z")
        end = end or headend.now()
        start = start or end - DEFAULT_HISTORY
        if end <= start:
            raise InvalidField(("query", "end"), f"end {end} is not after start {start}")
        if end - start > MAX_HISTORY:
            raise InvalidField(("query", "start"), f"at most {MAX_HISTORY.days} days per query")
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
            headend.meter(meter_id)
        quantities = set(quantity or ())
        if meter:  # each asked meter from its own index, in (meter, quantity) order
            chosen = [r for m in sorted(set(meter)) for r in headend.latest_of(m)]
        else:
            chosen = [reading for _, reading in sorted(headend.latest_values.items())]
        return [ReadingOut.of(r) for r in chosen if not quantities or r.quantity in quantities]

    @router.get("/completeness", response_model=list[CompletenessOut])
    async def completeness(
        day: Annotated[date | None, Query(description="Local day; default today")] = None,
        group_by: GroupBy = "meter",
    ) -> list[CompletenessOut]:
        wanted = day or headend.meter_now().date()
        return [CompletenessOut.of(row) for row in headend.completeness_rows(wanted, group_by)]

    @router.get("/alarms", response_model=list[AlarmOut])
    async def alarms(state: Literal["open", "recent"] = "open") -> list[AlarmOut]:
        chosen = headend.open_alarms() if state == "open" else headend.recent_alarms()
        return [AlarmOut.of(alarm) for alarm in chosen]

    @router.get("/fleet", response_model=FleetOut)
    async def fleet() -> dict[str, object]:
        return fleet_overview(headend, headend.now())

    return router
