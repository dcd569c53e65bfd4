"""VEE and billing determinants: daily consumption per tariff with its quality, validation
findings, monthly determinants, and operators' edits of register reads (admin).

The computations are ``storage.vee`` and ``storage.consumption``; ``api.vee_assembly`` gathers
their inputs from the store and the archive. This module checks the request, bounds its work
(``MAX_METER_DAYS`` as billing does) and shapes the JSON: every value carries its quality and
the rules behind it, so billing never receives an estimate silently.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import date, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from headend.api.auth import Caller
from headend.api.context import ApiContext
from headend.api.problems import InvalidField
from headend.api.routes.billing import MAX_METER_DAYS, MAX_PERIOD, store_errors
from headend.api.vee_assembly import (
    ArchiveView,
    archive_view,
    consumption_of,
    determinants_of,
    findings_of,
)
from storage.archive.edits import RegisterEdit
from storage.consumption import DailyConsumption
from storage.errors import ArchiveError
from storage.tariffs import tariff_name
from storage.vee.determinants import MAX_SETTLEMENT_DAY, Determinant, settlement_days
from storage.vee.reads import RegisterRead

DEFAULT_QUANTITIES: Final = (
    "energy_active_import_total",
    "energy_active_import_t1",
    "energy_active_import_t2",
    "energy_active_import_t3",
    "energy_active_import_t4",
)
"""The total and the four tariffs (尖峰平谷) a State Grid meter bills."""
DECIMALS: Final = 4
"""kWh resolution of the answers: the A.14 / DL/T 645 register resolution."""
_MONTH: Final = re.compile(r"^(\d{4})-(\d{2})$")

MeterQuery = Annotated[list[str] | None, Query(description="Meter id; repeat for several")]
TransformerQuery = Annotated[
    str | None, Query(description="Every meter the fleet or the archive has under it")
]
QuantityQuery = Annotated[
    list[str] | None, Query(description="Default: the total and tariffs 1..4 of import")
]


class RegisterEditIn(BaseModel):
    meter: str = Field(min_length=1)
    day: date
    """The day whose 00:00 freeze is edited."""
    quantity: str = Field(default="energy_active_import_total", pattern=r"^energy_[a-z0-9_]+$")
    """An energy register: only registers are billed from freezes."""
    value: float = Field(ge=0)
    reason: str = Field(min_length=1)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, DECIMALS)


def consumption_row(row: DailyConsumption, names: Mapping[int, str]) -> dict[str, Any]:
    return {
        "meter": row.meter,
        "day": row.day.isoformat(),
        "quantity": row.quantity,
        "tariff": tariff_name(row.quantity, names),
        "value": _rounded(row.value),
        "billed": _rounded(row.billed),
        "unit": "kWh",
        "quality": row.quality.value,
        "rules": list(row.rules),
        "detail": row.detail,
        "meters": list(row.meters),
    }


def read_of(read: RegisterRead) -> dict[str, Any]:
    return {
        "meter": read.meter,
        "day": read.day.isoformat(),
        "value": _rounded(read.value),
        "quality": read.quality.value,
        "rule": read.rule,
        "detail": read.detail,
    }


def determinant_row(found: Determinant, names: Mapping[int, str]) -> dict[str, Any]:
    return {
        "meter": found.meter,
        "month": found.month,
        "quantity": found.quantity,
        "tariff": tariff_name(found.quantity, names),
        "start_day": found.start_day.isoformat(),
        "end_day": found.end_day.isoformat(),
        "start": read_of(found.start),
        "end": read_of(found.end),
        "consumption": _rounded(found.consumption),
        "billed": _rounded(found.billed),
        "unit": "kWh",
        "quality": found.quality.value,
        "source": found.source,
        "rules": list(found.rules),
        "detail": found.detail,
        "exchanges": found.exchanges,
    }


def edit_row(edit: RegisterEdit) -> dict[str, Any]:
    data = asdict(edit)
    data["day"] = edit.day.isoformat()
    data["at"] = edit.at.isoformat()
    return data


def vee_routers(ctx: ApiContext) -> list[APIRouter]:
    """The reader routes (consumption, determinants, findings, edits) and the admin one."""
    headend = ctx.headend
    reader = APIRouter(prefix="/api", route_class=ctx.reader_routes, tags=["billing"])
    admin = APIRouter(prefix="/api", tags=["admin"])

    def meters_for(
        meter: list[str] | None, transformer: str | None, view: ArchiveView
    ) -> list[str]:
        if (not meter) == (transformer is None):
            raise InvalidField(("query", "meter"), "give either meter (repeatable) or transformer")
        if transformer is not None:
            if transformer not in headend.transformers:
                raise InvalidField(("query", "transformer"), f"unknown transformer {transformer!r}")
            found = {m.id for m in headend.meters() if m.transformer == transformer}
            found.update(
                m.id for m in headend.terminal_meters().values() if m.transformer == transformer
            )
            found.update(m.id for m in view.meters.values() if m.transformer == transformer)
            return one_per_point(found, view)
        chosen = list(dict.fromkeys(meter or ()))
        for meter_id in chosen:
            if meter_id not in view.meters:
                headend.require_known(meter_id)  # 404 for a meter nobody has
        return chosen

    def one_per_point(found: set[str], view: ArchiveView) -> list[str]:
        """Each billing point once: the id the fleet reads it by (the measurement point),
        else the chain's latest meter; an exchange's two meters are one point."""
        collected = set(headend.meters_by_id()) | set(headend.terminal_meters())
        points: dict[tuple[str, ...], str] = {}
        for meter_id in found:
            chain = view.chain(meter_id).meters
            read = [m for m in chain if m in collected]
            points[chain] = read[-1] if read else chain[-1]
        return sorted(set(points.values()))

    def quantities_of(quantity: list[str] | None) -> tuple[str, ...]:
        chosen = tuple(dict.fromkeys(quantity or DEFAULT_QUANTITIES))
        if len(chosen) > len(DEFAULT_QUANTITIES) + 3:
            raise InvalidField(("query", "quantity"), "at most 8 quantities per request")
        return chosen

    def check_size(meters: Sequence[str], days: int) -> None:
        if len(meters) * days > MAX_METER_DAYS:
            raise InvalidField(
                ("query", "meter"),
                f"{len(meters)} meters x {days} days = {len(meters) * days} meter-days; at most"
                f" {MAX_METER_DAYS} meter-days (MAX_METER_DAYS) per request",
            )

    def period(start: date, end: date) -> int:
        if end < start:
            raise InvalidField(("query", "end"), f"end {end} is before start {start}")
        if end - start >= MAX_PERIOD:
            raise InvalidField(("query", "end"), f"at most {MAX_PERIOD.days} days per request")
        return (end - start).days + 1

    @reader.get("/billing/consumption")
    async def consumption(
        start: date,
        end: date,
        meter: MeterQuery = None,
        transformer: TransformerQuery = None,
        quantity: QuantityQuery = None,
        estimate: bool = True,
    ) -> dict[str, Any]:
        """Daily consumption (register at the next day's freeze minus this day's, bridged
        across exchanges) per meter, day and tariff, each with its quality and rules."""
        days = period(start, end)
        source = ctx.require_store()
        view = await archive_view(headend.archive_path, start, end + timedelta(days=1))
        meters = meters_for(meter, transformer, view)
        check_size(meters, days)
        quantities = quantities_of(quantity)
        with store_errors():
            rows = await consumption_of(
                source, view, meters, start, end, quantities, headend.tz, estimate=estimate
            )
        names = headend.tariff_names
        return {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "meters": meters,
            "quantities": list(quantities),
            "consumption": [consumption_row(row, names) for row in rows],
        }

    @reader.get("/vee/findings")
    async def findings(
        start: date,
        end: date,
        meter: MeterQuery = None,
        transformer: TransformerQuery = None,
        quantity: QuantityQuery = None,
    ) -> dict[str, Any]:
        """Validation findings of the period: register decreases, spikes against the meter's
        own history, tariffs that do not add up, clocks off, zero days on households."""
        days = period(start, end)
        source = ctx.require_store()
        view = await archive_view(headend.archive_path, start, end + timedelta(days=1))
        meters = meters_for(meter, transformer, view)
        check_size(meters, days)
        with store_errors():
            found = await findings_of(
                source, view, meters, start, end, quantities_of(quantity), headend.tz
            )
        return {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "findings": [{**asdict(f), "day": f.day.isoformat()} for f in found],
        }

    @reader.get("/billing/determinants")
    async def billing_determinants(
        month: Annotated[str, Query(description="YYYY-MM: the month its settlement day opens")],
        meter: MeterQuery = None,
        transformer: TransformerQuery = None,
        quantity: QuantityQuery = None,
        settlement_day: Annotated[int, Query(ge=1, le=MAX_SETTLEMENT_DAY)] = 1,
    ) -> dict[str, Any]:
        """Per meter and tariff: the reads at the settlement-day freezes opening and closing
        the month, the energy between them, the quality and the data source."""
        matched = _MONTH.match(month)
        if matched is None or not 1 <= int(matched.group(2)) <= 12:
            raise InvalidField(("query", "month"), f"month {month!r} is not YYYY-MM")
        year, number = int(matched.group(1)), int(matched.group(2))
        opens, closes = settlement_days(year, number, settlement_day)
        source = ctx.require_store()
        view = await archive_view(headend.archive_path, opens, closes)
        meters = meters_for(meter, transformer, view)
        check_size(meters, (closes - opens).days)
        quantities = quantities_of(quantity)
        with store_errors():
            found = await determinants_of(
                source, view, meters, year, number, settlement_day, quantities, headend.tz
            )
        names = headend.tariff_names
        return {
            "month": month,
            "settlement_day": settlement_day,
            "determinants": [determinant_row(d, names) for d in found],
        }

    @reader.get("/vee/edits")
    async def list_edits(start: date, end: date, meter: MeterQuery = None) -> dict[str, Any]:
        """Operators' edits of reads of the period, oldest first (every meter's by default)."""
        period(start, end)
        view = await archive_view(headend.archive_path, start, end)
        wanted = set(meter or ())
        chosen = [
            e for e in view.edits if start <= e.day <= end and (not wanted or e.meter in wanted)
        ]
        return {"edits": [edit_row(e) for e in chosen]}

    @admin.post("/vee/edits", status_code=201)
    async def edit_read(body: RegisterEditIn, caller: Caller = ctx.admin) -> dict[str, Any]:
        """Replace one register read (the 00:00 freeze of ``day``) with an operator's value:
        audited before it is kept; it wins over the stored value and is marked ``edited``."""
        view = await archive_view(headend.archive_path, body.day, body.day)
        if body.meter not in view.meters:
            headend.require_known(body.meter)
        edit = RegisterEdit(
            body.meter,
            body.day,
            body.quantity,
            body.value,
            body.reason,
            caller.name,
            headend.now(),
        )
        try:
            kept = headend.edit_register(edit)
        except ArchiveError as exc:
            raise InvalidField(("body", "meter"), str(exc)) from None
        return edit_row(kept)

    return [reader, admin]
