"""Billing reads for billing systems: daily frozen values with explicit gaps, JSON or CSV.

The assembly (one row per meter, day and quantity, ``not_collected`` where nothing usable is
stored) is ``storage.billing``'s; this module only validates the request and picks the format.
"""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from headend.api.context import ApiContext
from headend.api.models import BillingOut, DailyOut, IntervalOut
from headend.api.problems import InvalidField
from storage.billing import DEFAULT_BILLING_QUANTITIES, BillingReport, billing_report, write_csv

MAX_PERIOD = timedelta(days=366)
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
# Module level: route annotations are strings (PEP 563), resolved against module globals.
MeterQuery = Annotated[list[str] | None, Query(description="Meter id; repeat for several")]
TransformerQuery = Annotated[
    str | None,
    Query(description="Every meter registered under this transformer or with data stored under it"),
]
PeriodStart = Annotated[date, Query(description="First local day of the period")]
PeriodEnd = Annotated[date, Query(description="Last local day of the period (included)")]
QuantityQuery = Annotated[
    list[str] | None, Query(description="Default: energy_active_import_total")
]


def billing_body(report: BillingReport) -> BillingOut:
    return BillingOut(
        start=report.start,
        end=report.end,
        meters=list(report.meters),
        daily=[
            DailyOut(
                meter=row.meter,
                day=row.day,
                quantity=row.quantity,
                state=row.state.value,
                value=row.value,
                unit=row.unit,
                quality=row.quality.value if row.quality else None,
                timestamp=row.timestamp,
                reason=row.reason,
            )
            for row in report.daily
        ],
        intervals=[
            IntervalOut(
                meter=p.meter,
                quantity=p.quantity,
                timestamp=p.timestamp,
                value=p.value,
                unit=p.unit,
                quality=p.quality.value,
                reason=p.reason,
            )
            for p in report.intervals
        ],
        not_collected=len(report.not_collected),
    )


def billing_router(ctx: ApiContext) -> APIRouter:
    engine = ctx.engine
    router = APIRouter(prefix="/api", dependencies=[ctx.reader], tags=["billing"])

    async def meters_of_transformer(transformer: str) -> list[str]:
        """Every meter the registry has under it (never read ones too, to show their gaps),
        and those that stored data under it before they were moved or removed."""
        registered = {m.id for m in engine.registry if m.transformer == transformer}
        stored = await ctx.require_store().meters_of_transformer(transformer)
        return sorted(registered.union(stored))

    async def report_for(
        meter: list[str] | None,
        transformer: str | None,
        start: date,
        end: date,
        quantity: list[str] | None,
    ) -> BillingReport:
        if (not meter) == (transformer is None):
            raise InvalidField(("query", "meter"), "give either meter (repeatable) or transformer")
        if end < start:
            raise InvalidField(("query", "end"), f"end {end} is before start {start}")
        if end - start > MAX_PERIOD:
            raise InvalidField(("query", "end"), f"at most {MAX_PERIOD.days} days per request")
        if transformer is not None and transformer not in engine.config.transformers:
            raise InvalidField(("query", "transformer"), f"unknown transformer {transformer!r}")
        for meter_id in meter or ():
            engine.registry.get(meter_id)  # 404 for a meter the fleet does not know
        store = ctx.require_store()
        if transformer is not None:
            meter = await meters_of_transformer(transformer)
        return await billing_report(
            store,
            start=start,
            end=end,
            meters=meter,
            quantities=tuple(quantity or DEFAULT_BILLING_QUANTITIES),
            tz=engine.tz,
        )

    def as_csv(report: BillingReport) -> Response:
        out = io.StringIO()
        write_csv(report, out)
        filename = f"billing-{report.start}-{report.end}.csv"
        return Response(
            out.getvalue(),
            media_type=CSV_MEDIA_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @router.get(
        "/billing",
        response_model=BillingOut,
        responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV (format=csv)"}},
    )
    async def billing(
        start: PeriodStart,
        end: PeriodEnd,
        meter: MeterQuery = None,
        transformer: TransformerQuery = None,
        quantity: QuantityQuery = None,
        format: Literal["json", "csv"] = "json",
    ) -> BillingOut | Response:
        report = await report_for(meter, transformer, start, end, quantity)
        return as_csv(report) if format == "csv" else billing_body(report)

    csv_content: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {}}}}

    @router.get("/billing.csv", response_class=Response, responses=csv_content)
    async def billing_csv(
        start: PeriodStart,
        end: PeriodEnd,
        meter: MeterQuery = None,
        transformer: TransformerQuery = None,
        quantity: QuantityQuery = None,
    ) -> Response:
        return as_csv(await report_for(meter, transformer, start, end, quantity))

    return router
