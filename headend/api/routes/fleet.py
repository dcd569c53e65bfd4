"""Read-only routes for billing systems and dashboards: meters, readings, history, completeness,
alarms and the fleet overview. All need at least the ``reader`` role."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from headend.api.bodies import (
    JsonBytes,
    history_json,
    json_array,
    meter_json,
    reading_rows,
    readings_json,
)
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
    ReadingOut,
    ReadingStatusOut,
    TerminalCompletenessOut,
    TerminalOut,
)
from headend.api.problems import InvalidField
from headend.api.terminal_models import TerminalClockOut, TerminalParametersOut
from headend.collection.terminal_pull import FROZEN_PULL_QUANTITIES
from headend.config.fleet import LOAD_METER, MeterConfig
from headend.config.meters import RegistryError
from headend.config.terminals import TerminalMeterConfig
from storage.billing import frozen_points
from storage.records import ReadingKind

MAX_HISTORY = timedelta(days=31)
HEADEND_QUANTITIES = frozenset({"clock_drift"})
"""Quantities the head-end derives itself (``ClockCommands.check_clock``): no protocol reads
them."""
DEFAULT_HISTORY = timedelta(hours=24)
TERMINAL_PROTOCOL = "gdw1376.1"
"""What the head-end speaks to reach a concentrator's meter: its terminal's protocol."""


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
        "terminal": None,
        "pn": None,
    }


def terminal_meter_summary(headend: HeadendFacade, meter: TerminalMeterConfig) -> dict[str, object]:
    """The same keys as ``meter_summary``: a billing system lists both kinds alike."""
    online = headend.terminal_online(meter.terminal)
    return {
        "id": meter.id,
        "channel": None,
        "protocol": TERMINAL_PROTOCOL,
        "address": meter.address,
        "unit_id": None,
        "transformer": meter.transformer,
        "building": meter.building,
        "household": meter.household,
        "phase": None,
        "kind": LOAD_METER,
        "status": "online" if online else "offline",
        "last_reason": None if online else f"terminal {meter.terminal!r} is not logged in",
        "terminal": meter.terminal,
        "pn": meter.pn,
    }


def terminal_view(headend: HeadendFacade, name: str, day: date) -> TerminalOut:
    terminal = headend.terminals[name]
    check = headend.terminal_clock(name)
    return TerminalOut(
        name=terminal.name,
        address=terminal.address,
        transformer=terminal.transformer,
        status="online" if headend.terminal_online(name) else "offline",
        meters=len(terminal.meters),
        keeps_days=terminal.keeps_days,
        last_pull=headend.terminal_last_pull(name),
        archive_differences=headend.terminal_archive_differences(name),
        completeness=TerminalCompletenessOut.of(day, headend.terminal_completeness(day)[name]),
        clock=None
        if (check := headend.terminal_clock(name)) is None
        else TerminalClockOut.of(check),
        reading_status=ReadingStatusOut.of(headend.terminal_reading_status(name)),
        parameters=TerminalParametersOut.of(headend.terminal_parameters(name)),
    )


def fleet_router(ctx: ApiContext) -> APIRouter:
    headend = ctx.headend
    router = APIRouter(prefix="/api", route_class=ctx.reader_routes, tags=["fleet"])

    @router.get("/meters", response_model=list[MeterSummary])
    async def list_meters() -> list[dict[str, object]]:
        listed = [meter_summary(headend, meter) for meter in headend.meters()]
        behind = headend.terminal_meters().values()
        return listed + [terminal_meter_summary(headend, meter) for meter in behind]

    @router.get("/meters/{meter_id}", response_model=MeterDetail)
    async def get_meter(meter_id: str) -> JsonBytes:
        behind = headend.terminal_meter(meter_id)
        if behind is not None:
            summary = {
                **terminal_meter_summary(headend, behind),
                "block_reads": {},
                "last_pull": headend.terminal_last_pull(behind.terminal),
                "last_frozen_day": headend.terminal_meter_last_day(behind.id),
            }
            return JsonBytes(meter_json(summary, headend.latest_encoded(behind.id, reading_rows)))
        meter = headend.meter(meter_id)
        rows = headend.latest_encoded(meter.id, reading_rows)
        summary = {
            **meter_summary(headend, meter),
            "block_reads": headend.block_reads(meter.id),
            "last_pull": None,
            "last_frozen_day": None,
        }
        return JsonBytes(meter_json(summary, rows))

    def check_quantity(meter_id: str, quantity: str, behind: TerminalMeterConfig | None) -> None:
        """422 for a quantity the meter cannot give: its protocol's, or the frozen pull's for
        a meter a concentrator reads."""
        if behind is None:
            meter = headend.meter(meter_id)
            try:
                headend.validate_quantities(meter, [quantity], where=f"quantity of {meter_id}")
            except RegistryError as exc:
                raise InvalidField(("query", "quantity"), str(exc)) from None
        elif quantity not in FROZEN_PULL_QUANTITIES:
            given = ", ".join(FROZEN_PULL_QUANTITIES)
            raise InvalidField(
                ("query", "quantity"),
                f"quantity of {meter_id}: terminal {behind.terminal!r} gives {given}, "
                f"not {quantity!r}",
            )

    @router.get("/meters/{meter_id}/readings", response_model=History)
    async def meter_history(
        meter_id: str,
        quantity: Annotated[str, Query(min_length=1, description="Catalogue quantity name")],
        start: Annotated[datetime | None, Query(description="Inclusive, with offset")] = None,
        end: Annotated[datetime | None, Query(description="Exclusive, with offset")] = None,
        kind: Annotated[
            ReadingKind | None, Query(description="Default: the kind of the latest reading")
        ] = None,
    ) -> JsonBytes:
        behind = headend.terminal_meter(meter_id)
        if behind is None:
            headend.meter(meter_id)  # 404 for a meter no bus nor concentrator has
        latest = headend.latest(meter_id, quantity)
        listed = latest is not None  # what /api/meters/{id} shows
        if not listed and quantity not in HEADEND_QUANTITIES:
            check_quantity(meter_id, quantity, behind)
        for name, value in (("start", start), ("end", end)):
            if value is not None and value.tzinfo is None:
                raise InvalidField(("query", name), f"{name}: needs a UTC offset, e.g. Z")
        end = end or headend.now()
        start = start or end - DEFAULT_HISTORY
        if end <= start:
            raise InvalidField(("query", "end"), f"end {end} is not after start {start}")
        if end - start > MAX_HISTORY:
            raise InvalidField(("query", "start"), f"at most {MAX_HISTORY.days} days per query")
        unread = ReadingKind.INSTANT if behind is None else ReadingKind.FROZEN
        chosen = kind or (latest.kind if latest else unread)
        store = ctx.require_store()
        if chosen is ReadingKind.FROZEN:  # also under the names stored before one naming scheme
            points = await frozen_points(store, [meter_id], [quantity], start, end)
        else:
            points = await store.stored_points(chosen, [meter_id], [quantity], start, end)
        points.sort(key=lambda point: point.timestamp)
        head = {"meter": meter_id, "quantity": quantity, "kind": chosen._value_}
        return JsonBytes(history_json({**head, "start": start, "end": end}, points))

    @router.get("/readings/latest", response_model=list[ReadingOut])
    async def latest_readings(
        meter: Annotated[list[str] | None, Query(description="Repeat for several")] = None,
        quantity: Annotated[list[str] | None, Query()] = None,
    ) -> JsonBytes:
        for meter_id in meter or ():
            headend.require_known(meter_id)
        if quantity:  # filtered: only the chosen rows are encoded
            quantities = set(quantity)
            asked = sorted(set(meter)) if meter else headend.latest_meters()
            chosen = [r for m in asked for r in headend.latest_of(m) if r.quantity in quantities]
            return JsonBytes(readings_json(chosen))
        if meter:  # each asked meter from its own index, in (meter, quantity) order
            rows = [headend.latest_encoded(m, reading_rows) for m in sorted(set(meter))]
            return JsonBytes(json_array(rows))
        # The dashboard's whole list: rows encoded once per change of their meter, the body
        # once per change of any (one writer commit).
        return JsonBytes(headend.latest_encoded_fleet(reading_rows, json_array))

    @router.get("/completeness", response_model=list[CompletenessOut])
    async def completeness(
        day: Annotated[date | None, Query(description="Local day; default today")] = None,
        group_by: GroupBy = "meter",
    ) -> list[CompletenessOut]:
        wanted = day or headend.meter_now().date()
        return [CompletenessOut.of(row) for row in headend.completeness_rows(wanted, group_by)]

    @router.get("/terminals", response_model=list[TerminalOut])
    async def terminals(
        day: Annotated[
            date | None, Query(description="Local day; completeness covers the days before it")
        ] = None,
    ) -> list[TerminalOut]:
        wanted = day or headend.meter_now().date()
        return [terminal_view(headend, name, wanted) for name in headend.terminals]

    @router.get("/alarms", response_model=list[AlarmOut])
    async def alarms(state: Literal["open", "recent"] = "open") -> list[AlarmOut]:
        chosen = headend.open_alarms() if state == "open" else headend.recent_alarms()
        return [AlarmOut.of(alarm) for alarm in chosen]

    @router.get("/fleet", response_model=FleetOut)
    async def fleet() -> dict[str, object]:
        return fleet_overview(headend, headend.now())

    return router
